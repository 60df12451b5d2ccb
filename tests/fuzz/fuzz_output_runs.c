/* libFuzzer harness for the runs of -o (output/output_packet.c and output_packet_runs.c, included
 * directly). The collector injects frames that agents sent over the network, and the sink parses
 * each one to decide whether it joins a run that the kernel will cut (GSO). Input: the first byte's
 * low 6 bits say how often the batch is flushed and its top 2 the interface's MTU (none, 576, 1500,
 * 9000), then frames, each a 2-byte big-endian length and its bytes. A frame larger than the
 * MTU must leave as forge_cut_segment()'s pieces (sent by themselves, or as one frame the
 * model of the kernel cuts), or be refused when forge_cut_init() refuses it.
 * sendmmsg() is replaced by a model of the kernel's TCP segmentation (sequence numbers, IPv4
 * ids and lengths per segment, PSH and FIN on the last one only), and what leaves must be the
 * frames that went in, in order, byte for byte except the checksums of the frames of a run
 * (the kernel computes those). Every other frame is written in two parts
 * (output_packet_write_parts, as the agent's forge hands them over), split where its first byte
 * says. Each input runs twice: payloads copied, and held (output_packet_hold_payloads: sent
 * from where they lie, so the harness hands each in a buffer of its own that it frees right
 * after the next flush; ASan catches a piece sent from a freed buffer). */
#define sendmmsg fuzz_sendmmsg
#include "../../output/output_packet.c"
#include "../../output/output_packet_runs.c"

#include <stdlib.h>

#define MAX_FRAMES 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
	const uint8_t *frame;
	size_t len;
} want[MAX_FRAMES];
static size_t n_want, next_want;
/* the pieces of oversized frames that want[] points into */
static uint8_t pieces[4 << 20];
static size_t pieces_used;

/* Expects frame f[0..len) as the sink must send it at mtu (0: any size). Returns 0, or
 * -EMSGSIZE when it must be refused (nothing expected). */
static int want_frame(const uint8_t *f, size_t len, unsigned mtu)
{
	struct forge_cut c;
	size_t l2;
	int n;

	if (len < 14 || len > SLOT_BYTES)
		return -EMSGSIZE;
	l2 = get16(f + 12) == 0x8100 || get16(f + 12) == 0x88a8 ? 18 : 14;
	if (!mtu || len <= mtu + l2 || n_want >= MAX_FRAMES) {
		if (mtu && len > mtu + l2)
			abort(); /* no room to expect it: the caller stops before */
		want[n_want].frame = f;
		want[n_want++].len = len;
		return 0;
	}
	n = forge_cut_init(&c, f, len, mtu);
	if (n < 0)
		return -EMSGSIZE;
	if (n_want + (size_t)n > MAX_FRAMES ||
	    pieces_used + (size_t)n * (c.hdr_len + c.mss) > sizeof(pieces))
		abort();
	for (int k = 0; k < n; k++) {
		size_t l = forge_cut_segment(&c, (unsigned)k, pieces + pieces_used);

		if (l < c.hdr_len || l > l2 + mtu)
			abort();
		want[n_want].frame = pieces + pieces_used;
		want[n_want++].len = l;
		pieces_used += l;
	}
	return 0;
}

/* The next frame written must be f[0..len); in a run, the checksums are not compared. */
static void expect(const uint8_t *f, size_t len, bool cut)
{
	struct seg s;
	uint8_t a[SLOT_BYTES], b[SLOT_BYTES];

	if (next_want >= n_want || want[next_want].len != len)
		abort();
	memcpy(a, want[next_want].frame, len);
	memcpy(b, f, len);
	next_want++;
	if (cut) {
		if (!runs_parse_seg(a, len, len, &s)) /* only data frames join runs */
			abort();
		if (!s.v6)
			memset(a + s.l3 + 10, 0, 2), memset(b + s.l3 + 10, 0, 2);
		memset(a + s.l4 + 16, 0, 2);
		memset(b + s.l4 + 16, 0, 2);
	}
	if (memcmp(a, b, len) != 0)
		abort();
}

/* What the kernel does with one frame and its virtio-net header. */
static void segment(const struct virtio_net_hdr *vh, const uint8_t *f, size_t len)
{
	static uint8_t seg[SLOT_BYTES];
	size_t h = vh->hdr_len, g = vh->gso_size, l4 = vh->csum_start, l3, n;
	bool v6 = vh->gso_type == VIRTIO_NET_HDR_GSO_TCPV6;
	uint32_t seq0;
	uint16_t id0;

	if (vh->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		if (vh->flags || vh->gso_size)
			abort();
		expect(f, len, false);
		return;
	}
	if (vh->gso_type != VIRTIO_NET_HDR_GSO_TCPV4 && !v6)
		abort();
	l3 = l4 - (v6 ? 40 : 20);
	if (vh->flags != VIRTIO_NET_HDR_F_NEEDS_CSUM || vh->csum_offset != 16 || h != l4 + 20 ||
	    g == 0 || len <= h + g)
		abort(); /* a run holds at least two frames */
	seq0 = get32(f + l4 + 4);
	id0 = get16(f + l3 + 4);
	n = (len - h + g - 1) / g;
	for (size_t k = 0; k < n; k++) {
		size_t pl = k + 1 < n ? g : len - h - k * g;

		memcpy(seg, f, h);
		memcpy(seg + h, f + h + k * g, pl);
		if (v6) {
			put16(seg + l3 + 4, (uint16_t)(20 + pl));
		} else {
			put16(seg + l3 + 2, (uint16_t)(40 + pl));
			put16(seg + l3 + 4, (uint16_t)(id0 + k));
		}
		uint32_t seq = seq0 + (uint32_t)(k * g);

		seg[l4 + 4] = (uint8_t)(seq >> 24);
		seg[l4 + 5] = (uint8_t)(seq >> 16);
		seg[l4 + 6] = (uint8_t)(seq >> 8);
		seg[l4 + 7] = (uint8_t)seq;
		if (k + 1 < n)
			seg[l4 + 13] &= (uint8_t) ~(TH_PSH | 0x01);
		expect(seg, h + pl, true);
	}
}

int fuzz_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags)
{
	static uint8_t whole[SLOT_BYTES];

	(void)fd;
	(void)flags;
	for (unsigned i = 0; i < n; i++) {
		const struct msghdr *m = &msgs[i].msg_hdr;
		size_t len = 0;

		if (m->msg_iovlen < 2 || m->msg_iovlen > 1 + MAX_PIECES ||
		    m->msg_iov[0].iov_len != sizeof(struct virtio_net_hdr))
			abort();
		/* the kernel gathers the pieces (copy_from_iter) */
		for (size_t k = 1; k < m->msg_iovlen; k++) {
			if (!m->msg_iov[k].iov_len || len + m->msg_iov[k].iov_len > sizeof(whole))
				abort();
			memcpy(whole + len, m->msg_iov[k].iov_base, m->msg_iov[k].iov_len);
			len += m->msg_iov[k].iov_len;
		}
		segment(m->msg_iov[0].iov_base, whole, len);
	}
	return (int)n;
}

/* Held payloads: each in a buffer of its own until the next packet_flush(). */
static uint8_t *held[MAX_FRAMES];
static size_t n_held;

static void release_held(void)
{
	for (size_t i = 0; i < n_held; i++)
		free(held[i]);
	n_held = 0;
}

static void run(const uint8_t *data, size_t size, bool hold);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, false);
	run(data, size, true);
	return 0;
}

static void run(const uint8_t *data, size_t size, bool hold)
{
	static struct packet_output *p;
	static const unsigned mtus[4] = {0, 576, 1500, 9000};
	size_t off = 1, every, written = 0;
	unsigned mtu;

	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p || !(p->slots = malloc((size_t)BATCH_FRAMES * SLOT_BYTES)))
			abort();
		p->fd = -1;
		p->vnet = true;
		p->base.ops = &packet_ops;
		packet_init_batch(p);
	}
	p->cut = true;
	p->hold = hold;
	p->recheck_ns = UINT64_MAX; /* no interface to ask */
	p->n = 0;
	p->run.open = false;
	memset(&p->base.stats, 0, sizeof(p->base.stats));
	n_want = next_want = pieces_used = 0;
	if (size < 1)
		return;
	every = data[0] & 0x3f; /* 0: flush only at the end */
	mtu = mtus[data[0] >> 6];
	p->mtu = mtu;
	/* room for the pieces of the largest frame at the smallest MTU */
	while (off + 2 <= size && n_want + 200 < MAX_FRAMES) {
		size_t len = get16(data + off);
		int ret, want_ret;

		off += 2;
		if (len > size - off)
			len = size - off;
		/* expected before the write: a full batch leaves inside it */
		want_ret = want_frame(data + off, len, mtu);
		if (written % 2 == 1 && len > 0) {
			size_t split = data[off] % 96u < len ? data[off] % 96u : len;
			const uint8_t *pay = data + off + split;

			if (hold && len > split) {
				uint8_t *b = malloc(len - split);

				if (!b)
					abort();
				memcpy(b, pay, len - split);
				held[n_held++] = b;
				pay = b;
			}
			ret = output_packet_write_parts(&p->base, data + off, split, pay,
							len - split);
		} else {
			ret = packet_write(&p->base, data + off, len, 0);
		}
		if (ret != want_ret)
			abort(); /* refused frames are counted as dropped, and expected nowhere */
		off += len;
		written++;
		if (every && written % every == 0) {
			if (packet_flush(&p->base) != 0)
				abort();
			release_held();
		}
	}
	if (packet_flush(&p->base) != 0 || next_want != n_want || p->base.stats.frames != n_want)
		abort();
	release_held();
}
