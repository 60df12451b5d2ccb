/* forge/csum.c: the Internet checksum (RFC 1071) for forge's frames and for the sinks: a
 * running one's-complement sum over any buffer, and the final fold. */
#include <string.h>

#include "sslcollector/forge.h"

/* Sums 32-bit words into 64-bit lanes: 2^16 == 1 (mod 0xffff), so a one's-complement sum of
 * 32-bit words folds to the same checksum as one of 16-bit words, and memory-order loads
 * make the result come out in network order on either endianness. The generic 16-byte vector
 * type is one SSE2 (or NEON) register, plain 64-bit arithmetic elsewhere; two of them per
 * 32 bytes keep two additions in flight. (GCC 12 lowers a 32-byte generic vector poorly
 * without AVX: 10.7 GB/s against 28.6 GB/s for this form, 1460-byte buffers, one core.) */
typedef uint64_t forge_u64x2 __attribute__((vector_size(16)));

/* Up to this many bytes the 64-bit lanes cannot overflow (each adds < 2^32 per 8 bytes). */
#define CSUM_CHUNK ((size_t)1 << 30)

static inline uint32_t fold64(uint64_t s)
{
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

static uint64_t sum_chunk(const uint8_t *p, size_t len)
{
	const forge_u64x2 lo_mask = {0xffffffffu, 0xffffffffu};
	forge_u64x2 lo0 = {0, 0}, hi0 = {0, 0}, lo1 = {0, 0}, hi1 = {0, 0};
	uint64_t acc = 0;

	for (; len >= 32; p += 32, len -= 32) {
		forge_u64x2 v0, v1;

		memcpy(&v0, p, sizeof(v0));
		memcpy(&v1, p + 16, sizeof(v1));
		lo0 += v0 & lo_mask;
		hi0 += v0 >> 32;
		lo1 += v1 & lo_mask;
		hi1 += v1 >> 32;
	}
	lo0 += lo1;
	hi0 += hi1;
	for (int i = 0; i < 2; i++)
		acc += (uint64_t)fold64(lo0[i]) + fold64(hi0[i]);
	for (; len >= 4; p += 4, len -= 4) {
		uint32_t w;

		memcpy(&w, p, sizeof(w));
		acc += w;
	}
	if (len) {
		/* zero padding after the last byte, as RFC 1071 pads an odd length */
		uint32_t w = 0;

		memcpy(&w, p, len);
		acc += w;
	}
	return acc;
}

/* The returned sum can be passed back as sum to continue over the next piece; every piece but
 * the last must then have an even length (the usual rule for chained Internet checksums). */
uint32_t forge_csum_partial(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t acc = sum;

	while (len) {
		size_t n = len < CSUM_CHUNK ? len : CSUM_CHUNK;

		acc = fold64(acc) + (uint64_t)fold64(sum_chunk(p, n));
		p += n;
		len -= n;
	}
	return fold64(acc);
}

uint16_t forge_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)~sum;
}
