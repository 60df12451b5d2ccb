/* forge/forge_internal.h: what forge's own files share (and its tests and benchmark use): the
 * context, the TCP constants of the synthetic connections, the libnet frame builder and the
 * per-direction header template that is patched per frame. Not an installed interface. */
#ifndef SSLCOLLECTOR_FORGE_INTERNAL_H
#define SSLCOLLECTOR_FORGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sslcollector/forge.h"

struct libnet_context; /* libnet_t, from <libnet.h> */

#define FORGE_TH_FIN 0x01
#define FORGE_TH_SYN 0x02
#define FORGE_TH_RST 0x04
#define FORGE_TH_PSH 0x08
#define FORGE_TH_ACK 0x10
#define FORGE_TH_URG 0x20
#define FORGE_TH_CWR 0x80

#define FORGE_TTL   64
#define FORGE_IP_DF 0x4000
/* Every segment advertises 65535 << 14 (~1 GiB): no ACK forge sends, even one that jumps over
 * a gap or a big write, falls outside the window the IDS tracks. */
#define FORGE_WINDOW 65535
#define FORGE_WSCALE 14
/* Largest step of one ACK: half the scaled window, far below 2^31 (where sequence arithmetic
 * would read the ACK as one from the past). Larger gaps are acknowledged in several steps. */
#define FORGE_ACK_STEP ((uint64_t)1 << 29)
/* Gaps up to this size are acknowledged exactly (at most 2048 ACK frames). Beyond it, whole
 * multiples of 4 GiB are left out of the ACK steps: the sequence numbers on the wire are the
 * same modulo 2^32, but the IDS counts a smaller hole instead of receiving billions of ACKs. */
#define FORGE_GAP_EXACT_MAX ((uint64_t)1 << 40)

#define FORGE_ETH_LEN	   14
#define FORGE_VLAN_LEN	   4
#define FORGE_IP4_LEN	   20
#define FORGE_IP6_LEN	   40
#define FORGE_TCP_LEN	   20
#define FORGE_TMPL_MAX	   (FORGE_ETH_LEN + FORGE_VLAN_LEN + FORGE_IP6_LEN + FORGE_TCP_LEN)
#define FORGE_SYN_OPTS_LEN 8 /* MSS (4), NOP, window scale (3) */

struct forge {
	unsigned mtu;
	int vlan; /* 0: untagged */
	enum forge_acks acks;
	bool csum_partial; /* forge_config.tcp_csum_partial */
	forge_emit_fn emit;
	forge_emit_parts_fn emit_parts; /* forge_config.emit_parts */
	void *emit_ctx;
	struct libnet_context *ln; /* build-only (LIBNET_NONE) context for the templates */
	struct forge_stats stats;
	char err[256];
	uint8_t frame[FORGE_MAX_FRAME]; /* scratch: the frame being emitted */
};

/* Hands the frame to the emit callback and counts it: f->frame[0..len) whole, or to emit_parts
 * its headers f->frame[0..len - payload_len) and the payload at `payload`. */
int forge_emit_frame(struct forge *f, size_t len, const uint8_t *payload, size_t payload_len,
		     uint64_t ts_ns);
/* Records a last-error message (see forge_last_error()); returns err. */
int forge_set_error(struct forge *f, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The fields that are fixed for all frames one side of a flow sends. */
struct forge_hdr_desc {
	int family; /* AF_INET or AF_INET6 */
	int vlan;   /* 1..4094, or 0 for untagged */
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	uint8_t src_addr[16];
	uint8_t dst_addr[16];
	uint16_t src_port;
	uint16_t dst_port;
};

void forge_hdr_desc_init(struct forge_hdr_desc *d, const struct forge_tuple *t, bool from_client,
			 int vlan);

/* The fields that change from frame to frame. */
struct forge_seg {
	uint32_t seq;
	uint32_t ack;
	uint16_t ip_id; /* IPv4 only */
	uint8_t flags;
	uint8_t opts_len; /* multiple of 4, at most 40 */
	const uint8_t *opts;
	const uint8_t *payload;
	size_t len;
};

/* Builds a whole frame with libnet (headers, options, payload, checksums) into buf. Used for
 * the templates, and by the tests and the benchmark as the reference. 0 or negative errno;
 * libnet's message goes to err. */
int forge_libnet_frame(struct libnet_context *ln, const struct forge_hdr_desc *d,
		       const struct forge_seg *s, uint8_t *buf, size_t cap, size_t *len, char *err,
		       size_t err_len);

/* One side's frame headers as libnet built them, ready to be copied and patched. */
struct forge_tmpl {
	uint8_t hdr[FORGE_TMPL_MAX];
	uint8_t len;	/* Ethernet [+ 802.1Q] + IP + 20-byte TCP header */
	uint8_t l3_off; /* IP header */
	uint8_t l4_off; /* TCP header */
	bool ipv6;
	uint32_t pseudo_sum; /* pseudo-header addresses and protocol, folded below 2^16 */
};

int forge_tmpl_init(struct forge_tmpl *t, struct libnet_context *ln, const struct forge_hdr_desc *d,
		    char *err, size_t err_len);
/* Writes the frame for s into buf (FORGE_MAX_FRAME bytes) and returns its length. The caller
 * keeps the IP packet within FORGE_MAX_MTU. */
#define FORGE_TMPL_CSUM_PARTIAL 1u /* forge_config.tcp_csum_partial */
#define FORGE_TMPL_HDR_ONLY	2u /* the payload is not copied after the headers */
size_t forge_tmpl_frame(const struct forge_tmpl *t, const struct forge_seg *s, unsigned flags,
			uint8_t *buf);

#endif /* SSLCOLLECTOR_FORGE_INTERNAL_H */
