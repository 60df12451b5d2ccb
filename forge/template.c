/* forge/template.c: the per-direction header template. libnet builds a flow's headers once
 * per direction; every frame is then a copy of them with sequence numbers, flags, lengths and
 * IP id patched in and both checksums computed here, so that no frame costs a libnet call or
 * an allocation. tests/unit/test_forge_frame.c checks that the result equals libnet's. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "forge_internal.h"

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int forge_tmpl_init(struct forge_tmpl *t, struct libnet_context *ln, const struct forge_hdr_desc *d,
		    char *err, size_t err_len)
{
	const struct forge_seg seg = {.flags = FORGE_TH_ACK};
	size_t len = 0;
	int ret;

	memset(t, 0, sizeof(*t));
	ret = forge_libnet_frame(ln, d, &seg, t->hdr, sizeof(t->hdr), &len, err, err_len);
	if (ret)
		return ret;
	t->ipv6 = d->family == AF_INET6;
	t->l3_off = FORGE_ETH_LEN + (d->vlan ? FORGE_VLAN_LEN : 0);
	t->l4_off = t->l3_off + (t->ipv6 ? FORGE_IP6_LEN : FORGE_IP4_LEN);
	t->len = t->l4_off + FORGE_TCP_LEN;
	if (len != t->len)
		return -EPROTO;
	/* pseudo-header: source and destination address, then zero and the protocol number */
	const uint8_t *addrs = t->hdr + t->l3_off + (t->ipv6 ? 8 : 12);

	uint32_t sum = forge_csum_partial(addrs, t->ipv6 ? 32 : 8, htons(IPPROTO_TCP));

	/* kept below 2^16 so that adding the length per frame cannot overflow 32 bits */
	sum = (sum & 0xffffu) + (sum >> 16);
	t->pseudo_sum = (sum & 0xffffu) + (sum >> 16);
	return 0;
}

size_t forge_tmpl_frame(const struct forge_tmpl *t, const struct forge_seg *s, unsigned flags,
			uint8_t *buf)
{
	uint8_t *ip = buf + t->l3_off;
	uint8_t *tcp = buf + t->l4_off;
	size_t tcp_len = FORGE_TCP_LEN + s->opts_len + s->len;
	uint16_t csum;

	memcpy(buf, t->hdr, t->len);
	put32(tcp + 4, s->seq);
	put32(tcp + 8, s->ack);
	tcp[12] = (uint8_t)((FORGE_TCP_LEN + s->opts_len) / 4 << 4);
	tcp[13] = s->flags;
	if (s->opts_len)
		memcpy(tcp + FORGE_TCP_LEN, s->opts, s->opts_len);
	if (s->len && !(flags & FORGE_TMPL_HDR_ONLY))
		memcpy(tcp + FORGE_TCP_LEN + s->opts_len, s->payload, s->len);

	if (t->ipv6) {
		put16(ip + 4, (uint16_t)tcp_len);
	} else {
		put16(ip + 2, (uint16_t)(FORGE_IP4_LEN + tcp_len));
		put16(ip + 4, s->ip_id);
		ip[10] = ip[11] = 0;
		csum = forge_csum_fold(forge_csum_partial(ip, FORGE_IP4_LEN, 0));
		memcpy(ip + 10, &csum, 2);
	}
	uint32_t sum = t->pseudo_sum + htons((uint16_t)tcp_len);

	if (flags & FORGE_TMPL_CSUM_PARTIAL) {
		/* the pseudo-header's sum, folded, not complemented (forge_config) */
		sum = (sum & 0xffffu) + (sum >> 16);
		csum = (uint16_t)((sum & 0xffffu) + (sum >> 16));
		memcpy(tcp + 16, &csum, 2);
		return t->l4_off + tcp_len;
	}
	/* libnet filled in the template's checksum: clear it before summing; the headers are an
	 * even number of bytes, so the payload's sum chains on (from the source: it may not have
	 * been copied) */
	tcp[16] = tcp[17] = 0;
	sum = forge_csum_partial(tcp, FORGE_TCP_LEN + s->opts_len, sum);
	sum = forge_csum_partial(s->payload, s->len, sum);
	csum = forge_csum_fold(sum);
	memcpy(tcp + 16, &csum, 2);
	return t->l4_off + tcp_len;
}
