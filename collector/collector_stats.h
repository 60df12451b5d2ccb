/* The collector's counters and their Prometheus text (node_exporter textfile convention) and
 * one-line log summary. Pure formatting of a snapshot, so unit tests check the exact text.
 * Metric names are listed in docs/metrics.md. */
#ifndef SSLC_COLLECTOR_STATS_H
#define SSLC_COLLECTOR_STATS_H

#include "metrics.h"
#include "output.h"

#include <sslcollector/pcap_stream.h>
#include <sslcollector/tunnel.h>

#include <stdint.h>

#define MALFORMED_REASONS 12 /* indexed by -pcap_stream_result (1..10 used) */

enum refuse_reason {
	REFUSE_HANDSHAKES_FULL = 0, /* --max-handshakes in progress: the oldest one is closed */
	REFUSE_MAX_AGENTS,	    /* --max-agents agents already connected */
	REFUSE_VLAN_EXHAUSTED,	    /* --vlan-per-agent: no VLAN id left */
	REFUSE_SOURCE_LIMIT,	    /* --max-handshakes-per-source from that address (/64) */
	REFUSE_N,
};

enum turn_cut {
	CUT_BYTES = 0, /* an agent's loop turn ended by its byte budget */
	CUT_RECORDS,   /* by its TLS record budget */
	CUT_TIME,      /* by its time budget */
	CUT_N,
};

enum disconnect_reason {
	DISC_PEER_CLOSED = 0, /* the agent ended its stream at a record boundary */
	DISC_MALFORMED,	      /* we dropped it for a bad record */
	DISC_CONN_ERROR,      /* TLS or socket error */
	DISC_SHUTDOWN,	      /* the collector stopped */
	DISC_IDLE,	      /* nothing received for --agent-idle-timeout */
	DISC_REPLACED,	      /* a newer session of its subject beyond --max-sessions-per-agent */
	DISC_UNAUTHORISED,    /* after a reload (SIGHUP): revoked, expired or no longer allowed */
	DISC_KEY_UPDATES,     /* more than MAX_KEY_UPDATES TLS KeyUpdates in a 250 ms tick */
	DISC_N,
};

/* Per certificate subject, kept while the collector runs (also gives the stable VLAN id). */
struct subject_stats {
	char subject[256];
	char label[300];    /* 'agent="..."', escaped */
	int vlan;	    /* 0: none */
	uint64_t connected; /* gauge: sessions up now */
	uint64_t connections, records, bytes, malformed;
};

struct collector_stats {
	uint64_t accepted;
	uint64_t refused[REFUSE_N];
	uint64_t handshakes;
	uint64_t hs_failures[TUNNEL_HS_N];
	uint64_t cert_verify_failures;
	uint64_t disconnections[DISC_N];
	uint64_t agents_connected, handshakes_in_progress; /* gauges */
	uint64_t max_agents, max_handshakes;		   /* gauges: the limits in force */
	uint64_t accept_pauses;		   /* out of file descriptors: listening paused 250 ms */
	uint64_t turns_cut[CUT_N];	   /* fairness: an agent's turn ended by a budget */
	uint64_t certificate_conflicts;	   /* a subject live with two different certificates */
	uint64_t frames_not_tcp;	   /* --tcp-only: frames not IPv4/IPv6 TCP, dropped */
	uint64_t reloads, reload_failures; /* SIGHUP: --crl and --allow read again */
	uint64_t records, bytes;
	uint64_t malformed[MALFORMED_REASONS];
	struct subject_stats **subjects;
	size_t n_subjects;
	struct output *outputs[2];
	size_t n_outputs;
};

const char *refuse_reason_name(enum refuse_reason r);
const char *disconnect_reason_name(enum disconnect_reason r);

/* Appends every family (HELP, TYPE, samples) to m. */
void collector_stats_format(const struct collector_stats *st, struct metrics_buf *m);
/* Totals at the previous summary, so the next one tells what happened since. */
struct collector_summary_prev {
	uint64_t accepted, hs_failed, malformed, disconnections, records, bytes, injected, dropped;
};

/* "3 agents (1 handshaking); last 60 s: 2 accepted, 1 failed handshakes, 0 malformed,
 * 12000 frames (15.1 MB) received, 12000 injected, 0 dropped". Updates *prev. */
void collector_stats_summary(const struct collector_stats *st, struct collector_summary_prev *prev,
			     unsigned period_s, char *out, size_t out_len);

#endif
