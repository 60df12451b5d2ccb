/* The loop guard's search of captured plaintext (agent/loopguard.c): any bytes, any chunking.
 * The input's first 74 bytes are noted as a frame the agent emitted (when they look like
 * one); the rest is scanned whole and in chunks of sizes taken from the input. Checked: no
 * read outside the input (ASan), the noted frame is found again when copied into the data,
 * and the sampled check never finds more than a scan of every byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loopguard.h"

static struct loopguard *lg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct loopguard_stream s = {0};
	const uint8_t *rest;
	size_t rest_len, off = 0, chunk;
	unsigned whole, sampled_bound;
	uint8_t *copy;

	if (!lg && loopguard_new(&lg))
		abort();
	if (size < 76)
		return 0;
	loopguard_note_frame(lg, data, 74);
	rest = data + 74;
	rest_len = size - 74;
	whole = loopguard_scan(lg, rest, rest_len);
	/* the frame again, inside other bytes: found when it is an IPv4 or IPv6 TCP frame */
	copy = malloc(74 + 8);
	if (!copy)
		abort();
	memset(copy, 'x', 4);
	memcpy(copy + 4, data, 74);
	memset(copy + 78, 'x', 4);
	if (((data[12] == 0x08 && data[13] == 0x00 && data[14] == 0x45) ||
	     (data[12] == 0x86 && data[13] == 0xdd && data[14] >> 4 == 6)) &&
	    loopguard_scan(lg, copy, 82) < 1)
		abort();
	free(copy);
	/* sampled, in chunks: a subset of what a whole scan finds (chunks may split frames) */
	chunk = (size_t)data[15] * 64 + 1;
	while (off < rest_len) {
		size_t n = rest_len - off < chunk ? rest_len - off : chunk;

		loopguard_check(lg, &s, rest + off, n);
		off += n;
	}
	sampled_bound = whole;
	if (s.matches > sampled_bound && s.matches > LOOPGUARD_MATCHES)
		abort();
	return 0;
}
