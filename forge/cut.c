/* forge/cut.c: cuts a TCP segment that is too large for an MTU into segments that fit, as the
 * sender's TCP would have sent them (and as the kernel's GSO cuts them): the same headers, the
 * payload in MSS-sized pieces, sequence numbers advancing, IPv4 ids counting up from the
 * frame's, FIN and PSH only on the last piece, CWR only on the first, IP lengths and both
 * checksums computed. The collector uses it for frames agents forge larger than its -o MTU. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "forge_internal.h"
#include "sslcollector/forge.h"

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

int forge_cut_init(struct forge_cut *c, const uint8_t *frame, size_t len, unsigned mtu)
{
	size_t l3 = 14, l4, ip_len, th_len, ip_hdr;
	uint16_t type;
	const uint8_t *ip;

	memset(c, 0, sizeof(*c));
	if (len < 14)
		return -EBADMSG;
	type = get16(frame + 12);
	if (type == 0x8100 || type == 0x88a8) {
		if (len < 18)
			return -EBADMSG;
		type = get16(frame + 16);
		l3 = 18;
	}
	ip = frame + l3;
	if (type == 0x0800) {
		if (len < l3 + 20 || ip[0] >> 4 != 4)
			return -EBADMSG;
		ip_hdr = (size_t)(ip[0] & 0xf) * 4;
		ip_len = get16(ip + 2);
		if (ip_hdr < 20 || ip_len < ip_hdr || l3 + ip_len > len)
			return -EBADMSG;
		if (ip[9] != IPPROTO_TCP || (get16(ip + 6) & 0x3fff))
			return -EPROTONOSUPPORT; /* not TCP, or a fragment */
	} else if (type == 0x86dd) {
		if (len < l3 + 40 || ip[0] >> 4 != 6)
			return -EBADMSG;
		ip_hdr = 40;
		ip_len = 40 + (size_t)get16(ip + 4);
		if (l3 + ip_len > len)
			return -EBADMSG;
		if (ip[6] != IPPROTO_TCP)
			return -EPROTONOSUPPORT; /* not TCP, or extension headers */
	} else {
		return -EPROTONOSUPPORT;
	}
	l4 = l3 + ip_hdr;
	if (ip_len < ip_hdr + 20)
		return -EBADMSG;
	th_len = (size_t)(frame[l4 + 12] >> 4) * 4;
	if (th_len < 20 || ip_hdr + th_len > ip_len)
		return -EBADMSG;
	c->frame = frame;
	c->v6 = type == 0x86dd;
	c->l3 = (uint8_t)l3;
	c->l4 = (uint8_t)l4;
	c->hdr_len = l4 + th_len;
	c->payload = ip_len - ip_hdr - th_len;
	c->flags = frame[l4 + 13];
	if (ip_len <= mtu) {
		c->mss = c->payload;
		c->count = 1;
		return 1;
	}
	if (ip_hdr + th_len >= mtu)
		return -EMSGSIZE; /* not even one payload byte fits */
	if (c->flags & (FORGE_TH_SYN | FORGE_TH_RST | FORGE_TH_URG))
		return -EPROTONOSUPPORT; /* nothing a sender cuts */
	c->mss = mtu - ip_hdr - th_len;
	c->count = (unsigned)((c->payload + c->mss - 1) / c->mss);
	return (int)c->count;
}

size_t forge_cut_segment(const struct forge_cut *c, unsigned i, uint8_t *out)
{
	size_t off = (size_t)i * c->mss, n, ip_len;
	uint8_t *ip = out + c->l3, *tcp = out + c->l4, ph[4];
	uint32_t seq, sum;
	uint16_t csum;
	uint8_t flags = c->flags;

	if (i >= c->count)
		return 0;
	n = c->payload - off < c->mss ? c->payload - off : c->mss;
	memcpy(out, c->frame, c->hdr_len);
	memcpy(out + c->hdr_len, c->frame + c->hdr_len + off, n);
	ip_len = c->hdr_len - c->l3 + n;
	if (c->v6) {
		put16(ip + 4, (uint16_t)(ip_len - 40));
	} else {
		put16(ip + 2, (uint16_t)ip_len);
		put16(ip + 4, (uint16_t)(get16(ip + 4) + i));
		memset(ip + 10, 0, 2);
		csum = forge_csum_fold(forge_csum_partial(ip, (size_t)(c->l4 - c->l3), 0));
		memcpy(ip + 10, &csum, 2);
	}
	seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
	seq += (uint32_t)off;
	tcp[4] = (uint8_t)(seq >> 24);
	tcp[5] = (uint8_t)(seq >> 16);
	tcp[6] = (uint8_t)(seq >> 8);
	tcp[7] = (uint8_t)seq;
	if (i + 1 < c->count)
		flags &= (uint8_t) ~(FORGE_TH_FIN | FORGE_TH_PSH);
	if (i > 0)
		flags &= (uint8_t)~FORGE_TH_CWR;
	tcp[13] = flags;
	/* pseudo-header: addresses, then zero, protocol and the TCP length as 16-bit words (the
	 * IPv6 form's 32-bit length and 24 zero bits sum the same for lengths below 65536) */
	ph[0] = 0;
	ph[1] = IPPROTO_TCP;
	put16(ph + 2, (uint16_t)(ip_len - (size_t)(c->l4 - c->l3)));
	memset(tcp + 16, 0, 2);
	sum = forge_csum_partial(c->v6 ? ip + 8 : ip + 12, c->v6 ? 32 : 8, 0);
	sum = forge_csum_partial(ph, sizeof(ph), sum);
	sum = forge_csum_partial(tcp, c->hdr_len - c->l4 + n, sum);
	csum = forge_csum_fold(sum);
	memcpy(tcp + 16, &csum, 2);
	return c->hdr_len + n;
}
