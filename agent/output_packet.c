/* -o IFACE: frames sent on an AF_PACKET socket bound to the interface. Protocol 0, so the
 * socket receives nothing; no PACKET_QDISC_BYPASS, so a sniffer on the same interface (the IDS)
 * still sees every frame. Frames are copied into a batch and sent with sendmmsg(); after
 * output_packet_hold_payloads(), the payloads given to output_packet_write_parts() are not
 * copied but sent from where they lie (the agent's ring buffer), each message a list of pieces.
 *
 * Runs cut by the kernel: when the interface computes neither checksums nor segmentation in
 * hardware (TX checksum offload off, which turns TSO off too: `ethtool -K IFACE tx off`), the
 * consecutive data frames of one TCP direction (same headers, sequence numbers and IPv4 ids
 * following on, equal payloads but the last, PSH only on the last) are sent as one frame with a
 * virtio-net header asking for segmentation (PACKET_VNET_HDR, GSO). The kernel cuts it in
 * software, before any sniffer or the peer sees it, into exactly the frames it was made of:
 * the same sequence numbers, IPv4 ids, flags and payloads, checksums computed. One send instead
 * of up to 44 costs several times less CPU. With offload on, the kernel would hand the big frame
 * on whole (a veth peer sees one 64 KiB frame) or leave its checksums to the hardware, so then
 * every frame is sent as it is. The interface's settings are read again every second.
 *
 * Frames larger than the interface's MTU (an agent's tunnel frames, forged for up to 64 KiB,
 * at the collector): a TCP segment is cut into segments that fit, by the kernel as a run of its
 * own when it cuts runs, with forge_cut_segment() otherwise. Anything else that large is
 * dropped and counted. */
#include "output.h"
#include "output_impl.h"

#include <sslcollector/forge.h>

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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
static uint16_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i < len; i += 2)
		sum += get16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static bool ethtool_flag(int fd, const char *ifname, uint32_t cmd, uint32_t *val)
{
	struct ethtool_value ev = {.cmd = cmd};
	struct ifreq ifr = {0};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (char *)&ev;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		return false;
	*val = ev.data;
	return true;
}

/* The MTU to cut frames at: the interface's, at most p->mtu_cap; 0 when unknown. */
static unsigned read_mtu(const struct packet_output *p)
{
	struct ifreq ifr = {0};
	unsigned mtu;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", p->ifname);
	if (ioctl(p->fd, SIOCGIFMTU, &ifr) < 0 || ifr.ifr_mtu < 68)
		return 0;
	mtu = (unsigned)ifr.ifr_mtu;
	return p->mtu_cap && p->mtu_cap < mtu ? p->mtu_cap : mtu;
}

/* True when the kernel segments and checksums what is sent on ifname in software: TX checksum
 * offload and TCP segmentation offload both off. Unknown (no ethtool support) counts as no. */
static bool kernel_cuts(int fd, const char *ifname)
{
	uint32_t csum, tso;

	return ethtool_flag(fd, ifname, ETHTOOL_GTXCSUM, &csum) && !csum &&
	       ethtool_flag(fd, ifname, ETHTOOL_GTSO, &tso) && !tso;
}

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Where the IP and TCP headers of a TCP frame over Ethernet [802.1Q] IPv4/IPv6 start, and the
 * TCP length its IP header gives, read from its first flen bytes (which hold the IP header);
 * false for anything else. */
static bool tcp_offsets(const uint8_t *f, size_t flen, size_t *l3p, size_t *l4p, size_t *tcp_len)
{
	size_t l3 = 14, l4;
	uint16_t type;
	const uint8_t *ip;

	if (flen < 14)
		return false;
	type = get16(f + 12);
	if (type == ETHERTYPE_VLAN) {
		if (flen < 18)
			return false;
		type = get16(f + 16);
		l3 = 18;
	}
	ip = f + l3;
	if (type == ETHERTYPE_IP) {
		if (flen < l3 + 20 || ip[0] >> 4 != 4 || ip[9] != IPPROTO_TCP)
			return false;
		l4 = l3 + (size_t)(ip[0] & 0xf) * 4;
		if (l4 < l3 + 20 || get16(ip + 2) < l4 - l3)
			return false;
		*tcp_len = get16(ip + 2) - (l4 - l3);
	} else if (type == ETHERTYPE_IPV6) {
		if (flen < l3 + 40 || ip[0] >> 4 != 6 || ip[6] != IPPROTO_TCP)
			return false;
		l4 = l3 + 40;
		*tcp_len = get16(ip + 4);
	} else {
		return false;
	}
	*l3p = l3;
	*l4p = l4;
	return true;
}

/* Ethernet [802.1Q] IPv4 (no options, not a fragment) or IPv6 (no extension headers), TCP
 * without options, flags ACK or ACK|PSH, some payload, lengths exactly the frame's (len bytes,
 * of which the first hlen are at f: the headers must be among them). */
static bool parse_seg(const uint8_t *f, size_t hlen, size_t len, struct seg *s)
{
	size_t l3, l4, tcp_len;
	const uint8_t *ip;

	if (!tcp_offsets(f, hlen, &l3, &l4, &tcp_len) || hlen < l4 + 20 || l4 + tcp_len != len)
		return false;
	ip = f + l3;
	s->v6 = ip[0] >> 4 == 6;
	if (!s->v6 && (ip[0] != 0x45 || (get16(ip + 6) & 0x3fff)))
		return false; /* options, or a fragment */
	s->id = s->v6 ? 0 : get16(ip + 4);
	s->flags = f[l4 + 13];
	if (f[l4 + 12] != 5 << 4 || (s->flags != TH_ACK && s->flags != (TH_ACK | TH_PSH)) ||
	    len == l4 + 20)
		return false;
	s->l3 = (uint8_t)l3;
	s->l4 = (uint8_t)l4;
	s->seq = get32(f + l4 + 4);
	s->payload = len - l4 - 20;
	return true;
}

/* Do the first hlen bytes of frame f hold all its headers, Ethernet [802.1Q] to the end of
 * TCP's (options included)? False for anything but TCP over IPv4/IPv6. */
static bool headers_in(const uint8_t *f, size_t hlen)
{
	size_t l3, l4, tcp_len;

	return tcp_offsets(f, hlen, &l3, &l4, &tcp_len) && hlen >= l4 + 20 &&
	       hlen >= l4 + (size_t)(f[l4 + 12] >> 4) * 4;
}

/* The headers of a frame with the fields that differ from frame to frame of a run cleared. */
static void run_key(const uint8_t *f, const struct seg *s, uint8_t *key)
{
	uint8_t *ip = key + s->l3, *tcp = key + s->l4;

	memcpy(key, f, (size_t)s->l4 + 20);
	if (s->v6) {
		memset(ip + 4, 0, 2); /* payload length */
	} else {
		memset(ip + 2, 0, 4);  /* total length, id */
		memset(ip + 10, 0, 2); /* header checksum */
	}
	memset(tcp + 4, 0, 4);	/* sequence number */
	tcp[13] = 0;		/* flags */
	memset(tcp + 16, 0, 2); /* checksum */
}

static uint8_t *slot_at(struct packet_output *p, unsigned i)
{
	return p->slots + (size_t)i * SLOT_BYTES;
}

static void slot_reset(struct packet_output *p, unsigned i)
{
	p->npieces[i] = 0;
	p->len[i] = 0;
	p->used[i] = 0;
	p->csum_due[i] = false;
}

/* Appends src[0..n) to message i: copied into its slot (copy), or referred to where it lies.
 * The caller has checked that the slot and the pieces have room. */
static void slot_append(struct packet_output *p, unsigned i, const uint8_t *src, size_t n,
			bool copy)
{
	struct iovec *last = p->npieces[i] ? &p->iov[i][p->npieces[i]] : NULL;
	const uint8_t *at = src;

	if (!n)
		return;
	if (copy) {
		at = slot_at(p, i) + p->used[i];
		memcpy((uint8_t *)at, src, n);
		p->used[i] += (uint32_t)n;
	}
	if (last && (const uint8_t *)last->iov_base + last->iov_len == at) {
		last->iov_len += n;
	} else {
		last = &p->iov[i][++p->npieces[i]];
		last->iov_base = (void *)(uintptr_t)at;
		last->iov_len = n;
	}
	p->len[i] += (uint32_t)n;
	p->msgs[i].msg_hdr.msg_iovlen = p->npieces[i] + (p->vnet ? 1 : 0);
}

/* Can the open run take frame f (parsed as s) next? */
static bool run_takes(struct packet_output *p, const uint8_t *f, const struct seg *s)
{
	const struct run *r = &p->run;
	size_t len = p->len[p->n];
	uint8_t key[HDR_MAX];

	/* a frame adds at most two pieces: payload bytes among its headers, and its payload */
	if (!r->open || p->npieces[p->n] + 2 > MAX_PIECES || (r->flags & TH_PSH) ||
	    r->last != r->gso_size || s->v6 != r->v6 || s->l4 != r->l4 || s->seq != r->next_seq ||
	    (!s->v6 && s->id != r->next_id) || s->payload > r->gso_size ||
	    len + s->payload > SLOT_BYTES || len + s->payload - r->l3 - (r->v6 ? 40 : 0) > 65535)
		return false;
	run_key(f, s, key);
	return memcmp(key, r->key, (size_t)s->l4 + 20) == 0;
}

/* The ones' complement sum of bytes [from, from + n) of the pieces v[0..k), folded to 16
 * bits, in memory order. A piece that starts at an odd offset of the range has its sum's bytes
 * swapped (RFC 1071: the sum is byte-order independent, so shifting by one byte swaps it). */
static uint32_t sum_pieces(const struct iovec *v, unsigned k, size_t from, size_t n)
{
	uint32_t acc = 0;
	size_t pos = 0, done = 0;

	for (unsigned j = 0; j < k && done < n; pos += v[j].iov_len, j++) {
		size_t at, len; /* the bytes of piece j in the range: [at, at + len) */
		uint32_t s;

		if (pos + v[j].iov_len <= from)
			continue;
		at = from > pos ? from - pos : 0;
		len = v[j].iov_len - at < n - done ? v[j].iov_len - at : n - done;
		s = forge_csum_partial((const uint8_t *)v[j].iov_base + at, len, 0);
		s = (s & 0xffff) + (s >> 16);
		s = (s & 0xffff) + (s >> 16);
		if (done & 1)
			s = (s >> 8 | s << 8) & 0xffff;
		acc += s;
		done += len;
	}
	return acc;
}

/* Message i, a frame sent by itself whose TCP checksum field holds the pseudo-header's sum
 * only (forge_config.tcp_csum_partial): sums the TCP header and payload into it. Frames that
 * are not TCP over Ethernet [802.1Q] IPv4/IPv6, or whose headers are not all in the first
 * piece, are left as they are. */
static void complete_csum(struct packet_output *p, unsigned i)
{
	uint8_t *f = slot_at(p, i);
	size_t l3, l4, tcp_len, len = p->len[i], flen;
	uint16_t csum;

	if (!p->npieces[i])
		return;
	flen = p->iov[i][1].iov_len;
	if (!tcp_offsets(f, flen, &l3, &l4, &tcp_len) || tcp_len < 20 || l4 + tcp_len > len ||
	    l4 + 18 > flen)
		return;
	csum = forge_csum_fold(sum_pieces(&p->iov[i][1], p->npieces[i], l4, tcp_len));
	memcpy(f + l4 + 16, &csum, 2);
}

/* Slot p->n is complete: a run of several frames gets its headers and virtio-net header. */
static void close_slot(struct packet_output *p)
{
	struct run *r = &p->run;
	struct virtio_net_hdr *vh = &p->vh[p->n];
	uint8_t *f = slot_at(p, p->n), *ip, *tcp;
	size_t len = p->len[p->n];
	uint16_t tcp_len;
	uint32_t sum;

	memset(vh, 0, sizeof(*vh));
	if (r->open && r->frames > 1) {
		ip = f + r->l3;
		tcp = f + r->l4;
		tcp_len = (uint16_t)(len - r->l4);
		if (r->v6) {
			put16(ip + 4, tcp_len);
			sum = sum16(ip + 8, 32, 0);
		} else {
			put16(ip + 2, (uint16_t)(len - r->l3));
			memset(ip + 10, 0, 2);
			put16(ip + 10, (uint16_t)~sum16(ip, 20, 0));
			sum = sum16(ip + 12, 8, 0);
		}
		tcp[13] = r->flags;
		/* CHECKSUM_PARTIAL: the pseudo-header's sum, not complemented */
		put16(tcp + 16, sum16(NULL, 0, sum + IPPROTO_TCP + tcp_len));
		vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh->gso_type = r->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
		vh->hdr_len = (uint16_t)(r->l4 + 20);
		vh->gso_size = r->gso_size;
		vh->csum_start = r->l4;
		vh->csum_offset = 16;
	} else {
		/* at the flush, when held payloads are final (and then cached for the send) */
		p->csum_due[p->n] = p->csum_partial;
	}
	r->open = false;
	p->n++;
}

static int bind_iface(int fd, unsigned ifindex)
{
	struct sockaddr_ll sll = {0};

	sll.sll_family = AF_PACKET;
	sll.sll_protocol = 0;
	sll.sll_ifindex = (int)ifindex;
	return bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ? -errno : 0;
}

/* The interface was removed (the kernel unbinds the socket then): once one of that name exists
 * again, the socket is bound to it. */
static void rebind(struct packet_output *p)
{
	unsigned idx = if_nametoindex(p->ifname);
	int err;

	if (!idx) {
		snprintf(p->base.last_error, sizeof(p->base.last_error),
			 "interface %s does not exist any more; sending again once it does",
			 p->ifname);
		return;
	}
	if ((err = bind_iface(p->fd, idx)) < 0) {
		snprintf(p->base.last_error, sizeof(p->base.last_error),
			 "interface %s is back, but binding to it failed: %s", p->ifname,
			 strerror(-err));
		return;
	}
	p->gone = false;
	p->base.failing = false;
	p->base.last_error[0] = '\0';
}

static int packet_flush(struct output *base)
{
	struct packet_output *p = (struct packet_output *)base;
	unsigned done = 0, retries = 0;
	uint64_t now;
	int err = 0;

	if (p->run.open)
		close_slot(p);
	for (unsigned i = 0; i < p->n; i++)
		if (p->csum_due[i])
			complete_csum(p, i);
	while (done < p->n) {
		int r;

		if (p->gone) { /* no system call per batch while there is nothing to send on */
			for (; done < p->n; done++)
				p->base.stats.dropped += p->frames[done];
			err = -ENODEV;
			break;
		}
		r = sendmmsg(p->fd, p->msgs + done, p->n - done, 0);
		if (r > 0) {
			for (unsigned i = done; i < done + (unsigned)r; i++) {
				p->base.stats.frames += p->frames[i];
				p->base.stats.bytes += p->bytes[i];
				if (p->frames[i] > 1)
					p->base.stats.cut_frames += p->frames[i];
			}
			done += (unsigned)r;
			retries = 0;
			p->base.failing = false;
			continue;
		}
		if (errno == EINTR)
			continue;
		if ((errno == ENOBUFS || errno == EAGAIN) && retries++ < ENOBUFS_RETRIES) {
			struct timespec ts = {0, 20000};

			nanosleep(&ts, NULL);
			continue;
		}
		/* this send is refused (too big for the MTU, interface down, ...): drop it */
		err = -errno;
		p->base.stats.errors++;
		p->base.stats.dropped += p->frames[done];
		p->base.failing = true;
		if (errno == ENXIO || errno == ENODEV) {
			/* unbound: the interface was removed */
			p->gone = true;
			snprintf(p->base.last_error, sizeof(p->base.last_error),
				 "interface %s is gone; sending again once it is back", p->ifname);
		} else {
			snprintf(p->base.last_error, sizeof(p->base.last_error), "send on %s: %s",
				 p->ifname, strerror(errno));
		}
		done++;
		retries = 0;
	}
	p->n = 0;
	now = coarse_ns();
	if (now >= p->recheck_ns) {
		if (p->gone)
			rebind(p);
		p->cut = p->vnet && kernel_cuts(p->fd, p->ifname);
		p->mtu = read_mtu(p);
		p->recheck_ns = now + RECHECK_NS;
	}
	return err;
}

/* A frame larger than the MTU (hdr[0..hlen) then pay[0..plen)): a TCP segment is queued as a
 * run of its own that the kernel cuts, or cut here into one slot per segment. */
static int write_oversize(struct packet_output *p, const uint8_t *hdr, size_t hlen,
			  const uint8_t *pay, size_t plen)
{
	struct run *r = &p->run;
	const uint8_t *src = hdr;
	size_t len = hlen + plen;
	struct forge_cut c;
	struct seg s;
	int n, err = 0, e;

	if (plen) {
		if (!p->big && !(p->big = malloc(SLOT_BYTES))) {
			p->base.stats.dropped++;
			return -ENOMEM;
		}
		memcpy(p->big, hdr, hlen);
		memcpy(p->big + hlen, pay, plen);
		src = p->big;
	}
	n = forge_cut_init(&c, src, len, p->mtu);
	if (n < 0) {
		p->base.stats.dropped++;
		snprintf(
		    p->base.last_error, sizeof(p->base.last_error),
		    "frame of %zu bytes larger than the MTU %u of %s and not a TCP segment that "
		    "can be cut (%s): dropped",
		    len, p->mtu, p->ifname, strerror(-n));
		return -EMSGSIZE;
	}
	if (r->open) {
		close_slot(p);
		if (p->n == BATCH_FRAMES)
			err = packet_flush(&p->base);
	}
	if (p->cut && parse_seg(src, len, len, &s) && c.hdr_len == (size_t)s.l4 + 20) {
		slot_reset(p, p->n);
		slot_append(p, p->n, src, len, true);
		p->frames[p->n] = c.count;
		p->bytes[p->n] = (uint32_t)(c.count * c.hdr_len + c.payload);
		r->open = true;
		r->v6 = s.v6;
		r->l3 = s.l3;
		r->l4 = s.l4;
		r->flags = s.flags;
		r->gso_size = (uint16_t)c.mss;
		r->frames = c.count;
		close_slot(p);
	} else {
		for (unsigned i = 0; i < c.count; i++) {
			size_t l;

			if (p->n == BATCH_FRAMES && (e = packet_flush(&p->base)) != 0)
				err = e;
			l = forge_cut_segment(&c, i, slot_at(p, p->n));
			memset(&p->vh[p->n], 0, sizeof(p->vh[p->n]));
			slot_reset(p, p->n);
			p->used[p->n] = (uint32_t)l;
			slot_append(p, p->n, slot_at(p, p->n), l, false);
			p->frames[p->n] = 1;
			p->bytes[p->n] = (uint32_t)l;
			p->n++;
		}
	}
	if (p->n == BATCH_FRAMES && (e = packet_flush(&p->base)) != 0)
		err = e;
	return err;
}

/* The frame hdr[0..hlen) followed by pay[0..plen): queued whole, or its payload appended to
 * the open run. */
static int write_parts(struct packet_output *p, const uint8_t *hdr, size_t hlen, const uint8_t *pay,
		       size_t plen)
{
	struct run *r = &p->run;
	const uint8_t *frame = hdr;
	size_t len = hlen + plen;
	struct seg s;
	bool data;
	int err = 0, e;

	if (len > SLOT_BYTES || len < 14) {
		p->base.stats.dropped++;
		return -EMSGSIZE;
	}
	if (p->mtu && len > (size_t)p->mtu + 14) {
		uint8_t t[2] = {12 < hlen ? hdr[12] : pay[12 - hlen],
				13 < hlen ? hdr[13] : pay[13 - hlen]};
		uint16_t type = get16(t);

		if (len > (size_t)p->mtu + (type == 0x8100 || type == 0x88a8 ? 18 : 14))
			return write_oversize(p, hdr, hlen, pay, plen);
	}
	data = p->cut && parse_seg(frame, hlen, len, &s);
	if (data && run_takes(p, frame, &s)) {
		slot_append(p, p->n, frame + s.l4 + 20, hlen - s.l4 - 20, true);
		slot_append(p, p->n, pay, plen, !p->hold);
		p->frames[p->n]++;
		p->bytes[p->n] += (uint32_t)len;
		r->frames++;
		r->flags = s.flags;
		r->last = (uint16_t)s.payload;
		r->next_seq += (uint32_t)s.payload;
		r->next_id++;
		return 0;
	}
	if (r->open) {
		close_slot(p);
		/* a refused send is counted there; this frame is queued all the same */
		if (p->n == BATCH_FRAMES)
			err = packet_flush(&p->base);
	}
	slot_reset(p, p->n);
	slot_append(p, p->n, frame, hlen, true);
	/* held only after the whole headers: the checksum is written into the slot */
	slot_append(p, p->n, pay, plen, !p->hold || !(data || headers_in(frame, hlen)));
	p->frames[p->n] = 1;
	p->bytes[p->n] = (uint32_t)len;
	if (data && !(s.flags & TH_PSH)) {
		r->open = true;
		r->v6 = s.v6;
		r->l3 = s.l3;
		r->l4 = s.l4;
		r->flags = s.flags;
		r->gso_size = r->last = (uint16_t)s.payload;
		r->next_seq = s.seq + (uint32_t)s.payload;
		r->next_id = (uint16_t)(s.id + 1);
		r->frames = 1;
		run_key(frame, &s, r->key);
		return err;
	}
	close_slot(p);
	if (p->n == BATCH_FRAMES && (e = packet_flush(&p->base)) != 0)
		err = e;
	return err;
}

static int packet_write(struct output *base, const uint8_t *frame, size_t len, uint64_t ts_ns)
{
	(void)ts_ns;
	return write_parts((struct packet_output *)base, frame, len, NULL, 0);
}

/* Points each message at its slot, after the virtio-net header when there is one. */
static void packet_init_batch(struct packet_output *p)
{
	for (unsigned i = 0; i < BATCH_FRAMES; i++) {
		p->iov[i][0].iov_base = &p->vh[i];
		p->iov[i][0].iov_len = sizeof(p->vh[i]);
		p->msgs[i].msg_hdr.msg_iov = p->vnet ? p->iov[i] : &p->iov[i][1];
		slot_reset(p, i);
	}
}

static void packet_close(struct output *base)
{
	struct packet_output *p = (struct packet_output *)base;

	packet_flush(base);
	close(p->fd);
	free(p->slots);
	free(p->big);
	free(p);
}

static const struct output_ops packet_ops = {
    .write = packet_write,
    .flush = packet_flush,
    .close = packet_close,
};

int output_packet_open(const char *ifname, struct output **out, char *err, size_t err_len)
{
	struct packet_output *p;
	unsigned ifindex;
	int ret, one = 1;

	*out = NULL;
	ifindex = strlen(ifname) < IF_NAMESIZE ? if_nametoindex(ifname) : 0;
	if (!ifindex) {
		snprintf(err, err_len, "-o %s: no such interface", ifname);
		return -ENODEV;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->slots = malloc((size_t)BATCH_FRAMES * SLOT_BYTES);
	if (!p->slots) {
		free(p);
		return -ENOMEM;
	}
	snprintf(p->ifname, sizeof(p->ifname), "%s", ifname);
	p->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "-o %s: cannot open a packet socket: %s%s", ifname,
			 strerror(errno), errno == EPERM ? " (needs root or CAP_NET_RAW)" : "");
		goto fail;
	}
	/* without it (very old kernels) every frame is sent as it is */
	p->vnet = setsockopt(p->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) == 0;
	if ((ret = bind_iface(p->fd, ifindex)) < 0) {
		snprintf(err, err_len, "-o %s: cannot bind: %s", ifname, strerror(-ret));
		goto fail;
	}
	packet_init_batch(p);
	p->cut = p->vnet && kernel_cuts(p->fd, ifname);
	p->mtu = read_mtu(p);
	p->recheck_ns = coarse_ns() + RECHECK_NS;
	p->base.ops = &packet_ops;
	snprintf(p->base.name, sizeof(p->base.name), "-o %s", ifname);
	*out = &p->base;
	return 0;
fail:
	if (p->fd >= 0)
		close(p->fd);
	free(p->slots);
	free(p);
	return ret;
}

int output_packet_write_parts(struct output *o, const uint8_t *hdr, size_t hdr_len,
			      const uint8_t *payload, size_t payload_len)
{
	if (!o || o->ops != &packet_ops)
		return -EINVAL;
	return write_parts((struct packet_output *)o, hdr, hdr_len, payload, payload_len);
}

int output_packet_hold_payloads(struct output *o)
{
	if (!o || o->ops != &packet_ops)
		return -EINVAL;
	((struct packet_output *)o)->hold = true;
	return 0;
}

int output_packet_set_mtu(struct output *o, unsigned mtu)
{
	struct packet_output *p = (struct packet_output *)o;

	if (!o || o->ops != &packet_ops || (mtu && mtu < 68))
		return -EINVAL;
	p->mtu_cap = mtu;
	p->mtu = read_mtu(p);
	return 0;
}

unsigned output_packet_mtu(const struct output *o)
{
	if (!o || o->ops != &packet_ops)
		return 0;
	return ((const struct packet_output *)o)->mtu;
}

int output_packet_complete_csum(struct output *o)
{
	if (!o || o->ops != &packet_ops)
		return -EINVAL;
	((struct packet_output *)o)->csum_partial = true;
	return 0;
}

int output_packet_cuts(const struct output *o)
{
	if (!o || o->ops != &packet_ops)
		return -1;
	return ((const struct packet_output *)o)->cut;
}
