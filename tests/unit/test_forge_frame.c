/* The template path equals libnet: for both families, tagged and untagged, both directions,
 * every flag combination forge uses, TCP options and payloads from 0 bytes to the largest,
 * a frame patched from the per-flow template is byte for byte the frame libnet builds from
 * scratch, and both pass forge_check.c's independent parser and checksums. */
#include <errno.h>
#include <libnet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "forge_check.h"
#include "forge_internal.h"

struct bufs {
	libnet_t *ln;
	uint8_t *patched;
	uint8_t *built;
	uint8_t *payload;
	uint32_t rnd;
};

static int setup(void **state)
{
	char errbuf[LIBNET_ERRBUF_SIZE];
	struct bufs *b = calloc(1, sizeof(*b));

	if (!b)
		return -1;
	b->ln = libnet_init(LIBNET_NONE, NULL, errbuf);
	b->patched = malloc(FORGE_MAX_FRAME);
	b->built = malloc(FORGE_MAX_FRAME);
	b->payload = malloc(FORGE_MAX_MTU);
	if (!b->ln || !b->patched || !b->built || !b->payload)
		return -1;
	for (size_t i = 0; i < FORGE_MAX_MTU; i++)
		b->payload[i] = (uint8_t)(i * 7 + (i >> 9));
	b->rnd = 12345;
	*state = b;
	return 0;
}

static int teardown(void **state)
{
	struct bufs *b = *state;

	libnet_destroy(b->ln);
	free(b->patched);
	free(b->built);
	free(b->payload);
	free(b);
	return 0;
}

static uint32_t next_rnd(struct bufs *b)
{
	b->rnd = b->rnd * 1664525u + 1013904223u;
	return b->rnd;
}

static void check_same(struct bufs *b, const struct forge_hdr_desc *d, const struct forge_seg *s)
{
	struct forge_tmpl tmpl;
	struct pframe p;
	char err[512] = "";
	size_t built_len = 0, patched_len;

	assert_int_equal(forge_tmpl_init(&tmpl, b->ln, d, err, sizeof(err)), 0);
	patched_len = forge_tmpl_frame(&tmpl, s, 0, b->patched);
	assert_int_equal(forge_libnet_frame(b->ln, d, s, b->built, FORGE_MAX_FRAME, &built_len, err,
					    sizeof(err)),
			 0);
	assert_int_equal(patched_len, built_len);
	assert_memory_equal(b->patched, b->built, built_len);

	/* tcp_csum_partial: the pseudo-header's sum in the field; summing the segment over it
	 * gives libnet's frame again */
	assert_int_equal(forge_tmpl_frame(&tmpl, s, FORGE_TMPL_CSUM_PARTIAL, b->patched),
			 built_len);
	uint8_t *tcp = b->patched + tmpl.l4_off;
	size_t tcp_len = built_len - tmpl.l4_off;
	uint16_t csum = forge_csum_fold(forge_csum_partial(tcp, tcp_len, 0));

	assert_memory_not_equal(tcp + 16, b->built + tmpl.l4_off + 16, 2);
	memcpy(tcp + 16, &csum, 2);
	assert_memory_equal(b->patched, b->built, built_len);

	/* headers only (forge_config.emit_parts): the same headers, checksum included, the
	 * payload's place left alone */
	for (unsigned mode = FORGE_TMPL_HDR_ONLY;
	     mode <= (FORGE_TMPL_HDR_ONLY | FORGE_TMPL_CSUM_PARTIAL); mode++) {
		memset(b->patched, 0xa5, FORGE_MAX_FRAME);
		assert_int_equal(forge_tmpl_frame(&tmpl, s, mode, b->patched), built_len);
		if (mode & FORGE_TMPL_CSUM_PARTIAL) /* completed over the headers and the payload */
			memcpy(tcp + 16, &csum, 2);
		assert_memory_equal(b->patched, b->built, built_len - s->len);
		for (size_t i = built_len - s->len; i < built_len; i++)
			assert_int_equal(b->patched[i], 0xa5);
	}
	assert_int_equal(forge_tmpl_frame(&tmpl, s, 0, b->patched), built_len);

	assert_true(parse_frame(b->patched, patched_len, &p));
	assert_true(p.tcp_csum_ok);
	assert_true(p.family == AF_INET6 || p.ip_csum_ok);
	assert_int_equal(p.family, d->family);
	assert_int_equal(p.tagged, d->vlan != 0);
	if (d->vlan)
		assert_int_equal(p.tci, d->vlan);
	assert_memory_equal(p.src_mac, d->src_mac, 6);
	assert_memory_equal(p.dst_mac, d->dst_mac, 6);
	assert_memory_equal(p.src, d->src_addr, d->family == AF_INET ? 4 : 16);
	assert_memory_equal(p.dst, d->dst_addr, d->family == AF_INET ? 4 : 16);
	assert_int_equal(p.sport, d->src_port);
	assert_int_equal(p.dport, d->dst_port);
	assert_int_equal(p.seq, s->seq);
	assert_int_equal(p.ack, s->ack);
	assert_int_equal(p.flags, s->flags);
	assert_int_equal(p.doff, 5 + s->opts_len / 4);
	assert_int_equal(p.payload_len, s->len);
	if (s->len)
		assert_memory_equal(p.payload, s->payload, s->len);
	if (d->family == AF_INET)
		assert_int_equal(p.ip_id, s->ip_id);
}

static void test_template_equals_libnet(void **state)
{
	static const uint8_t flags[] = {
	    FORGE_TH_SYN,
	    FORGE_TH_SYN | FORGE_TH_ACK,
	    FORGE_TH_ACK,
	    FORGE_TH_ACK | FORGE_TH_PSH,
	    FORGE_TH_FIN | FORGE_TH_ACK,
	    FORGE_TH_RST | FORGE_TH_ACK,
	};
	static const uint8_t syn_opts[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, 14};
	static const int vlans[] = {0, 1, 100, 4094};
	uint8_t long_opts[40];
	struct bufs *b = *state;
	size_t cases = 0;

	/* 40 bytes of options: MSS, window scale, then NOPs */
	memset(long_opts, 1, sizeof(long_opts));
	memcpy(long_opts, syn_opts, sizeof(syn_opts));
	for (int fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;
		size_t max = FORGE_MAX_MTU - 20 - (fam ? 40 : 20);
		const size_t lens[] = {0,  1,  2,   3,	  4,	5,    31,   32,	      33, 63,
				       64, 65, 536, 1459, 1460, 8960, 8961, max - 40, max};

		for (size_t vi = 0; vi < sizeof(vlans) / sizeof(vlans[0]); vi++) {
			for (int dir = 0; dir < 2; dir++) {
				struct forge_tuple t;
				struct forge_hdr_desc d;

				make_tuple(&t, family);
				t.client_port = (uint16_t)(next_rnd(b) | 1);
				forge_hdr_desc_init(&d, &t, dir == 0, vlans[vi]);
				for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
					int o = (int)((li + vi) % 3);
					uint8_t opts_len = o == 0 ? 0 : o == 1 ? 8 : 40;
					struct forge_seg s = {
					    .seq = next_rnd(b),
					    .ack = next_rnd(b),
					    .ip_id = (uint16_t)next_rnd(b),
					    .flags = flags[(li + (size_t)dir) % 6],
					    .opts_len = opts_len,
					    .opts = o == 1 ? syn_opts : long_opts,
					    .payload = b->payload + (li % 7),
					    .len = lens[li],
					};

					if (s.len + opts_len > max)
						s.len = max - opts_len;
					check_same(b, &d, &s);
					cases++;
				}
			}
		}
	}
	assert_int_equal(cases, 2 * 4 * 2 * 19);
}

static void test_template_layout(void **state)
{
	struct bufs *b = *state;
	struct forge_tuple t;
	struct forge_hdr_desc d;
	struct forge_tmpl tmpl;
	char err[512];

	make_tuple(&t, AF_INET);
	forge_hdr_desc_init(&d, &t, true, 0);
	assert_int_equal(forge_tmpl_init(&tmpl, b->ln, &d, err, sizeof(err)), 0);
	assert_int_equal(tmpl.l3_off, 14);
	assert_int_equal(tmpl.l4_off, 34);
	assert_int_equal(tmpl.len, 54);
	make_tuple(&t, AF_INET6);
	forge_hdr_desc_init(&d, &t, false, 3000);
	assert_int_equal(forge_tmpl_init(&tmpl, b->ln, &d, err, sizeof(err)), 0);
	assert_int_equal(tmpl.l3_off, 18);
	assert_int_equal(tmpl.l4_off, 58);
	assert_int_equal(tmpl.len, 78);
	assert_true(tmpl.ipv6);
}

static void test_libnet_frame_errors(void **state)
{
	struct bufs *b = *state;
	struct forge_tuple t;
	struct forge_hdr_desc d;
	char err[512] = "";
	size_t len = 0;
	struct forge_seg s = {.flags = FORGE_TH_ACK, .payload = b->payload};

	make_tuple(&t, AF_INET);
	forge_hdr_desc_init(&d, &t, true, 0);
	s.len = 65535 - 40 + 1; /* one byte more than an IPv4 packet holds */
	assert_int_equal(
	    forge_libnet_frame(b->ln, &d, &s, b->built, FORGE_MAX_FRAME, &len, err, sizeof(err)),
	    -EINVAL);
	/* IPv6: the same limit on the whole packet, header included */
	make_tuple(&t, AF_INET6);
	forge_hdr_desc_init(&d, &t, true, 0);
	s.len = 65535 - 60 + 1;
	assert_int_equal(
	    forge_libnet_frame(b->ln, &d, &s, b->built, FORGE_MAX_FRAME, &len, err, sizeof(err)),
	    -EINVAL);
	s.len = 65535 - 60;
	assert_int_equal(
	    forge_libnet_frame(b->ln, &d, &s, b->built, FORGE_MAX_FRAME, &len, err, sizeof(err)),
	    0);
	assert_int_equal(len, 14 + 65535);
	make_tuple(&t, AF_INET);
	forge_hdr_desc_init(&d, &t, true, 0);
	s.len = 100;
	assert_int_equal(forge_libnet_frame(b->ln, &d, &s, b->built, 100, &len, err, sizeof(err)),
			 -EMSGSIZE);
	assert_true(strstr(err, "more than 100") != NULL);
	d.family = AF_UNIX;
	assert_int_equal(
	    forge_libnet_frame(b->ln, &d, &s, b->built, FORGE_MAX_FRAME, &len, err, sizeof(err)),
	    -EINVAL);
	/* the context is still good after the failures */
	d.family = AF_INET;
	assert_int_equal(
	    forge_libnet_frame(b->ln, &d, &s, b->built, FORGE_MAX_FRAME, &len, err, sizeof(err)),
	    0);
	assert_int_equal(len, 14 + 20 + 20 + 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_template_equals_libnet),
	    cmocka_unit_test(test_template_layout),
	    cmocka_unit_test(test_libnet_frame_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
