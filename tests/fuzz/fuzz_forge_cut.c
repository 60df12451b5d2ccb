/* libFuzzer harness for forge_cut_init() / forge_cut_segment() (forge/cut.c): the collector
 * cuts frames that agents sent over the network, so the parser sees untrusted bytes. Input: the
 * MTU as 2 big-endian bytes (a value below 68 means 68 more, so that every MTU from 68 to 65535
 * is reachable and a real one reads as itself), then the frame. A model written from forge.h's
 * description decides apart from cut.c whether the frame is accepted, its layout and its count;
 * every segment is cut into a heap buffer of exactly hdr_len + mss bytes and must be the
 * original's headers but for the fields the cut changes (IP length, IPv4 id + i, sequence
 * number + offset, FIN/PSH on the last, CWR on the first, both checksums, verified here with
 * RFC 1071 of its own), no larger than the MTU, and the payload's next piece; one past the last
 * segment, nothing. cut.c is included directly so that libFuzzer sees its branches (the
 * library is built without coverage); sslc_forge supplies the checksum. */
#include "../../forge/cut.c"

#include <stdbool.h>
#include <stdlib.h>

/* the model's own flag values, written apart from forge's FORGE_TH_* */
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_URG 0x20
#define TH_CWR 0x80

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RFC 1071, the plain way: big-endian 16-bit words, an odd last byte padded with a zero. */
static uint64_t sum_words(const uint8_t *p, size_t len, uint64_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len % 2)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

/* True when the one's complement sum (checksum field included) is all ones. */
static bool sum_ok(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

/* What forge.h says of the frame. */
struct model {
	size_t l3, l4, hdr_len, ip_len, payload, mss;
	unsigned count;
	bool v6;
};

/* The count of segments, or -1 when the frame must be refused. */
static long model_init(struct model *m, const uint8_t *f, size_t len, unsigned mtu)
{
	size_t ip_hdr, th_len;
	const uint8_t *ip;
	uint16_t type;

	memset(m, 0, sizeof(*m));
	if (len < 14)
		return -1;
	type = be16(f + 12);
	m->l3 = 14;
	if (type == 0x8100 || type == 0x88a8) {
		if (len < 18)
			return -1;
		type = be16(f + 16);
		m->l3 = 18;
	}
	ip = f + m->l3;
	if (type == 0x0800) {
		if (len < m->l3 + 20 || ip[0] >> 4 != 4)
			return -1;
		ip_hdr = (size_t)(ip[0] & 0x0f) * 4;
		m->ip_len = be16(ip + 2);
		if (ip_hdr < 20 || ip[9] != 6)
			return -1;
		if (be16(ip + 6) & 0x2000 || be16(ip + 6) & 0x1fff) /* MF, or an offset */
			return -1;
	} else if (type == 0x86dd) {
		if (len < m->l3 + 40 || ip[0] >> 4 != 6 || ip[6] != 6)
			return -1;
		ip_hdr = 40;
		m->ip_len = 40 + (size_t)be16(ip + 4);
		m->v6 = true;
	} else {
		return -1;
	}
	if (m->ip_len < ip_hdr + 20 || m->l3 + m->ip_len > len)
		return -1;
	m->l4 = m->l3 + ip_hdr;
	th_len = (size_t)(f[m->l4 + 12] >> 4) * 4;
	if (th_len < 20 || ip_hdr + th_len > m->ip_len)
		return -1;
	m->hdr_len = m->l4 + th_len;
	m->payload = m->ip_len - ip_hdr - th_len;
	if (m->ip_len <= mtu) {
		m->mss = m->payload;
		m->count = 1;
		return 1;
	}
	if (ip_hdr + th_len >= mtu || f[m->l4 + 13] & (TH_SYN | TH_RST | TH_URG))
		return -1;
	m->mss = mtu - ip_hdr - th_len;
	m->count = (unsigned)((m->payload + m->mss - 1) / m->mss);
	return m->count;
}

/* Header bytes a cut may change: IP length, IPv4 id and checksum, sequence number, flags, TCP
 * checksum. */
static bool may_change(const struct model *m, size_t k)
{
	if (k >= m->l4) {
		k -= m->l4;
		return (k >= 4 && k < 8) || k == 13 || k == 16 || k == 17;
	}
	if (k < m->l3)
		return false;
	k -= m->l3;
	if (m->v6)
		return k == 4 || k == 5;
	return (k >= 2 && k < 6) || k == 10 || k == 11;
}

static void check_segment(const struct model *m, const uint8_t *f, const uint8_t *seg, size_t l,
			  unsigned i, unsigned mtu)
{
	size_t off = (size_t)i * m->mss;
	size_t piece = m->payload - off < m->mss ? m->payload - off : m->mss;
	size_t tcp_len = l - m->l4;
	const uint8_t *ip = seg + m->l3;
	uint8_t flags = f[m->l4 + 13];
	uint64_t sum;

	if (l != m->hdr_len + piece || l - m->l3 > mtu)
		abort();
	for (size_t k = 0; k < m->hdr_len; k++)
		if (!may_change(m, k) && seg[k] != f[k])
			abort();
	if (memcmp(seg + m->hdr_len, f + m->hdr_len + off, piece) != 0)
		abort();
	if (m->v6) {
		if (be16(ip + 4) != l - m->l3 - 40)
			abort();
	} else {
		if (be16(ip + 2) != l - m->l3 ||
		    be16(ip + 4) != (uint16_t)(be16(f + m->l3 + 4) + i) ||
		    !sum_ok(sum_words(ip, m->l4 - m->l3, 0)))
			abort();
	}
	if (be32(seg + m->l4 + 4) != (uint32_t)(be32(f + m->l4 + 4) + off))
		abort();
	if (i + 1 < m->count)
		flags &= (uint8_t) ~(TH_FIN | TH_PSH);
	if (i > 0)
		flags &= (uint8_t)~TH_CWR;
	if (seg[m->l4 + 13] != flags)
		abort();
	/* pseudo-header: addresses, protocol and TCP length */
	sum = m->v6 ? sum_words(ip + 8, 32, 0) : sum_words(ip + 12, 8, 0);
	sum += 6 + (tcp_len >> 16) + (tcp_len & 0xffff);
	if (!sum_ok(sum_words(seg + m->l4, tcp_len, sum)))
		abort();
}

/* forge_cut_init() agrees with the model: the same count and layout, or a refusal with one of
 * the documented errors. Returns the count, or -1. */
static long init_checked(struct forge_cut *c, struct model *m, const uint8_t *f, size_t len,
			 unsigned mtu)
{
	int n = forge_cut_init(c, f, len, mtu);
	long want = model_init(m, f, len, mtu);

	if (want < 0) {
		if (n != -EBADMSG && n != -EPROTONOSUPPORT && n != -EMSGSIZE)
			abort();
		return -1;
	}
	if (n != want || c->count != m->count || c->frame != f || c->hdr_len != m->hdr_len ||
	    c->payload != m->payload || c->mss != m->mss || c->l3 != m->l3 || c->l4 != m->l4 ||
	    c->v6 != m->v6 || c->flags != f[m->l4 + 13])
		abort();
	return want;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct forge_cut c, c2;
	struct model m, m2;
	const uint8_t *f;
	uint8_t *seg;
	unsigned mtu, hdrs;
	size_t len;

	if (size < 2)
		return 0;
	mtu = be16(data);
	if (mtu < 68)
		mtu += 68;
	f = data + 2;
	len = size - 2;
	if (init_checked(&c, &m, f, len, mtu) < 0)
		return 0;
	/* the same frame on the edges: one byte short of its IP packet, and at the MTUs where it
	 * just fits, just does not, and where its headers fill the packet or leave a byte */
	if (forge_cut_init(&c2, f, m.l3 + m.ip_len - 1, mtu) != -EBADMSG)
		abort();
	hdrs = (unsigned)(m.hdr_len - m.l3);
	init_checked(&c2, &m2, f, len, (unsigned)m.ip_len);
	init_checked(&c2, &m2, f, len, (unsigned)m.ip_len - 1);
	init_checked(&c2, &m2, f, len, hdrs);
	init_checked(&c2, &m2, f, len, hdrs + 1);

	seg = malloc(m.hdr_len + m.mss); /* exactly what forge.h promises to need */
	if (!seg)
		abort();
	for (unsigned i = 0; i < m.count; i++)
		check_segment(&m, f, seg, forge_cut_segment(&c, i, seg), i, mtu);
	if (forge_cut_segment(&c, m.count, seg) != 0)
		abort();
	free(seg);
	return 0;
}
