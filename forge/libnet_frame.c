/* forge/libnet_frame.c: builds one complete Ethernet[/802.1Q]/IP/TCP frame with libnet. forge
 * calls it once per flow and direction for the header templates; the tests and the benchmark
 * call it per frame as the reference the patched templates must equal. */
#include <errno.h>
#include <libnet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "forge_internal.h"

void forge_hdr_desc_init(struct forge_hdr_desc *d, const struct forge_tuple *t, bool from_client,
			 int vlan)
{
	memset(d, 0, sizeof(*d));
	d->family = t->family;
	d->vlan = vlan > 0 ? vlan : 0;
	memcpy(d->src_mac, from_client ? t->client_mac : t->server_mac, 6);
	memcpy(d->dst_mac, from_client ? t->server_mac : t->client_mac, 6);
	memcpy(d->src_addr, from_client ? t->client_addr : t->server_addr, 16);
	memcpy(d->dst_addr, from_client ? t->server_addr : t->client_addr, 16);
	d->src_port = from_client ? t->client_port : t->server_port;
	d->dst_port = from_client ? t->server_port : t->client_port;
}

static int libnet_failed(libnet_t *ln, const char *what, char *err, size_t err_len)
{
	snprintf(err, err_len, "%s: %s", what, libnet_geterror(ln));
	libnet_clear_packet(ln);
	/* libnet's builders fail when they cannot allocate a protocol block */
	return -ENOMEM;
}

int forge_libnet_frame(struct libnet_context *ln, const struct forge_hdr_desc *d,
		       const struct forge_seg *s, uint8_t *buf, size_t cap, size_t *len, char *err,
		       size_t err_len)
{
	bool v6 = d->family == AF_INET6;
	size_t l3_len = v6 ? LIBNET_IPV6_H : LIBNET_IPV4_H;
	size_t tcp_len = LIBNET_TCP_H + s->opts_len + s->len;
	uint8_t *pkt = NULL;
	uint32_t pkt_len = 0;

	if ((d->family != AF_INET && !v6) || s->opts_len > 40 || s->opts_len % 4 ||
	    l3_len + tcp_len > FORGE_MAX_MTU) {
		snprintf(err, err_len, "cannot build a frame: family %d, %zu bytes of TCP",
			 d->family, tcp_len);
		return -EINVAL;
	}
	libnet_clear_packet(ln);
	/* libnet builds from the innermost header outwards */
	if (s->opts_len && libnet_build_tcp_options(s->opts, s->opts_len, ln, 0) < 0)
		return libnet_failed(ln, "libnet_build_tcp_options", err, err_len);
	if (libnet_build_tcp(d->src_port, d->dst_port, s->seq, s->ack, s->flags, FORGE_WINDOW, 0, 0,
			     (uint16_t)tcp_len, s->len ? s->payload : NULL, (uint32_t)s->len, ln,
			     0) < 0)
		return libnet_failed(ln, "libnet_build_tcp", err, err_len);
	if (v6) {
		struct libnet_in6_addr src, dst;

		memcpy(&src, d->src_addr, 16);
		memcpy(&dst, d->dst_addr, 16);
		if (libnet_build_ipv6(0, 0, (uint16_t)tcp_len, IPPROTO_TCP, FORGE_TTL, src, dst,
				      NULL, 0, ln, 0) < 0)
			return libnet_failed(ln, "libnet_build_ipv6", err, err_len);
	} else {
		uint32_t src, dst;

		memcpy(&src, d->src_addr, 4);
		memcpy(&dst, d->dst_addr, 4);
		if (libnet_build_ipv4((uint16_t)(l3_len + tcp_len), 0, s->ip_id, FORGE_IP_DF,
				      FORGE_TTL, IPPROTO_TCP, 0, src, dst, NULL, 0, ln, 0) < 0)
			return libnet_failed(ln, "libnet_build_ipv4", err, err_len);
	}
	uint16_t type = v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IP;

	if (d->vlan) {
		if (libnet_build_802_1q(d->dst_mac, d->src_mac, ETHERTYPE_VLAN, 0, 0,
					(uint16_t)d->vlan, type, NULL, 0, ln, 0) < 0)
			return libnet_failed(ln, "libnet_build_802_1q", err, err_len);
	} else if (libnet_build_ethernet(d->dst_mac, d->src_mac, type, NULL, 0, ln, 0) < 0) {
		return libnet_failed(ln, "libnet_build_ethernet", err, err_len);
	}
	/* libnet 1.1.6's libnet_adv_cull_packet() refuses a LIBNET_NONE context ("advanced link
	 * mode not enabled"); libnet_pblock_coalesce() is what it calls, declared in libnet.h,
	 * and assembles the frame and fills in the checksums in any context. */
	if (libnet_pblock_coalesce(ln, &pkt, &pkt_len) < 0)
		return libnet_failed(ln, "libnet_pblock_coalesce", err, err_len);
	int ret = 0;

	if (pkt_len > cap) {
		snprintf(err, err_len, "libnet built a %u-byte frame, more than %zu", pkt_len, cap);
		ret = -EMSGSIZE;
	} else {
		memcpy(buf, pkt, pkt_len);
		*len = pkt_len;
	}
	libnet_adv_free_packet(ln, pkt);
	libnet_clear_packet(ln);
	return ret;
}
