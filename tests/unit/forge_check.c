/* tests/unit/forge_check.c: capture callback, frame parser and reference checksum for the
 * forge tests (see forge_check.h). Nothing here calls forge. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "forge_check.h"

void capture_init(struct capture *c)
{
	memset(c, 0, sizeof(*c));
	c->fail_at = -1;
}

void capture_reset(struct capture *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].frame);
	c->n = 0;
}

void capture_free(struct capture *c)
{
	capture_reset(c);
	free(c->v);
	c->v = NULL;
	c->cap = 0;
}

int capture_emit(void *ctx, const uint8_t *frame, size_t len, uint64_t ts_ns)
{
	struct capture *c = ctx;

	if (c->calls++ == c->fail_at)
		return c->fail_err;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct captured *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n].frame = malloc(len);
	if (!c->v[c->n].frame)
		return -ENOMEM;
	memcpy(c->v[c->n].frame, frame, len);
	c->v[c->n].len = len;
	c->v[c->n].ts_ns = ts_ns;
	c->n++;
	return 0;
}

uint16_t ref_checksum(const uint8_t *const *parts, const size_t *lens, size_t n_parts)
{
	uint64_t sum = 0;

	for (size_t k = 0; k < n_parts; k++) {
		for (size_t i = 0; i + 1 < lens[k]; i += 2)
			sum += (uint32_t)parts[k][i] << 8 | parts[k][i + 1];
		if (lens[k] % 2)
			sum += (uint32_t)parts[k][lens[k] - 1] << 8;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool parse_tcp(const uint8_t *tcp, size_t tcp_len, const uint8_t *pseudo, size_t pseudo_len,
		      struct pframe *p)
{
	uint8_t hdr[60];

	if (tcp_len < 20)
		return false;
	p->sport = be16(tcp);
	p->dport = be16(tcp + 2);
	p->seq = be32(tcp + 4);
	p->ack = be32(tcp + 8);
	p->doff = tcp[12] >> 4;
	p->flags = tcp[13];
	p->win = be16(tcp + 14);
	p->urg = be16(tcp + 18);
	if ((tcp[12] & 0x0f) || p->doff < 5 || (size_t)p->doff * 4 > tcp_len)
		return false;
	/* checksum over the pseudo-header and the segment with its checksum field zeroed */
	memcpy(hdr, tcp, (size_t)p->doff * 4);
	hdr[16] = hdr[17] = 0;
	const uint8_t *parts[] = {pseudo, hdr, tcp + p->doff * 4};
	const size_t lens[] = {pseudo_len, (size_t)p->doff * 4, tcp_len - (size_t)p->doff * 4};

	p->tcp_csum_ok = ref_checksum(parts, lens, 3) == be16(tcp + 16);
	for (size_t i = 20; i < (size_t)p->doff * 4;) {
		uint8_t kind = tcp[i];

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= (size_t)p->doff * 4 || tcp[i + 1] < 2 ||
		    i + tcp[i + 1] > (size_t)p->doff * 4)
			return false;
		if (kind == 2 && tcp[i + 1] == 4) {
			p->has_mss = true;
			p->mss = be16(tcp + i + 2);
		} else if (kind == 3 && tcp[i + 1] == 3) {
			p->has_wscale = true;
			p->wscale = tcp[i + 2];
		} else {
			p->other_opts++;
		}
		i += tcp[i + 1];
	}
	p->payload = tcp + p->doff * 4;
	p->payload_len = tcp_len - (size_t)p->doff * 4;
	return true;
}

bool parse_frame(const uint8_t *f, size_t len, struct pframe *p)
{
	uint8_t pseudo[40];
	size_t off = 14;

	memset(p, 0, sizeof(*p));
	p->len = len;
	if (len < 14)
		return false;
	memcpy(p->dst_mac, f, 6);
	memcpy(p->src_mac, f + 6, 6);
	p->ethertype = be16(f + 12);
	if (p->ethertype == 0x8100) {
		if (len < 18)
			return false;
		p->tagged = true;
		p->tci = be16(f + 14);
		p->ethertype = be16(f + 16);
		off = 18;
	}
	p->l3_off = off;
	const uint8_t *ip = f + off;

	if (p->ethertype == 0x0800) {
		if (len < off + 20 || ip[0] >> 4 != 4)
			return false;
		p->family = AF_INET;
		p->ihl = ip[0] & 0x0f;
		p->tos = ip[1];
		p->ip_len = be16(ip + 2);
		p->ip_id = be16(ip + 4);
		p->frag = be16(ip + 6);
		p->ttl = ip[8];
		p->proto = ip[9];
		memcpy(p->src, ip + 12, 4);
		memcpy(p->dst, ip + 16, 4);
		if (p->ihl != 5 || p->ip_len != len - off || p->proto != 6)
			return false;
		uint8_t hdr[20];

		memcpy(hdr, ip, 20);
		hdr[10] = hdr[11] = 0;
		const uint8_t *parts[] = {hdr};
		const size_t lens[] = {20};

		p->ip_csum_ok = ref_checksum(parts, lens, 1) == be16(ip + 10);
		size_t tcp_len = p->ip_len - 20u;

		memcpy(pseudo, ip + 12, 8);
		pseudo[8] = 0;
		pseudo[9] = 6;
		pseudo[10] = (uint8_t)(tcp_len >> 8);
		pseudo[11] = (uint8_t)tcp_len;
		return parse_tcp(ip + 20, tcp_len, pseudo, 12, p);
	}
	if (p->ethertype == 0x86dd) {
		if (len < off + 40 || ip[0] >> 4 != 6)
			return false;
		p->family = AF_INET6;
		p->ip6_flow = be32(ip);
		p->ip_len = (uint16_t)(40 + be16(ip + 4));
		p->proto = ip[6];
		p->ttl = ip[7];
		memcpy(p->src, ip + 8, 16);
		memcpy(p->dst, ip + 24, 16);
		if ((size_t)p->ip_len != len - off || p->proto != 6)
			return false;
		size_t tcp_len = p->ip_len - 40u;

		memcpy(pseudo, ip + 8, 32);
		pseudo[32] = pseudo[33] = 0;
		pseudo[34] = (uint8_t)(tcp_len >> 8);
		pseudo[35] = (uint8_t)tcp_len;
		pseudo[36] = pseudo[37] = pseudo[38] = 0;
		pseudo[39] = 6;
		return parse_tcp(ip + 40, tcp_len, pseudo, 40, p);
	}
	return false;
}

void make_tuple(struct forge_tuple *t, int family)
{
	static const uint8_t c4[4] = {192, 0, 2, 10}, s4[4] = {198, 51, 100, 20};
	static const uint8_t c6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x10};
	static const uint8_t s6[16] = {0x20, 0x01, 0x0d, 0xb8, [13] = 1, [15] = 0x20};

	memset(t, 0, sizeof(*t));
	t->family = family;
	memcpy(t->client_addr, family == AF_INET ? c4 : c6, family == AF_INET ? 4 : 16);
	memcpy(t->server_addr, family == AF_INET ? s4 : s6, family == AF_INET ? 4 : 16);
	t->client_port = 40000;
	t->server_port = 443;
	memcpy(t->client_mac, (const uint8_t[]){0x02, 0, 0, 0, 0, 1}, 6);
	memcpy(t->server_mac, (const uint8_t[]){0x02, 0, 0, 0, 0, 2}, 6);
}

void get_frame(const struct capture *c, size_t i, struct pframe *p)
{
	assert_true(i < c->n);
	assert_true(parse_frame(c->v[i].frame, c->v[i].len, p));
	assert_true(p->tcp_csum_ok);
	assert_int_equal(p->ttl, 64);
	if (p->family == AF_INET) {
		assert_true(p->ip_csum_ok);
		assert_int_equal(p->frag, 0x4000); /* DF, offset 0 */
		assert_int_equal(p->tos, 0);
	} else {
		assert_int_equal(p->ip6_flow, 0x60000000);
	}
	assert_int_equal(p->win, 65535);
	assert_int_equal(p->urg, 0);
	assert_int_equal(p->other_opts, 0);
}

void assert_direction(const struct pframe *p, const struct forge_tuple *t, bool from_client)
{
	size_t alen = t->family == AF_INET ? 4 : 16;

	assert_int_equal(p->family, t->family);
	assert_memory_equal(p->src_mac, from_client ? t->client_mac : t->server_mac, 6);
	assert_memory_equal(p->dst_mac, from_client ? t->server_mac : t->client_mac, 6);
	assert_memory_equal(p->src, from_client ? t->client_addr : t->server_addr, alen);
	assert_memory_equal(p->dst, from_client ? t->server_addr : t->client_addr, alen);
	assert_int_equal(p->sport, from_client ? t->client_port : t->server_port);
	assert_int_equal(p->dport, from_client ? t->server_port : t->client_port);
}

uint8_t *pattern(size_t len, unsigned seed)
{
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131 + seed * 17 + (i >> 8));
	return p;
}
