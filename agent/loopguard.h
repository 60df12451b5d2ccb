/* The loop guard: recognises a mirrored connection that carries the agent's own output back to
 * it (a relay of the tunnel, a collector under another name, `-w -` piped into a TLS upload,
 * a collector on another host whose agent mirrors back to us), so that it can be cut before
 * the mirror feeds itself without end.
 *
 * It remembers a keyed hash of the headers of every frame recently emitted (Ethernet, IP and
 * TCP: the TCP sequence numbers start at random and the checksum covers the payload, so no
 * other program can produce them without reading this agent's output), and looks for them in
 * the plaintext captured on each connection. Finding two is proof: bytes that only this
 * agent wrote came back through that connection. Bytes an application merely repeats (the
 * same download twice) never match, because the headers were never in the application's
 * data. A connection is sampled, not read whole: SCAN bytes of every STRIDE of each direction,
 * which keeps the cost at a few per cent of the bytes captured and finds a loop within a few
 * hundred KiB. Pure code: no I/O, never prints. */
#ifndef SSLC_LOOPGUARD_H
#define SSLC_LOOPGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOOPGUARD_SCAN	  4096u	 /* bytes looked at ... */
#define LOOPGUARD_STRIDE  65536u /* ... in every this many of a direction */
#define LOOPGUARD_MATCHES 2u	 /* frames of ours found: the connection is a loop */

struct loopguard;

/* One direction of one connection: where the next sample starts, what was found. */
struct loopguard_stream {
	uint64_t offset;      /* bytes of the direction seen */
	uint64_t next_sample; /* offset where the next sample starts */
	uint32_t matches;     /* frames of ours found */
};

int loopguard_new(struct loopguard **out);
void loopguard_free(struct loopguard *lg); /* accepts NULL */

/* A frame this agent emits (at least its headers: Ethernet, IP, TCP). */
void loopguard_note_frame(struct loopguard *lg, const uint8_t *frame, size_t len);

/* The next len bytes of a direction's captured plaintext; true once the direction has carried
 * LOOPGUARD_MATCHES of our frames. */
bool loopguard_check(const struct loopguard *lg, struct loopguard_stream *s, const uint8_t *data,
		     size_t len);

/* Frames of ours found in data (every byte looked at); for tests and the fuzzer. */
unsigned loopguard_scan(const struct loopguard *lg, const uint8_t *data, size_t len);

#endif
