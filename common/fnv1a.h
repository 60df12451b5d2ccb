/* FNV-1a, 64 bits: a cheap, stable hash for keys made inside the program (connection keys,
 * derived MAC addresses). Not for anything an attacker may choose to collide. */
#ifndef SSLC_FNV1A_H
#define SSLC_FNV1A_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_OFFSET 0xcbf29ce484222325ULL

static inline uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#endif
