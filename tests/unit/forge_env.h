/* tests/unit/forge_env.h: a forge, one flow and the capture of its frames, for the flow tests;
 * and check_write(), the frames one write must produce. */
#ifndef SSLC_TEST_FORGE_ENV_H
#define SSLC_TEST_FORGE_ENV_H

#include "forge_check.h"

struct env {
	struct capture cap;
	struct forge *f;
	struct forge_flow *fl;
	struct forge_tuple t;
	uint32_t client_nxt; /* next sequence number of each side, as the frames show it */
	uint32_t server_nxt;
};

/* forge_new(mtu, vlan) and forge_flow_open(); checks the handshake's basic shape and sets the
 * next sequence numbers from it. The capture then holds the three handshake frames. */
void env_open(struct env *e, int family, unsigned mtu, int vlan);
void env_open_cfg(struct env *e, int family, const struct forge_config *cfg);
void env_free(struct env *e);

/* Checks frames [first, ...) as those of one write of data[0..len) with FORGE_ACKS_EACH_WRITE:
 * MSS-sized segments from the writer, PSH only on the last, a pure ACK from the peer before a
 * segment that would leave more than FORGE_ACK_EVERY unacknowledged, and one at the end.
 * Advances the writer's next sequence number; returns the index after the ACK. */
size_t check_write(struct env *e, size_t first, bool from_client, const uint8_t *data, size_t len);

#endif /* SSLC_TEST_FORGE_ENV_H */
