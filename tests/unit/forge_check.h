/* tests/unit/forge_check.h: what the forge tests share: a capture emit callback and a frame
 * parser with its own RFC 1071 checksum, written apart from forge so that it can check it. */
#ifndef SSLC_TEST_FORGE_CHECK_H
#define SSLC_TEST_FORGE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sslcollector/forge.h"

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

struct captured {
	uint8_t *frame;
	size_t len;
	uint64_t ts_ns;
};

/* Emit callback target: keeps a copy of every frame. fail_at: the index of the emit call that
 * returns fail_err instead (or -1). */
struct capture {
	struct captured *v;
	size_t n;
	size_t cap;
	long calls;
	long fail_at;
	int fail_err;
};

int capture_emit(void *ctx, const uint8_t *frame, size_t len, uint64_t ts_ns);
void capture_init(struct capture *c);
void capture_reset(struct capture *c); /* forgets the frames, keeps counting calls */
void capture_free(struct capture *c);

struct pframe {
	size_t len;
	uint8_t dst_mac[6];
	uint8_t src_mac[6];
	bool tagged;
	uint16_t tci;
	uint16_t ethertype;
	int family;
	size_t l3_off;
	/* IPv4 */
	uint8_t ihl;
	uint8_t tos;
	uint32_t ip_len; /* IPv4 total length, IPv6 40 + payload length */
	uint16_t ip_id;
	uint16_t frag;
	uint8_t ttl; /* or hop limit */
	uint8_t proto;
	bool ip_csum_ok;
	uint32_t ip6_flow; /* version, traffic class, flow label */
	uint8_t src[16];
	uint8_t dst[16];
	/* TCP */
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t doff;
	uint8_t flags;
	uint16_t win;
	uint16_t urg;
	bool tcp_csum_ok;
	bool has_mss;
	uint16_t mss;
	bool has_wscale;
	uint8_t wscale;
	int other_opts; /* options other than MSS, window scale, NOP, EOL */
	const uint8_t *payload;
	size_t payload_len;
};

/* Parses an Ethernet[/802.1Q]/IPv4|IPv6/TCP frame and checks its checksums; false if it is
 * malformed (lengths that disagree, not TCP, truncated). */
bool parse_frame(const uint8_t *frame, size_t len, struct pframe *p);

/* A fixed tuple of the family: client 192.0.2.10:40000 / 2001:db8::10, server
 * 198.51.100.20:443 / 2001:db8::1:20, MACs 02:00:00:00:00:01 (client) and :02 (server). */
void make_tuple(struct forge_tuple *t, int family);

/* parse_frame() on captured frame i, failing the test unless the frame is well formed, its
 * checksums are right and the fields forge keeps constant have their values (TTL/hop limit 64,
 * DF, window 65535, no urgent pointer, no options other than MSS and window scale). */
void get_frame(const struct capture *c, size_t i, struct pframe *p);
/* len bytes of a test pattern that differs with seed (malloc'd; at least 1 byte). */
uint8_t *pattern(size_t len, unsigned seed);

/* Fails the test unless p goes from the client to the server of t (or the other way). */
void assert_direction(const struct pframe *p, const struct forge_tuple *t, bool from_client);

/* RFC 1071 over big-endian 16-bit words, the plain way; the complemented checksum. */
uint16_t ref_checksum(const uint8_t *const *parts, const size_t *lens, size_t n_parts);

#endif /* SSLC_TEST_FORGE_CHECK_H */
