/* forge_csum_partial() / forge_csum_fold() against the plain RFC 1071 loop in forge_check.c:
 * every length up to 600 at every alignment, chained sums, carries, RFC 1071's own example. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "forge_check.h"

/* forge's checksum as the bytes that go into a header */
static uint16_t forge_be(const void *data, size_t len, uint32_t sum)
{
	uint16_t c = forge_csum_fold(forge_csum_partial(data, len, sum));
	const uint8_t *b = (const uint8_t *)&c;

	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint16_t ref(const uint8_t *data, size_t len)
{
	const uint8_t *parts[] = {data};
	const size_t lens[] = {len};

	return ref_checksum(parts, lens, 1);
}

static void fill_random(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void test_rfc1071_example(void **state)
{
	/* RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 */
	const uint8_t b[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};

	(void)state;
	assert_int_equal(forge_be(b, 8, 0), 0xffff - 0xddf2);
	assert_int_equal(ref(b, 8), 0xffff - 0xddf2);
	assert_int_equal(forge_be(b, 0, 0), 0xffff);
}

static void test_lengths_and_alignments(void **state)
{
	uint8_t *buf = malloc(600 + 8);

	(void)state;
	assert_non_null(buf);
	for (size_t align = 0; align < 8; align++) {
		for (size_t len = 0; len <= 600; len++) {
			fill_random(buf + align, len, (uint32_t)(len * 8 + align));
			assert_int_equal(forge_be(buf + align, len, 0), ref(buf + align, len));
		}
	}
	free(buf);
}

static void test_carries(void **state)
{
	const size_t len = 65535;
	uint8_t *buf = malloc(len);

	(void)state;
	assert_non_null(buf);
	memset(buf, 0xff, len);
	for (size_t n = len - 40; n <= len; n++)
		assert_int_equal(forge_be(buf, n, 0), ref(buf, n));
	/* a running sum that is itself near 2^32 */
	assert_int_equal(forge_be(buf, len, 0xffffffffu), forge_be(buf, len, 0));
	memset(buf, 0, len);
	assert_int_equal(forge_be(buf, len, 0), 0xffff);
	free(buf);
}

static void test_chaining(void **state)
{
	uint8_t buf[3001];

	(void)state;
	fill_random(buf, sizeof(buf), 99);
	for (size_t cut = 0; cut <= 3000; cut += 2) {
		uint32_t sum = forge_csum_partial(buf, cut, 0);

		assert_int_equal(forge_be(buf + cut, sizeof(buf) - cut, sum),
				 ref(buf, sizeof(buf)));
	}
	/* three pieces, the way forge sums a pseudo-header, a TCP header and the payload */
	const uint8_t *parts[] = {buf, buf + 12, buf + 32};
	const size_t lens[] = {12, 20, 1461};
	uint32_t sum = forge_csum_partial(buf, 12, 0);

	sum = forge_csum_partial(buf + 12, 20, sum);
	assert_int_equal(forge_be(buf + 32, 1461, sum), ref_checksum(parts, lens, 3));
	assert_int_equal(ref_checksum(parts, lens, 3), ref(buf, 12 + 20 + 1461));
}

/* A buffer with its checksum written in sums to zero (what a receiver checks). */
static void test_verify_roundtrip(void **state)
{
	uint8_t buf[1500];

	(void)state;
	for (uint32_t seed = 1; seed < 200; seed++) {
		size_t len = 20 + seed * 7;
		uint16_t c;

		fill_random(buf, len, seed);
		buf[10] = buf[11] = 0;
		c = forge_csum_fold(forge_csum_partial(buf, len, 0));
		memcpy(buf + 10, &c, 2);
		assert_int_equal(ref(buf, len), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc1071_example),  cmocka_unit_test(test_lengths_and_alignments),
	    cmocka_unit_test(test_carries),	     cmocka_unit_test(test_chaining),
	    cmocka_unit_test(test_verify_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
