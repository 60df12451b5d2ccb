/* Both ends of one connection on this host (a client and a server that talk over loopback or
 * between local addresses) are one connection to the IDS: the first end seen is mirrored, the
 * other is a duplicate. The other end's events can reach the agent after the first end's
 * whole session (request, answer, close) when its thread was descheduled between a write and
 * the return of SSL_write: so an end that ended is remembered for LOCALPAIR_ENDED_NS, and a
 * late other end (the opposite role) is recognised once. The same role is a new connection
 * that reuses the addresses and ports. */
#ifndef SSLC_LOCALPAIR_H
#define SSLC_LOCALPAIR_H

#include "u64map.h"

#include <sslcollector/event.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOCALPAIR_ENDED_NS 10000000000ULL

struct localpair_ended;

/* Zero-initialised before use. */
struct localpair {
	struct u64map ended;		/* connection key -> struct localpair_ended */
	struct localpair_ended **queue; /* every entry, oldest first (they expire in order) */
	size_t head, len, cap;
};

/* The same nonzero value for both ends of one TCP connection (of one network namespace). */
uint64_t localpair_key(const struct sslc_conn *c);
/* The end of connection key that was mirrored (as client or not) ended at wall (ns). Without
 * memory for it the entry is skipped: a late other end is then mirrored as a second copy. */
void localpair_ended(struct localpair *lp, uint64_t key, bool was_client, uint64_t wall);
/* A new end (local_is_client) of connection key at wall: true, once, when it is the other end
 * of one that ended less than LOCALPAIR_ENDED_NS ago. */
bool localpair_other_end(struct localpair *lp, uint64_t key, bool local_is_client, uint64_t wall);
/* Forgets the entries older than LOCALPAIR_ENDED_NS at wall. */
void localpair_expire(struct localpair *lp, uint64_t wall);
void localpair_free(struct localpair *lp);

#endif
