/* Private to agent/: the mirror's state (mirror.c: events -> flows -> frames; mirror_report.c:
 * its metrics, summary and the list of cut connections). */
#ifndef SSLC_MIRROR_IMPL_H
#define SSLC_MIRROR_IMPL_H

#include "localpair.h"
#include "loopguard.h"
#include "mirror.h"
#include "output.h"
#include "u64map.h"

#include "sslcollector/forge.h"

#include <stdbool.h>
#include <stdint.h>

#define MAX_OUTPUTS 2
/* mirror_tick sends a flow's delayed ACKs (forge_flow_timer) only this long after they were due:
 * events stamped before the deadline may still be on their way from the ring buffer, and the
 * frames must not depend on when they arrive. Linux's longest delayed-ACK time. */
#define DELACK_SLACK_NS 200000000ULL

struct flow {
	uint64_t conn_id;
	struct forge_flow *ff; /* NULL: not open (closed idle, or restarting) */
	struct forge_tuple tuple;
	bool local_is_client;
	bool duplicate;			  /* the other end of a connection mirrored already */
	bool cut;			  /* carries our own output (a loop): no longer mirrored */
	char *cut_desc;			  /* then: who and where, for --list */
	struct loopguard_stream guard[2]; /* per direction */
	uint64_t key;			  /* connection key in m->by_key (0: not registered) */
	uint64_t last_ns;		  /* wall clock of the last event */
};

struct mirror {
	const struct sslc_options *o;
	struct forge *forge;
	struct output *outs[MAX_OUTPUTS];
	struct output_report out_report[MAX_OUTPUTS];
	size_t n_outs;
	struct u64map flows;	/* conn_id -> flow */
	struct u64map by_key;	/* connection key -> flow, to spot both ends of one connection */
	struct localpair ended; /* the other ends that may still show up (localpair.h) */
	bool hold; /* the -o outputs send payloads from the ring buffer (mirror_release) */
	struct tunnel_client *tunnel;
	uint64_t tunnel_gen; /* the tunnel session the open flows were started in */
	const struct local_addrs *addrs;
	uint64_t idle_ns;
	struct loopguard *guard;
	struct mirror_hooks hooks;
	uint64_t opened, duplicates, reopened_idle, restarted, emit_errors;
	uint64_t loops_cut, loop_bytes_dropped;
	uint64_t cut_gen; /* changes when a connection is cut or a cut one ends */
	uint64_t last_error_log_ns;
};

#endif
