/* Turns captured events into forged TCP connections (forge/) and sends their frames to the
 * outputs: -o IFACE, -w FILE and the tunnel (-t). One flow per conn_id; both ends of a
 * connection on this host are mirrored once; idle flows are closed; after a tunnel reconnect
 * every flow restarts with a fresh handshake. */
#ifndef SSLC_MIRROR_H
#define SSLC_MIRROR_H

#include <stdbool.h>
#include <stdint.h>

#include "local_addrs.h"
#include "metrics.h"
#include "sslcollector/config.h"
#include "sslcollector/event.h"

struct mirror;

/* Opens the outputs of opts. On failure err names the output and why. */
/* What the mirror asks of the capture: keep the tunnel's own connection out of it, and stop
 * capturing a connection found to carry our output back (loopguard.h). */
struct mirror_hooks {
	/* the tunnel's TCP socket is up, before its handshake (up), or about to close; called
	 * on the tunnel's thread; a negative errno refuses the connection */
	int (*own_socket)(void *ctx, int fd, bool up);
	/* conn_id was cut from the mirror (on), or has ended since (off) */
	int (*cut)(void *ctx, uint64_t conn_id, bool on);
	void *ctx;
	/* the 802.1Q VLAN id of a network namespace's connections (0: the --vlan default); NULL:
	 * every connection gets the default */
	uint16_t (*vlan_of)(void *ctx, const struct sslc_conn *c);
	void *vlan_ctx;
};

/* hooks: may be NULL (tests, replays). */
int mirror_open(const struct sslc_options *opts, const struct mirror_hooks *hooks,
		struct mirror **out, char *err, size_t err_len);
/* The local addresses (for the local end's Ethernet address); kept by the caller. */
void mirror_set_addrs(struct mirror *m, const struct local_addrs *addrs);
/* One DATA, GAP or CLOSE event. role: resolved client/server role of the local end.
 * wall_ns: CLOCK_REALTIME of the event. */
int mirror_event(struct mirror *m, const struct sslc_event *e, uint8_t role, uint64_t wall_ns);
/* Periodic work: idle timeouts, delayed ACKs of data no later event acknowledged (sent
 * DELACK_SLACK_NS after they were due, stamped when they were due), tunnel reconnects. */
void mirror_tick(struct mirror *m, uint64_t wall_ns);
/* Sends what the outputs have batched. Called after each batch of events; the frames forged
 * do not depend on when it is called. */
void mirror_flush(struct mirror *m);
/* At stop, before the final counters: every mirrored connection is closed (FIN), and every
 * output has sent or written all its frames. Accepts NULL. */
void mirror_end(struct mirror *m);
/* SIGHUP: each -w file that was moved away (log rotation) is started again under its name;
 * logs what it did. */
void mirror_reopen(struct mirror *m);
/* True when the -o outputs send payloads from where forge found them (the ring buffer
 * record of the event): then mirror_release() must run before the record's space is reused
 * (capture_set_sync). */
bool mirror_holds_payloads(const struct mirror *m);
/* mirror_flush() as a capture_sync_fn (ctx: the mirror): afterwards nothing refers to the
 * events' bytes any more. */
void mirror_release(void *ctx);
/* Appends the mirror's metrics (flows, frames, drops per output, tunnel). */
void mirror_metrics(struct mirror *m, struct metrics_buf *mb);
/* One-line summary for the status line and the log. */
void mirror_summary(struct mirror *m, char *out, size_t len);
/* Connections cut as loops and still open: one line each into out; changes of the set are
 * told by the generation. */
size_t mirror_cut_list(const struct mirror *m, char *out, size_t len);
uint64_t mirror_cut_generation(const struct mirror *m);
/* Closes every flow (FIN), flushes and closes the outputs; accepts NULL. */
void mirror_close(struct mirror *m);

#endif
