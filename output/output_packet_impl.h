/* -o IFACE (output_packet.c and output_packet_runs.c): the sink's state and the runs of data
 * frames that the kernel cuts (see the top of output_packet.c). Private to output/. */
#ifndef SSLC_OUTPUT_PACKET_IMPL_H
#define SSLC_OUTPUT_PACKET_IMPL_H

#include "output_impl.h"

#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define BATCH_FRAMES 64
/* pieces of one message (headers in the slot, payloads where they lie), virtio-net header apart */
#define MAX_PIECES 16
/* Ethernet, 802.1Q and the largest IPv6 packet without jumbograms */
#define SLOT_BYTES (14 + 4 + 40 + 65535)
/* ENOBUFS means the device queue is full for a moment: retry briefly before dropping. */
#define ENOBUFS_RETRIES 50
#define RECHECK_NS	1000000000ULL

#define TH_PSH 0x08
#define TH_ACK 0x10
/* Ethernet + 802.1Q + IPv6 + TCP without options: the longest header a run can have */
#define HDR_MAX (14 + 4 + 40 + 20)

/* The data frames gathered in the slot being filled (slot p->n). */
struct run {
	bool open;
	bool v6;
	uint8_t l3, l4;	   /* offsets of the IP and TCP headers */
	uint8_t flags;	   /* TCP flags of the last frame */
	uint16_t gso_size; /* payload of every frame but the last */
	uint16_t last;	   /* payload of the last frame */
	uint16_t next_id;  /* IPv4 id the next frame must have */
	uint32_t next_seq; /* sequence number the next frame must have */
	uint32_t frames;
	uint8_t key[HDR_MAX]; /* the first frame's headers without the per-frame fields */
};

/* A TCP data frame a run can take. */
struct seg {
	bool v6;
	uint8_t l3, l4;
	uint8_t flags;
	uint16_t id;
	uint32_t seq;
	size_t payload;
};

struct packet_output {
	struct output base;
	int fd;
	char ifname[IF_NAMESIZE];
	bool gone;	   /* the interface was removed: nothing is sent until it is back */
	bool vnet;	   /* PACKET_VNET_HDR is on: every send starts with a virtio_net_hdr */
	bool cut;	   /* the interface leaves segmentation and checksums to the kernel */
	bool csum_partial; /* TCP checksums come partial (output_packet_complete_csum) */
	unsigned mtu;	   /* the interface's MTU, at most mtu_cap; 0: unknown, nothing is cut */
	unsigned mtu_cap;  /* output_packet_set_mtu(), 0 for none */
	uint64_t recheck_ns;
	bool hold;  /* output_packet_hold_payloads(): payloads are not copied */
	unsigned n; /* slots ready to send */
	struct run run;
	struct mmsghdr msgs[BATCH_FRAMES];
	/* message i: [0] the virtio-net header, [1 .. npieces[i]] its bytes: copies into slot i
	 * (its first piece, starting at the slot, always holds the headers) and held payloads */
	struct iovec iov[BATCH_FRAMES][1 + MAX_PIECES];
	uint8_t npieces[BATCH_FRAMES];
	uint32_t len[BATCH_FRAMES];  /* bytes of message i */
	uint32_t used[BATCH_FRAMES]; /* bytes of slot i in use */
	bool csum_due[BATCH_FRAMES]; /* complete_csum() before sending (held payloads final) */
	struct virtio_net_hdr vh[BATCH_FRAMES];
	uint32_t frames[BATCH_FRAMES]; /* frames sent in each slot */
	uint32_t bytes[BATCH_FRAMES];  /* their bytes, as the frames were given */
	uint8_t *slots;		       /* BATCH_FRAMES * SLOT_BYTES */
	uint8_t *big;		       /* SLOT_BYTES: an oversized frame given in two parts */
};

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Ones' complement sum of big-endian 16-bit words (len even), folded to 16 bits. */
static inline uint16_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i < len; i += 2)
		sum += get16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* output_packet_runs.c: parsing frames, gathering runs into slots, completing checksums */
bool runs_tcp_offsets(const uint8_t *f, size_t flen, size_t *l3p, size_t *l4p, size_t *tcp_len);
bool runs_parse_seg(const uint8_t *f, size_t hlen, size_t len, struct seg *s);
bool runs_headers_in(const uint8_t *f, size_t hlen);
void runs_key(const uint8_t *f, const struct seg *s, uint8_t *key);
uint8_t *runs_slot_at(struct packet_output *p, unsigned i);
void runs_slot_reset(struct packet_output *p, unsigned i);
void runs_slot_append(struct packet_output *p, unsigned i, const uint8_t *src, size_t n, bool copy);
bool runs_takes(struct packet_output *p, const uint8_t *f, const struct seg *s);
uint32_t runs_sum_pieces(const struct iovec *v, unsigned k, size_t from, size_t n);
void runs_complete_csum(struct packet_output *p, unsigned i);
void runs_close_slot(struct packet_output *p);

#endif
