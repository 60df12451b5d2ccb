/* The PCAP-over-IP record parser: good streams in both byte orders and any split (whole,
 * byte at a time, random), and every error it names, with the same result however the bytes
 * arrive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sslcollector/pcap_stream.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MTU 1500

struct stream {
	uint8_t b[1 << 16];
	size_t len;
	bool be; /* write big-endian */
};

static void put32(struct stream *s, uint32_t v)
{
	if (s->be)
		v = __builtin_bswap32(v);
	memcpy(s->b + s->len, &v, 4);
	s->len += 4;
}

static void put16(struct stream *s, uint16_t v)
{
	if (s->be)
		v = __builtin_bswap16(v);
	memcpy(s->b + s->len, &v, 2);
	s->len += 2;
}

static void global(struct stream *s, uint32_t magic, uint16_t major, uint16_t minor,
		   uint32_t snaplen, uint32_t linktype)
{
	put32(s, magic);
	put16(s, major);
	put16(s, minor);
	put32(s, 0);
	put32(s, 0);
	put32(s, snaplen);
	put32(s, linktype);
}

static void good_global(struct stream *s)
{
	global(s, PCAP_STREAM_MAGIC_USEC, 2, 4, PCAP_STREAM_SNAPLEN, 1);
}

static void record_hdr(struct stream *s, uint32_t sec, uint32_t frac, uint32_t caplen,
		       uint32_t origlen)
{
	put32(s, sec);
	put32(s, frac);
	put32(s, caplen);
	put32(s, origlen);
}

/* A frame of len bytes: ethertype IPv4 (or an 802.1Q tag), bytes numbered from seed. */
static void frame(struct stream *s, uint32_t len, bool tagged, uint8_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		s->b[s->len + i] = (uint8_t)(seed + i);
	if (len >= 14) {
		s->b[s->len + 12] = tagged ? 0x81 : 0x08;
		s->b[s->len + 13] = 0x00;
	}
	s->len += len;
}

static void record(struct stream *s, uint32_t len, bool tagged, uint8_t seed)
{
	record_hdr(s, 1700000000, 123456, len, len);
	frame(s, len, tagged, seed);
}

struct result {
	int frames;
	uint32_t lens[8];
	uint8_t first[8], last[8];
	bool tagged[8];
	uint64_t ts[8];
	int error;
	uint64_t error_offset;
};

/* Feeds s in chunks of `chunk` bytes (0: random sizes), then finishes the stream. */
static struct result run(const struct stream *s, size_t chunk, uint32_t mtu)
{
	struct pcap_stream_limits lim = {.mtu = mtu};
	struct pcap_stream_decoder d;
	static uint8_t buf[65535 + 18];
	struct result r = {0};
	size_t off = 0;

	assert_int_equal(pcap_stream_decoder_init(&d, &lim, buf, sizeof(buf)), 0);
	while (off < s->len && !r.error) {
		size_t n = chunk ? chunk : (size_t)(rand() % 700) + 1;
		const uint8_t *p = s->b + off;
		struct pcap_stream_frame f;
		int ret;

		if (n > s->len - off)
			n = s->len - off;
		size_t left = n;
		while ((ret = pcap_stream_next(&d, &p, &left, &f)) == PCAP_STREAM_FRAME) {
			assert_true(r.frames < 8);
			r.lens[r.frames] = f.len;
			r.first[r.frames] = f.data[0];
			r.last[r.frames] = f.data[f.len - 1];
			r.tagged[r.frames] = f.vlan_tagged;
			r.ts[r.frames] = f.ts_ns;
			r.frames++;
		}
		if (ret < 0) {
			r.error = ret;
			r.error_offset = d.offset;
			/* sticky */
			assert_int_equal(pcap_stream_next(&d, &p, &left, &f), ret);
			break;
		}
		assert_int_equal(ret, PCAP_STREAM_NEED_MORE);
		assert_int_equal(left, 0);
		off += n;
	}
	if (!r.error) {
		r.error = pcap_stream_finish(&d);
		r.error_offset = d.offset;
	}
	return r;
}

static void assert_same(const struct result *a, const struct result *b)
{
	assert_int_equal(a->frames, b->frames);
	assert_int_equal(a->error, b->error);
	assert_int_equal(a->error_offset, b->error_offset);
	for (int i = 0; i < a->frames; i++) {
		assert_int_equal(a->lens[i], b->lens[i]);
		assert_int_equal(a->first[i], b->first[i]);
		assert_int_equal(a->last[i], b->last[i]);
		assert_int_equal(a->ts[i], b->ts[i]);
	}
}

/* Whole, byte at a time, 7 at a time and random splits give the same result. */
static struct result run_all_splits(const struct stream *s, uint32_t mtu)
{
	struct result whole = run(s, s->len, mtu), r;

	r = run(s, 1, mtu);
	assert_same(&whole, &r);
	r = run(s, 7, mtu);
	assert_same(&whole, &r);
	for (int i = 0; i < 5; i++) {
		r = run(s, 0, mtu);
		assert_same(&whole, &r);
	}
	return whole;
}

static void good_stream(bool be)
{
	static struct stream s;
	struct result r;

	memset(&s, 0, sizeof(s));
	s.be = be;
	good_global(&s);
	record(&s, 60, false, 1);
	record(&s, MTU + 14, false, 2); /* the largest untagged frame */
	record(&s, MTU + 18, true, 3);	/* the largest tagged frame */
	record(&s, 14, false, 4);	/* just an Ethernet header */
	r = run_all_splits(&s, MTU);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.frames, 4);
	assert_int_equal(r.lens[0], 60);
	assert_int_equal(r.lens[1], MTU + 14);
	assert_int_equal(r.lens[2], MTU + 18);
	assert_int_equal(r.lens[3], 14);
	assert_int_equal(r.first[1], 2);
	assert_int_equal(r.last[1], (uint8_t)(2 + MTU + 13));
	assert_false(r.tagged[0]);
	assert_true(r.tagged[2]);
	assert_int_equal(r.ts[0], 1700000000ULL * 1000000000ULL + 123456000ULL);
}

static void test_good_little_endian(void **state)
{
	(void)state;
	good_stream(false);
}

static void test_good_big_endian(void **state)
{
	(void)state;
	good_stream(true);
}

static void test_nanosecond_magic(void **state)
{
	static struct stream s;
	struct result r;

	(void)state;
	memset(&s, 0, sizeof(s));
	global(&s, PCAP_STREAM_MAGIC_NSEC, 2, 4, 65535, 1);
	record_hdr(&s, 10, 999999999, 60, 60);
	frame(&s, 60, false, 0);
	r = run_all_splits(&s, MTU);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.frames, 1);
	assert_int_equal(r.ts[0], 10999999999ULL);
}

static void test_encoder_round_trip(void **state)
{
	static struct stream s;
	uint8_t hdr[PCAP_STREAM_RECORD_HDR];
	struct result r;

	(void)state;
	memset(&s, 0, sizeof(s));
	pcap_stream_global_header(s.b);
	s.len = PCAP_STREAM_GLOBAL_HDR;
	pcap_stream_record_header(hdr, 100, 1234567891234567890ULL);
	memcpy(s.b + s.len, hdr, sizeof(hdr));
	s.len += sizeof(hdr);
	frame(&s, 100, false, 9);
	r = run_all_splits(&s, MTU);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.frames, 1);
	assert_int_equal(r.ts[0], 1234567891234567000ULL); /* microseconds on the wire */
}

/* One bad stream: the error, where it is found, and words from its message. */
static void expect_error(const struct stream *s, int err, uint64_t offset, const char *words)
{
	struct pcap_stream_limits lim = {.mtu = MTU};
	struct pcap_stream_decoder d;
	static uint8_t buf[MTU + 18];
	const uint8_t *p = s->b;
	size_t left = s->len;
	struct pcap_stream_frame f;
	char msg[400];
	struct result r = run_all_splits(s, MTU);
	int ret;

	assert_int_equal(r.error, err);
	assert_int_equal(r.error_offset, offset);
	/* the message names the bad value */
	assert_int_equal(pcap_stream_decoder_init(&d, &lim, buf, sizeof(buf)), 0);
	while ((ret = pcap_stream_next(&d, &p, &left, &f)) == PCAP_STREAM_FRAME)
		;
	if (ret == PCAP_STREAM_NEED_MORE)
		ret = pcap_stream_finish(&d);
	assert_int_equal(ret, err);
	pcap_stream_describe(&d, ret, msg, sizeof(msg));
	if (!strstr(msg, words))
		print_error("message '%s' lacks '%s'\n", msg, words);
	assert_non_null(strstr(msg, words));
	assert_string_not_equal(pcap_stream_error_name(err), "failed");
}

static void test_header_errors(void **state)
{
	static struct stream s;

	(void)state;
	memset(&s, 0, sizeof(s));
	global(&s, 0x47455420, 2, 4, PCAP_STREAM_SNAPLEN, 1); /* "GET " read as a magic */
	expect_error(&s, PCAP_STREAM_ERR_BAD_MAGIC, 24, "magic 0x20544547");

	memset(&s, 0, sizeof(s));
	global(&s, PCAP_STREAM_MAGIC_USEC, 2, 3, PCAP_STREAM_SNAPLEN, 1);
	expect_error(&s, PCAP_STREAM_ERR_BAD_VERSION, 24, "version 2.3");

	memset(&s, 0, sizeof(s));
	global(&s, PCAP_STREAM_MAGIC_USEC, 2, 4, 1500, 1);
	expect_error(&s, PCAP_STREAM_ERR_BAD_SNAPLEN, 24, "snaplen 1500");

	memset(&s, 0, sizeof(s));
	s.be = true;
	global(&s, PCAP_STREAM_MAGIC_USEC, 2, 4, PCAP_STREAM_SNAPLEN, 113); /* Linux cooked */
	expect_error(&s, PCAP_STREAM_ERR_BAD_LINKTYPE, 24, "link type 113");
}

static void test_record_errors(void **state)
{
	static struct stream s;

	(void)state;
	memset(&s, 0, sizeof(s));
	good_global(&s);
	record(&s, 60, false, 0);
	record_hdr(&s, 1, 1000000, 60, 60);
	expect_error(&s, PCAP_STREAM_ERR_BAD_TIMESTAMP, 24 + 76 + 16, "fraction 1000000");

	memset(&s, 0, sizeof(s));
	good_global(&s);
	record_hdr(&s, 1, 0, 60, 1514);
	expect_error(&s, PCAP_STREAM_ERR_CAPLEN_MISMATCH, 40,
		     "length 60 differs from the "
		     "original length 1514");

	memset(&s, 0, sizeof(s));
	good_global(&s);
	record_hdr(&s, 1, 0, 1u << 31, 1u << 31);
	expect_error(&s, PCAP_STREAM_ERR_CAPLEN_OVER_SNAPLEN, 40,
		     "2147483648 exceeds the "
		     "stream's snaplen 262144");

	memset(&s, 0, sizeof(s));
	good_global(&s);
	record_hdr(&s, 1, 0, 13, 13);
	frame(&s, 13, false, 0);
	expect_error(&s, PCAP_STREAM_ERR_FRAME_TOO_SHORT, 40, "frame of 13 bytes");

	memset(&s, 0, sizeof(s)); /* a VLAN tag needs 18 bytes */
	good_global(&s);
	record_hdr(&s, 1, 0, 16, 16);
	frame(&s, 16, true, 0);
	expect_error(&s, PCAP_STREAM_ERR_FRAME_TOO_SHORT, 56, "frame of 16 bytes");

	memset(&s, 0, sizeof(s)); /* above MTU + 18: refused from its header */
	good_global(&s);
	record_hdr(&s, 1, 0, 9014, 9014);
	expect_error(&s, PCAP_STREAM_ERR_FRAME_TOO_LARGE, 40, "--mtu 1500");

	memset(&s, 0, sizeof(s)); /* untagged, one byte over MTU + 14 */
	good_global(&s);
	record(&s, 60, false, 0);
	record(&s, MTU + 15, false, 0);
	expect_error(&s, PCAP_STREAM_ERR_FRAME_TOO_LARGE, 24 + 76 + 16 + MTU + 15,
		     "frame of 1515 bytes");
}

static void test_truncated(void **state)
{
	static struct stream s;

	(void)state;
	memset(&s, 0, sizeof(s));
	good_global(&s);
	s.len = 10;
	expect_error(&s, PCAP_STREAM_ERR_TRUNCATED, 10, "pcap global header");

	memset(&s, 0, sizeof(s));
	good_global(&s);
	record(&s, 60, false, 0);
	record_hdr(&s, 1, 0, 60, 60);
	s.len -= 3;
	expect_error(&s, PCAP_STREAM_ERR_TRUNCATED, 24 + 76 + 13, "record header");

	memset(&s, 0, sizeof(s));
	good_global(&s);
	record(&s, 100, false, 0);
	s.len -= 1;
	expect_error(&s, PCAP_STREAM_ERR_TRUNCATED, 24 + 115, "middle of the frame");
}

static void test_clean_ends(void **state)
{
	struct pcap_stream_limits lim = {.mtu = MTU};
	struct pcap_stream_decoder d;
	static uint8_t buf[MTU + 18];
	static struct stream s;
	struct result r;

	(void)state;
	/* nothing at all, and a header with no records, end cleanly */
	assert_int_equal(pcap_stream_decoder_init(&d, &lim, buf, sizeof(buf)), 0);
	assert_int_equal(pcap_stream_finish(&d), 0);
	memset(&s, 0, sizeof(s));
	good_global(&s);
	r = run_all_splits(&s, MTU);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.frames, 0);
}

static void test_init_checks(void **state)
{
	struct pcap_stream_limits lim = {.mtu = MTU};
	struct pcap_stream_decoder d;
	static uint8_t buf[70000];
	const uint8_t *p = buf;
	size_t left = 1;
	struct pcap_stream_frame f;

	(void)state;
	assert_int_equal(pcap_stream_frame_buf_size(&lim), MTU + 18);
	assert_int_equal(pcap_stream_decoder_init(&d, &lim, buf, MTU + 17), -EINVAL);
	/* a decoder that failed to start refuses input */
	assert_int_equal(pcap_stream_next(&d, &p, &left, &f), PCAP_STREAM_ERR_FAILED);
	lim.mtu = 67;
	assert_int_equal(pcap_stream_decoder_init(&d, &lim, buf, sizeof(buf)), -EINVAL);
	lim.mtu = 65536;
	assert_int_equal(pcap_stream_decoder_init(&d, &lim, buf, sizeof(buf)), -EINVAL);
	lim.mtu = 65535;
	assert_int_equal(pcap_stream_decoder_init(&d, &lim, NULL, sizeof(buf)), -EINVAL);
	assert_int_equal(pcap_stream_decoder_init(&d, &lim, buf, sizeof(buf)), 0);
}

/* A 9000-byte MTU (jumbo frames) takes 9014-byte frames whole. */
static void test_jumbo_mtu(void **state)
{
	static struct stream s;
	struct result r;

	(void)state;
	memset(&s, 0, sizeof(s));
	good_global(&s);
	record(&s, 9014, false, 5);
	r = run_all_splits(&s, 9000);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.frames, 1);
	assert_int_equal(r.lens[0], 9014);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_little_endian), cmocka_unit_test(test_good_big_endian),
	    cmocka_unit_test(test_nanosecond_magic),   cmocka_unit_test(test_encoder_round_trip),
	    cmocka_unit_test(test_header_errors),      cmocka_unit_test(test_record_errors),
	    cmocka_unit_test(test_truncated),	       cmocka_unit_test(test_clean_ends),
	    cmocka_unit_test(test_init_checks),	       cmocka_unit_test(test_jumbo_mtu),
	};

	srand(42);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
