/* forge_cut_init() / forge_cut_segment() (forge/cut.c): frames forged for a 64 KiB MTU and
 * frames built by hand (IPv4 and TCP options, 802.1Q and 802.1ad tags, flags, padding) cut at
 * smaller MTUs. Every segment is read apart from cut.c: forge_check.c's parser and RFC 1071
 * checksum, the header bytes compared with the original's one by one, the payload pieces put
 * back together. Then every malformed or unsupported frame the collector may receive. Frames
 * and segments live in buffers of their exact size, so that ASan sees any access past them. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "forge_check.h"

#define TH_URG 0x20
#define TH_ECE 0x40
#define TH_CWR 0x80

#define N(a) (sizeof(a) / sizeof((a)[0]))

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* A heap copy of exactly len bytes. */
static uint8_t *dup_frame(const uint8_t *f, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	if (len)
		memcpy(p, f, len);
	return p;
}

/* The layout of a well-formed frame, read by the test itself. */
struct layout {
	size_t l3, l4, hdr_len, ip_hdr, ip_len, payload;
	uint16_t tpid; /* 0 when untagged */
	bool v6;
};

static void read_layout(const uint8_t *f, size_t len, struct layout *o)
{
	uint16_t type = be16(f + 12);

	memset(o, 0, sizeof(*o));
	o->l3 = 14;
	if (type == 0x8100 || type == 0x88a8) {
		o->tpid = type;
		o->l3 = 18;
	}
	o->v6 = be16(f + o->l3 - 2) == 0x86dd;
	if (o->v6) {
		o->ip_hdr = 40;
		o->ip_len = 40 + (size_t)be16(f + o->l3 + 4);
	} else {
		o->ip_hdr = (size_t)(f[o->l3] & 0x0f) * 4;
		o->ip_len = be16(f + o->l3 + 2);
	}
	o->l4 = o->l3 + o->ip_hdr;
	o->hdr_len = o->l4 + (size_t)(f[o->l4 + 12] >> 4) * 4;
	o->payload = o->ip_len - (o->hdr_len - o->l3);
	assert_true(o->l3 + o->ip_len <= len);
}

/* Both checksums of segment s verify: RFC 1071 over the data with its checksum field comes out
 * as 0. Works for any IPv4 header length (parse_frame() takes 20 bytes only). */
static void assert_checksums(const uint8_t *s, size_t len, const struct layout *o)
{
	const uint8_t *ip = s + o->l3;
	size_t tcp_len = len - o->l4;
	uint8_t pseudo[40];
	size_t plen;

	if (o->v6) {
		memcpy(pseudo, ip + 8, 32);
		put32(pseudo + 32, (uint32_t)tcp_len);
		memset(pseudo + 36, 0, 3);
		pseudo[39] = 6;
		plen = 40;
	} else {
		const uint8_t *parts[] = {ip};
		const size_t lens[] = {o->ip_hdr};

		assert_int_equal(ref_checksum(parts, lens, 1), 0);
		memcpy(pseudo, ip + 12, 8);
		pseudo[8] = 0;
		pseudo[9] = 6;
		put16(pseudo + 10, (uint16_t)tcp_len);
		plen = 12;
	}
	const uint8_t *parts[] = {pseudo, s + o->l4};
	const size_t lens[] = {plen, tcp_len};

	assert_int_equal(ref_checksum(parts, lens, 2), 0);
}

/* The header fields a cut may change (IP length, IPv4 id and checksum, sequence number, flags,
 * TCP checksum); every other header byte is the original's. */
static bool may_change(const struct layout *o, size_t k)
{
	if (k >= o->l4) {
		k -= o->l4;
		return (k >= 4 && k < 8) || k == 13 || k == 16 || k == 17;
	}
	if (k < o->l3)
		return false;
	k -= o->l3;
	if (o->v6)
		return k == 4 || k == 5;
	return k == 2 || k == 3 || k == 4 || k == 5 || k == 10 || k == 11;
}

/* Fails unless segment p (parsed) carries the original po's constant fields. */
static void assert_same_fields(const struct pframe *p, const struct pframe *po)
{
	assert_memory_equal(p->dst_mac, po->dst_mac, 6);
	assert_memory_equal(p->src_mac, po->src_mac, 6);
	assert_int_equal(p->tagged, po->tagged);
	assert_int_equal(p->tci, po->tci);
	assert_int_equal(p->family, po->family);
	assert_memory_equal(p->src, po->src, 16);
	assert_memory_equal(p->dst, po->dst, 16);
	assert_int_equal(p->tos, po->tos);
	assert_int_equal(p->frag, po->frag);
	assert_int_equal(p->ttl, po->ttl);
	assert_int_equal(p->ip6_flow, po->ip6_flow);
	assert_int_equal(p->sport, po->sport);
	assert_int_equal(p->dport, po->dport);
	assert_int_equal(p->ack, po->ack);
	assert_int_equal(p->doff, po->doff);
	assert_int_equal(p->win, po->win);
	assert_int_equal(p->urg, po->urg);
	assert_int_equal(p->has_mss, po->has_mss);
	assert_int_equal(p->has_wscale, po->has_wscale);
	assert_int_equal(p->other_opts, po->other_opts);
}

/* Cuts frame[0..len) at mtu and checks every segment; returns forge_cut_init()'s value (the
 * checks only when it is a count). */
static int check_cut(const uint8_t *frame, size_t len, unsigned mtu)
{
	uint8_t *f = dup_frame(frame, len), *seg, *joined;
	struct forge_cut c;
	struct layout o;
	struct pframe po, p;
	size_t mss, off = 0, seg_room;
	unsigned count;
	bool parsable;
	int n;

	n = forge_cut_init(&c, f, len, mtu);
	if (n < 0) {
		free(f);
		return n;
	}
	read_layout(f, len, &o);
	if (o.ip_len <= mtu) {
		mss = o.payload;
		count = 1;
	} else {
		mss = mtu - (o.hdr_len - o.l3);
		count = (unsigned)((o.payload + mss - 1) / mss);
	}
	assert_int_equal(n, count);
	assert_int_equal(c.count, count);
	assert_ptr_equal(c.frame, f);
	assert_int_equal(c.hdr_len, o.hdr_len);
	assert_int_equal(c.payload, o.payload);
	assert_int_equal(c.mss, mss);
	assert_int_equal(c.l3, o.l3);
	assert_int_equal(c.l4, o.l4);
	assert_int_equal(c.flags, f[o.l4 + 13]);
	assert_int_equal(c.v6, o.v6);

	/* parse_frame() knows 20-byte IPv4 headers, 802.1Q only and IP packets up to 65535 bytes;
	 * it sees the original without any bytes after its IP packet */
	parsable = o.tpid != 0x88a8 && (o.v6 || o.ip_hdr == 20) && o.ip_len <= 65535;
	if (parsable)
		assert_true(parse_frame(f, o.l3 + o.ip_len, &po));

	seg_room = o.hdr_len + mss;
	seg = malloc(seg_room);
	joined = malloc(o.payload ? o.payload : 1);
	assert_non_null(seg);
	assert_non_null(joined);
	for (unsigned i = 0; i < count; i++) {
		size_t piece = o.payload - off < mss ? o.payload - off : mss;
		uint8_t flags = f[o.l4 + 13];
		size_t l;

		memset(seg, 0xa5, seg_room);
		l = forge_cut_segment(&c, i, seg);
		assert_int_equal(l, o.hdr_len + piece);
		if (count > 1)
			assert_true(l - o.l3 <= mtu);
		for (size_t k = 0; k < o.hdr_len; k++) {
			if (!may_change(&o, k) && seg[k] != f[k])
				fail_msg("segment %u of %u: header byte %zu is %#x, not %#x", i,
					 count, k, seg[k], f[k]);
		}
		if (o.v6) {
			assert_int_equal(be16(seg + o.l3 + 4), l - o.l3 - 40);
		} else {
			assert_int_equal(be16(seg + o.l3 + 2), l - o.l3);
			assert_int_equal(be16(seg + o.l3 + 4), (uint16_t)(be16(f + o.l3 + 4) + i));
		}
		assert_int_equal(be32(seg + o.l4 + 4), (uint32_t)(be32(f + o.l4 + 4) + off));
		if (i + 1 < count)
			flags &= (uint8_t) ~(TH_FIN | TH_PSH);
		if (i > 0)
			flags &= (uint8_t)~TH_CWR;
		assert_int_equal(seg[o.l4 + 13], flags);
		assert_checksums(seg, l, &o);
		if (parsable) {
			assert_true(parse_frame(seg, l, &p));
			assert_true(p.tcp_csum_ok);
			assert_true(p.family == AF_INET6 || p.ip_csum_ok);
			assert_same_fields(&p, &po);
			assert_int_equal(p.seq, (uint32_t)(po.seq + off));
			assert_int_equal(p.flags, flags);
			assert_int_equal(p.payload_len, piece);
			if (p.family == AF_INET)
				assert_int_equal(p.ip_id, (uint16_t)(po.ip_id + i));
		}
		memcpy(joined + off, seg + o.hdr_len, piece);
		off += piece;
	}
	assert_int_equal(off, o.payload);
	if (o.payload)
		assert_memory_equal(joined, f + o.hdr_len, o.payload);
	assert_int_equal(forge_cut_segment(&c, count, seg), 0);
	assert_int_equal(forge_cut_segment(&c, count + 1, seg), 0);
	assert_int_equal(forge_cut_segment(&c, UINT_MAX, seg), 0);
	free(joined);
	free(seg);
	free(f);
	return n;
}

/* --- frames forged by forge --- */

static const unsigned mtus[] = {1500, 9000, 576};

/* One connection forged at MTU 65535: a write of write_len bytes from the client, then a close;
 * every frame cut at each of mtus[]. */
static void cut_forged(int family, int vlan, size_t write_len, bool csum_partial)
{
	const struct forge_config cfg = {
	    .mtu = FORGE_MAX_MTU, .vlan = vlan, .tcp_csum_partial = csum_partial};
	size_t ip_tcp = family == AF_INET ? 40 : 60, forge_mss_v = FORGE_MAX_MTU - ip_tcp;
	uint8_t *data = pattern(write_len, (unsigned)write_len);
	struct forge_flow *fl;
	struct capture cap;
	struct forge_tuple t;
	struct forge *f;

	capture_init(&cap);
	make_tuple(&t, family);
	assert_int_equal(forge_new(&cfg, capture_emit, &cap, &f), 0);
	assert_int_equal(forge_mss(f, family), forge_mss_v);
	assert_int_equal(forge_flow_open(f, &t, 1000, &fl), 0);
	assert_int_equal(forge_flow_data(fl, true, data, write_len, 2000), 0);
	assert_int_equal(forge_flow_close(fl, true, false, 3000), 0);

	for (size_t m = 0; m < N(mtus); m++) {
		size_t mss = mtus[m] - ip_tcp, joined = 0, data_segs = 0, want_segs;

		for (size_t k = 0; k < cap.n; k++) {
			struct pframe p;
			int n;

			if (csum_partial) {
				assert_true(parse_frame(cap.v[k].frame, cap.v[k].len, &p));
			} else {
				get_frame(&cap, k, &p);
			}
			assert_int_equal(p.tagged, vlan > 0);
			n = check_cut(cap.v[k].frame, cap.v[k].len, mtus[m]);
			if (p.ip_len <= mtus[m])
				assert_int_equal(n, 1);
			else
				assert_int_equal(n, (p.payload_len + mss - 1) / mss);
			if (p.payload_len) {
				assert_true(p.sport == t.client_port);
				assert_memory_equal(p.payload, data + joined, p.payload_len);
				joined += p.payload_len;
				data_segs += (size_t)n;
			}
		}
		assert_int_equal(joined, write_len);
		/* forge's full segments and its last one, each cut into MSS pieces */
		want_segs = write_len / forge_mss_v * ((forge_mss_v + mss - 1) / mss) +
			    (write_len % forge_mss_v + mss - 1) / mss;
		assert_int_equal(data_segs, want_segs);
	}
	forge_flow_free(fl);
	forge_free(f);
	capture_free(&cap);
	free(data);
}

static const size_t write_lens[] = {1, 65495, 65536, 200000};

static void test_forged_ipv4(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(write_lens); i++) {
		cut_forged(AF_INET, 0, write_lens[i], false);
		cut_forged(AF_INET, 100, write_lens[i], false);
	}
}

static void test_forged_ipv6(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(write_lens); i++) {
		cut_forged(AF_INET6, 0, write_lens[i], false);
		cut_forged(AF_INET6, 4094, write_lens[i], false);
	}
}

/* A frame whose TCP checksum field holds the pseudo-header's sum only: the segments' are
 * complete (check_cut() verifies them), including those of frames that fit. */
static void test_forged_csum_partial(void **state)
{
	(void)state;
	cut_forged(AF_INET, 0, 65536, true);
	cut_forged(AF_INET6, 7, 70000, true);
}

/* --- frames built by hand --- */

struct spec {
	int family;
	uint16_t tpid;	 /* 0x8100, 0x88a8, or 0 for none */
	size_t ip_opts;	 /* IPv4 option bytes, a multiple of 4 up to 40 */
	size_t tcp_opts; /* TCP option bytes, a multiple of 4 up to 40 */
	size_t payload;
	uint8_t flags;
	size_t pad; /* bytes after the IP packet */
};

#define HDR_ROOM (18 + 60 + 60)

/* Builds the frame spec describes into a new buffer of its exact size, checksums right. */
static uint8_t *build(const struct spec *s, size_t *len_out)
{
	size_t l3 = s->tpid ? 18 : 14;
	size_t ip_hdr = s->family == AF_INET ? 20 + s->ip_opts : 40;
	size_t th = 20 + s->tcp_opts, ip_len = ip_hdr + th + s->payload;
	size_t len = l3 + ip_len + s->pad;
	uint8_t *f = calloc(1, len), *ip, *tcp;
	struct layout o;

	assert_non_null(f);
	memcpy(f, (const uint8_t[]){0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1}, 12);
	if (s->tpid) {
		put16(f + 12, s->tpid);
		put16(f + 14, 0x2000 | 42); /* PCP 1, VLAN 42 */
	}
	put16(f + l3 - 2, s->family == AF_INET ? 0x0800 : 0x86dd);
	ip = f + l3;
	if (s->family == AF_INET) {
		ip[0] = (uint8_t)(0x40 | ip_hdr / 4);
		ip[1] = 0x28; /* DSCP AF11 */
		put16(ip + 2, (uint16_t)ip_len);
		put16(ip + 4, 0xfffe); /* the ids of the segments wrap */
		put16(ip + 6, 0x4000);
		ip[8] = 63;
		ip[9] = 6;
		memcpy(ip + 12, (const uint8_t[]){192, 0, 2, 10, 198, 51, 100, 20}, 8);
		if (s->ip_opts) { /* router alert, NOPs, end of list */
			memcpy(ip + 20, (const uint8_t[]){148, 4, 0, 0}, 4);
			memset(ip + 24, 1, s->ip_opts - 4);
			ip[ip_hdr - 1] = 0;
		}
	} else {
		put32(ip, 0x6a012345); /* traffic class 0xa0, a flow label */
		put16(ip + 4, (uint16_t)(ip_len - 40));
		ip[6] = 6;
		ip[7] = 63;
		ip[8] = 0x20;
		ip[9] = 0x01;
		ip[10] = 0x0d;
		ip[11] = 0xb8;
		ip[23] = 0x10;
		memcpy(ip + 24, ip + 8, 16);
		ip[39] = 0x20;
	}
	tcp = ip + ip_hdr;
	put16(tcp, 40000);
	put16(tcp + 2, 443);
	put32(tcp + 4, 0xfffff000u); /* the sequence numbers wrap */
	put32(tcp + 8, 0x12345678u);
	tcp[12] = (uint8_t)(th / 4 << 4);
	tcp[13] = s->flags;
	put16(tcp + 14, 1234);
	if (s->flags & TH_URG)
		put16(tcp + 18, 1);
	if (s->tcp_opts) { /* NOP, NOP, timestamps, NOPs, end of list */
		memcpy(tcp + 20, (const uint8_t[]){1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8}, 12);
		memset(tcp + 32, 1, s->tcp_opts - 12);
		tcp[th - 1] = 0;
	}
	for (size_t i = 0; i < s->payload; i++)
		tcp[th + i] = (uint8_t)(i * 7 + (i >> 8) + 3);
	memset(f + l3 + ip_len, 0xee, s->pad);

	/* checksums, by the reference */
	read_layout(f, len, &o);
	if (s->family == AF_INET) {
		const uint8_t *parts[] = {ip};
		const size_t lens[] = {ip_hdr};

		put16(ip + 10, ref_checksum(parts, lens, 1));
	}
	uint8_t pseudo[40];
	size_t plen = 12;

	if (s->family == AF_INET) {
		memcpy(pseudo, ip + 12, 8);
		pseudo[8] = 0;
		pseudo[9] = 6;
		put16(pseudo + 10, (uint16_t)(th + s->payload));
	} else {
		memcpy(pseudo, ip + 8, 32);
		put32(pseudo + 32, (uint32_t)(th + s->payload));
		memset(pseudo + 36, 0, 3);
		pseudo[39] = 6;
		plen = 40;
	}
	const uint8_t *parts[] = {pseudo, tcp};
	const size_t lens[] = {plen, th + s->payload};

	put16(tcp + 16, ref_checksum(parts, lens, 2));
	assert_checksums(f, l3 + ip_len, &o);
	*len_out = len;
	return f;
}

/* check_cut() on the frame of s; returns its result. */
static int cut_spec(const struct spec *s, unsigned mtu)
{
	size_t len;
	uint8_t *f = build(s, &len);
	int n = check_cut(f, len, mtu);

	free(f);
	return n;
}

/* forge_cut_init() alone on the frame of s, after mutate() changed it. */
static int init_mutated(const struct spec *s, unsigned mtu, void (*mutate)(uint8_t *f, size_t *len))
{
	struct forge_cut c;
	size_t len;
	uint8_t *f = build(s, &len), *g;
	int n;

	if (mutate)
		mutate(f, &len);
	g = dup_frame(f, len); /* exact size after a mutation that shortens it */
	n = forge_cut_init(&c, g, len, mtu);
	free(g);
	free(f);
	return n;
}

static const uint16_t tpids[] = {0, 0x8100, 0x88a8};

/* Exactly as large as the MTU: one segment, the same frame (its checksums were right); one
 * byte more: two segments, the second one byte. */
static void test_fits(void **state)
{
	(void)state;
	for (int fam = 0; fam < 2; fam++) {
		for (size_t t = 0; t < N(tpids); t++) {
			struct spec s = {.family = fam ? AF_INET6 : AF_INET,
					 .tpid = tpids[t],
					 .payload = 1460,
					 .flags = TH_ACK | TH_PSH};
			unsigned mtu = 1500 + (fam ? 20 : 0);
			struct forge_cut c;
			uint8_t *f, *out;
			size_t len;

			assert_int_equal(cut_spec(&s, mtu), 1);
			assert_int_equal(cut_spec(&s, 65535), 1);
			assert_int_equal(cut_spec(&s, UINT_MAX), 1);
			f = build(&s, &len);
			assert_int_equal(forge_cut_init(&c, f, len, mtu), 1);
			out = malloc(c.hdr_len + c.mss);
			assert_non_null(out);
			assert_int_equal(forge_cut_segment(&c, 0, out), len);
			assert_memory_equal(out, f, len);
			free(out);
			free(f);

			s.payload = 1461;
			assert_int_equal(cut_spec(&s, mtu), 2);
			/* no payload at all */
			s.payload = 0;
			assert_int_equal(cut_spec(&s, mtu), 1);
			assert_int_equal(cut_spec(&s, 68), 1);
		}
	}
}

/* The largest packets: IPv4's 65535 bytes; IPv6's 65535-byte payload (65575 with its header),
 * larger than 65535 itself. */
static void test_largest(void **state)
{
	struct spec v4 = {.family = AF_INET, .payload = 65535 - 40, .flags = TH_ACK};
	struct spec v6 = {
	    .family = AF_INET6, .tpid = 0x8100, .payload = 65535 - 20, .flags = TH_ACK};

	(void)state;
	assert_int_equal(cut_spec(&v4, 65535), 1);
	assert_int_equal(cut_spec(&v4, 65534), 2);
	assert_int_equal(cut_spec(&v4, 1500), 45);
	assert_int_equal(cut_spec(&v6, 65575), 1);
	assert_int_equal(cut_spec(&v6, 65535), 2);
	assert_int_equal(cut_spec(&v6, 1280), (65515 + 1219) / 1220);
}

/* IPv4 options and TCP options are in every segment; the MSS shrinks by their length. */
static void test_options(void **state)
{
	static const size_t ip_opts[] = {0, 4, 20, 40};
	static const size_t tcp_opts[] = {0, 12, 40};

	(void)state;
	for (int fam = 0; fam < 2; fam++) {
		for (size_t a = 0; a < N(ip_opts); a++) {
			if (fam && a) /* IPv6 has no options in its header */
				continue;
			for (size_t b = 0; b < N(tcp_opts); b++) {
				for (size_t m = 0; m < N(mtus); m++) {
					struct spec s = {.family = fam ? AF_INET6 : AF_INET,
							 .tpid = tpids[(a + b) % 3],
							 .ip_opts = ip_opts[a],
							 .tcp_opts = tcp_opts[b],
							 .payload = 20000 + a * 3 + b,
							 .flags = TH_ACK | TH_PSH};
					size_t hdrs =
					    (fam ? 40 : 20 + ip_opts[a]) + 20 + tcp_opts[b];
					size_t mss = mtus[m] - hdrs, len;
					struct forge_cut c;
					uint8_t *f;

					assert_int_equal(cut_spec(&s, mtus[m]),
							 (s.payload + mss - 1) / mss);
					f = build(&s, &len);
					assert_true(forge_cut_init(&c, f, len, mtus[m]) > 1);
					assert_int_equal(c.mss, mss);
					assert_int_equal(c.hdr_len, (s.tpid ? 18 : 14) + hdrs);
					free(f);
				}
			}
		}
	}
}

/* FIN and PSH only on the last segment, CWR only on the first, ACK and ECE on all. */
static void test_flags(void **state)
{
	(void)state;
	for (int fam = 0; fam < 2; fam++) {
		struct spec s = {.family = fam ? AF_INET6 : AF_INET,
				 .payload = 5000,
				 .flags = TH_FIN | TH_PSH | TH_CWR | TH_ECE | TH_ACK};
		size_t len, l4 = 14 + (fam ? 40 : 20);
		uint8_t *f = build(&s, &len), out[1500 + 14];
		struct forge_cut c;

		assert_int_equal(check_cut(f, len, 1500), 4);
		assert_int_equal(forge_cut_init(&c, f, len, 1500), 4);
		assert_true(c.mss + c.hdr_len <= sizeof(out));
		for (unsigned i = 0; i < 4; i++) {
			uint8_t want = TH_ACK | TH_ECE;

			if (i == 0)
				want |= TH_CWR;
			if (i == 3)
				want |= TH_FIN | TH_PSH;
			assert_true(forge_cut_segment(&c, i, out) > 0);
			assert_int_equal(out[l4 + 13], want);
		}
		/* a frame that fits keeps them all */
		assert_int_equal(check_cut(f, len, 65535), 1);
		assert_int_equal(forge_cut_init(&c, f, len, 65535), 1);
		free(f);
	}
}

/* SYN, RST and URG segments are not cut, but pass when they fit. */
static void test_syn_rst_urg(void **state)
{
	static const uint8_t flags[] = {TH_SYN,		 TH_SYN | TH_ACK, TH_RST,
					TH_RST | TH_ACK, TH_URG | TH_ACK, TH_URG | TH_ACK | TH_PSH,
					TH_SYN | TH_FIN};

	(void)state;
	for (int fam = 0; fam < 2; fam++) {
		for (size_t i = 0; i < N(flags); i++) {
			struct spec s = {.family = fam ? AF_INET6 : AF_INET,
					 .tcp_opts = 12,
					 .payload = 3000,
					 .flags = flags[i]};

			assert_int_equal(cut_spec(&s, 1500), -EPROTONOSUPPORT);
			assert_int_equal(cut_spec(&s, 576), -EPROTONOSUPPORT);
			assert_int_equal(cut_spec(&s, 9000), 1);
			s.payload = 0;
			assert_int_equal(cut_spec(&s, 576), 1);
			/* exactly as large as the MTU */
			s.payload = 100;
			assert_int_equal(cut_spec(&s, (fam ? 40 : 20) + 32 + 100), 1);
			assert_int_equal(cut_spec(&s, (fam ? 40 : 20) + 32 + 99), -EPROTONOSUPPORT);
		}
	}
}

/* The headers alone do not fit: -EMSGSIZE; one payload byte more than them fits: an MSS of 1. */
static void test_mtu_too_small(void **state)
{
	(void)state;
	for (int fam = 0; fam < 2; fam++) {
		for (size_t o = 0; o < 2; o++) {
			struct spec s = {.family = fam ? AF_INET6 : AF_INET,
					 .tpid = o ? 0x8100 : 0,
					 .ip_opts = fam ? 0 : o * 40,
					 .tcp_opts = o * 40,
					 .payload = 3000,
					 .flags = TH_ACK | TH_PSH | TH_FIN};
			unsigned hdrs = (unsigned)((fam ? 40 : 20 + s.ip_opts) + 20 + s.tcp_opts);

			assert_int_equal(cut_spec(&s, hdrs), -EMSGSIZE);
			assert_int_equal(cut_spec(&s, hdrs - 1), -EMSGSIZE);
			if (hdrs >= 68)
				assert_int_equal(cut_spec(&s, 68), -EMSGSIZE);
			else
				assert_int_equal(cut_spec(&s, 68),
						 (3000 + 68 - hdrs - 1) / (68 - hdrs));
			assert_int_equal(cut_spec(&s, 20), -EMSGSIZE);
			assert_int_equal(cut_spec(&s, 0), -EMSGSIZE);
			assert_int_equal(cut_spec(&s, hdrs + 1), 3000);
			assert_int_equal(cut_spec(&s, hdrs + 2), 1500);
			/* headers that fill the MTU are fine when nothing follows them */
			s.payload = 0;
			assert_int_equal(cut_spec(&s, hdrs), 1);
			assert_int_equal(cut_spec(&s, hdrs - 1), -EMSGSIZE);
		}
	}
}

/* Bytes after the IP packet (Ethernet's padding to 60 bytes, or anything) are no payload. */
static void test_padding(void **state)
{
	(void)state;
	for (int fam = 0; fam < 2; fam++) {
		struct spec ack = {.family = fam ? AF_INET6 : AF_INET, .flags = TH_ACK, .pad = 6};
		struct spec big = {.family = fam ? AF_INET6 : AF_INET,
				   .tpid = 0x8100,
				   .tcp_opts = 12,
				   .payload = 4000,
				   .flags = TH_ACK | TH_PSH,
				   .pad = 100};
		struct forge_cut c;
		uint8_t out[200];
		size_t len;
		uint8_t *f = build(&ack, &len);

		assert_int_equal(forge_cut_init(&c, f, len, 1500), 1);
		assert_int_equal(c.payload, 0);
		assert_int_equal(forge_cut_segment(&c, 0, out), len - 6);
		assert_memory_equal(out, f, len - 6);
		free(f);
		assert_int_equal(cut_spec(&ack, 1500), 1);

		f = build(&big, &len);
		assert_int_equal(forge_cut_init(&c, f, len, 1500), 3);
		assert_int_equal(c.payload, 4000);
		free(f);
		assert_int_equal(cut_spec(&big, 1500), 3);
		assert_int_equal(cut_spec(&big, 576),
				 (4000 + 535 - 12 - 20 * fam) / (536 - 12 - 20 * fam));
	}
}

/* --- what is refused --- */

static void set_proto_udp(uint8_t *f, size_t *len)
{
	(void)len;
	if (be16(f + 12) == 0x0800)
		f[14 + 9] = 17;
	else
		f[14 + 6] = 17;
}

static void set_ipv6_hop_by_hop(uint8_t *f, size_t *len)
{
	(void)len;
	f[14 + 6] = 0;
}

static void set_ipv6_fragment_hdr(uint8_t *f, size_t *len)
{
	(void)len;
	f[14 + 6] = 44;
}

static void set_arp(uint8_t *f, size_t *len)
{
	(void)len;
	put16(f + 12, 0x0806);
}

static void set_ipx(uint8_t *f, size_t *len)
{
	(void)len;
	put16(f + 12, 0x8137);
}

static void set_qinq(uint8_t *f, size_t *len)
{
	(void)len;
	put16(f + 16, 0x8100); /* a second tag after the 802.1ad one */
}

static void set_mf(uint8_t *f, size_t *len)
{
	(void)len;
	put16(f + 14 + 6, 0x2000);
}

static void set_mf_df(uint8_t *f, size_t *len)
{
	(void)len;
	put16(f + 14 + 6, 0x6000);
}

static void set_offset(uint8_t *f, size_t *len)
{
	(void)len;
	put16(f + 14 + 6, 0x00b9);
}

static void set_offset_df(uint8_t *f, size_t *len)
{
	(void)len;
	put16(f + 14 + 6, 0x4001);
}

static void set_offset_max(uint8_t *f, size_t *len)
{
	(void)len;
	put16(f + 14 + 6, 0x1fff);
}

static void test_not_supported(void **state)
{
	struct spec v4 = {.family = AF_INET, .payload = 3000, .flags = TH_ACK};
	struct spec v6 = {.family = AF_INET6, .payload = 3000, .flags = TH_ACK};
	struct spec ad = {.family = AF_INET, .tpid = 0x88a8, .payload = 3000, .flags = TH_ACK};
	void (*const v4_bad[])(uint8_t *, size_t *) = {set_proto_udp, set_arp,	     set_ipx,
						       set_mf,	      set_mf_df,     set_offset,
						       set_offset_df, set_offset_max};
	void (*const v6_bad[])(uint8_t *, size_t *) = {set_proto_udp, set_ipv6_hop_by_hop,
						       set_ipv6_fragment_hdr, set_arp};

	(void)state;
	for (size_t m = 0; m < 3; m++) {
		unsigned mtu = m == 0 ? 1500 : m == 1 ? 9000 : 65535; /* cut, and not */

		assert_int_equal(init_mutated(&v4, mtu, NULL), m ? 1 : 3);
		for (size_t i = 0; i < N(v4_bad); i++)
			assert_int_equal(init_mutated(&v4, mtu, v4_bad[i]), -EPROTONOSUPPORT);
		assert_int_equal(init_mutated(&v6, mtu, NULL), m ? 1 : 3);
		for (size_t i = 0; i < N(v6_bad); i++)
			assert_int_equal(init_mutated(&v6, mtu, v6_bad[i]), -EPROTONOSUPPORT);
		assert_int_equal(init_mutated(&ad, mtu, NULL), m ? 1 : 3);
		assert_int_equal(init_mutated(&ad, mtu, set_qinq), -EPROTONOSUPPORT);
	}
}

/* Every length short of the IP packet: -EBADMSG. The frame is copied to a buffer of exactly
 * that length each time, so that a read past it stops the test. */
static void test_truncated(void **state)
{
	(void)state;
	for (int fam = 0; fam < 2; fam++) {
		for (size_t t = 0; t < N(tpids); t++) {
			struct spec s = {.family = fam ? AF_INET6 : AF_INET,
					 .tpid = tpids[t],
					 .ip_opts = fam ? 0 : 8,
					 .tcp_opts = 12,
					 .payload = 3000,
					 .flags = TH_ACK};
			struct forge_cut c;
			size_t len;
			uint8_t *f = build(&s, &len);

			for (size_t l = 0; l < len; l++) {
				uint8_t *g = dup_frame(f, l);

				assert_int_equal(forge_cut_init(&c, g, l, 1500), -EBADMSG);
				free(g);
			}
			assert_int_equal(forge_cut_init(&c, f, len, 1500), 3);
			free(f);
		}
	}
}

static void ip_len_plus_1(uint8_t *f, size_t *len)
{
	(void)len;
	if (be16(f + 12) == 0x0800)
		put16(f + 16, (uint16_t)(be16(f + 16) + 1));
	else
		put16(f + 18, (uint16_t)(be16(f + 18) + 1));
}

static void ip_len_max(uint8_t *f, size_t *len)
{
	(void)len;
	put16(f + (be16(f + 12) == 0x0800 ? 16 : 18), 0xffff);
}

static void frame_minus_1(uint8_t *f, size_t *len)
{
	(void)f;
	(*len)--;
}

static void ipv4_len_below_ihl(uint8_t *f, size_t *len)
{
	(void)len;
	put16(f + 16, 19);
}

static void ipv4_len_below_tcp(uint8_t *f, size_t *len)
{
	(void)len;
	put16(f + 16, 39);
}

static void ipv4_len_0(uint8_t *f, size_t *len)
{
	(void)len;
	put16(f + 16, 0);
}

static void ipv6_len_below_tcp(uint8_t *f, size_t *len)
{
	(void)len;
	put16(f + 18, 19);
}

static void ipv4_ihl_4(uint8_t *f, size_t *len)
{
	(void)len;
	f[14] = 0x44;
}

static void ipv4_ihl_0(uint8_t *f, size_t *len)
{
	(void)len;
	f[14] = 0x40;
}

static void ipv4_ihl_15(uint8_t *f, size_t *len)
{
	/* a header of 60 bytes in a 40-byte packet */
	(void)len;
	f[14] = 0x4f;
	put16(f + 16, 40);
}

static void version_6_in_ipv4(uint8_t *f, size_t *len)
{
	(void)len;
	f[14] = (uint8_t)(0x60 | (f[14] & 0x0f));
}

static void version_4_in_ipv6(uint8_t *f, size_t *len)
{
	(void)len;
	f[14] = (uint8_t)(0x40 | (f[14] & 0x0f));
}

static uint8_t *tcp_of(uint8_t *f)
{
	return f + 14 + (be16(f + 12) == 0x0800 ? (size_t)(f[14] & 0x0f) * 4 : 40);
}

static void doff_0(uint8_t *f, size_t *len)
{
	(void)len;
	tcp_of(f)[12] = 0x00;
}

static void doff_4(uint8_t *f, size_t *len)
{
	(void)len;
	tcp_of(f)[12] = 0x40;
}

static void doff_15(uint8_t *f, size_t *len)
{
	(void)len;
	tcp_of(f)[12] = 0xf0;
}

static void doff_plus_1(uint8_t *f, size_t *len)
{
	(void)len;
	tcp_of(f)[12] = (uint8_t)(tcp_of(f)[12] + 0x10);
}

static void test_bad_lengths(void **state)
{
	void (*const both[])(uint8_t *, size_t *) = {ip_len_plus_1, ip_len_max, frame_minus_1,
						     doff_0,	    doff_4,	doff_plus_1};
	void (*const v4_only[])(uint8_t *, size_t *) = {
	    ipv4_len_below_ihl, ipv4_len_below_tcp, ipv4_len_0,	      ipv4_ihl_4,
	    ipv4_ihl_0,		ipv4_ihl_15,	    version_6_in_ipv4};
	void (*const v6_only[])(uint8_t *, size_t *) = {ipv6_len_below_tcp, version_4_in_ipv6};
	static const unsigned bad_mtus[] = {68, 576, 1500, 65535};

	(void)state;
	for (int fam = 0; fam < 2; fam++) {
		/* no payload (the TCP header is the end of the packet), and some (still under 68
		 * bytes), and a packet that needs cutting */
		for (size_t pl = 0; pl < 3; pl++) {
			struct spec s = {.family = fam ? AF_INET6 : AF_INET,
					 .tcp_opts = pl == 1 ? 0 : 12,
					 .payload = pl == 0   ? 0
						    : pl == 1 ? 4
							      : 2000,
					 .flags = TH_ACK};

			for (size_t m = 0; m < N(bad_mtus); m++) {
				unsigned mtu = bad_mtus[m];

				for (size_t i = 0; i < N(both); i++) {
					/* doff + 1 is harmless when the payload holds the extra
					 * word */
					if (both[i] == doff_plus_1 && pl)
						continue;
					assert_int_equal(init_mutated(&s, mtu, both[i]), -EBADMSG);
				}
				for (size_t i = 0; !fam && i < N(v4_only); i++)
					assert_int_equal(init_mutated(&s, mtu, v4_only[i]),
							 -EBADMSG);
				for (size_t i = 0; fam && i < N(v6_only); i++)
					assert_int_equal(init_mutated(&s, mtu, v6_only[i]),
							 -EBADMSG);
				if (pl <
				    2) /* doff 15: 60 bytes in a TCP packet smaller than that */
					assert_int_equal(init_mutated(&s, mtu, doff_15), -EBADMSG);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forged_ipv4),
	    cmocka_unit_test(test_forged_ipv6),
	    cmocka_unit_test(test_forged_csum_partial),
	    cmocka_unit_test(test_fits),
	    cmocka_unit_test(test_largest),
	    cmocka_unit_test(test_options),
	    cmocka_unit_test(test_flags),
	    cmocka_unit_test(test_syn_rst_urg),
	    cmocka_unit_test(test_mtu_too_small),
	    cmocka_unit_test(test_padding),
	    cmocka_unit_test(test_not_supported),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_bad_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
