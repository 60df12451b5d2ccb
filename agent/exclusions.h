/* What the agent keeps out of its own mirror: its tunnel's connection, excluded by its
 * addresses before the handshake (from the tunnel's thread), and the connections the loop
 * guard cut (agent/loopguard.h); both published for --list (state.h). */
#ifndef SSLC_EXCLUSIONS_H
#define SSLC_EXCLUSIONS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "capture.h"
#include "mirror.h"

struct exclusions {
	struct capture *cap;
	uint32_t netns;
	bool ready;
	pthread_mutex_t lock; /* the fields below: the tunnel's thread writes them */
	char tunnel[200];     /* the --list line of the tunnel's connection, or "" */
	bool changed;
	uint64_t cut_gen; /* mirror_cut_generation() last published */
};

/* Fills the mirror's hooks (ctx: ex) for the capture cap of namespace netns. */
void exclusions_init(struct exclusions *ex, struct capture *cap, uint32_t netns,
		     struct mirror_hooks *hooks);
/* Publishes for --list what changed since the last call (m may be NULL). */
void exclusions_publish(struct exclusions *ex, const struct mirror *m);
/* At exit: the published file goes. */
void exclusions_end(struct exclusions *ex);

#endif
