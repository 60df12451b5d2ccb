/* Internal to collector/: the state of the event loop and of each agent connection. */
#ifndef SSLC_COLLECTOR_IMPL_H
#define SSLC_COLLECTOR_IMPL_H

#include "allowlist.h"
#include "collector_stats.h"
#include "sslcollector/config.h"
#include "output.h"
#include "subjects.h"
#include "u64map.h"

#include <sslcollector/pcap_stream.h>
#include <sslcollector/tunnel.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define READ_BUF_BYTES	     (256u << 10) /* one shared buffer for decrypted input */
#define READ_BUDGET	     (1u << 20)	  /* bytes per agent per loop turn, for fairness */
#define TURN_RECORDS	     1024u	  /* TLS reads (records) per agent per loop turn */
#define TURN_NS		     2000000u	  /* and at most this long */
#define PRESSURE_HS_MS	     2000u /* handshake deadline while half the handshake slots are used */
#define FD_RESERVE	     64u   /* descriptors besides agents and handshakes (outputs...) */
#define MAX_KEY_UPDATES	     4u	   /* per 250 ms tick; agents send one per 15 s when idle */
#define MAX_LISTENERS	     2
#define OUTPUT_LOG_PERIOD_MS 10000u /* at most one output refusal logged per period */

/* What an epoll event points at. */
enum source_kind {
	SRC_LISTENER = 1,
	SRC_SIGNAL,
	SRC_TIMER,
	SRC_PEER,
};

struct source {
	enum source_kind kind;
	int fd;
};

enum peer_state {
	PEER_HANDSHAKE = 0,
	PEER_ESTABLISHED,
	PEER_DEAD, /* closed during this loop turn; freed at its end */
};

/* One agent's TLS session with the collector (one agent, one subject, may hold several). */
struct peer {
	struct source src; /* first: epoll's data.ptr */
	struct tunnel_conn *conn;
	enum peer_state state;
	uint32_t epoll_events;
	uint64_t deadline_ms; /* handshake deadline */
	char addr[64];	      /* "[2001:db8::1]:40312" */
	struct subject_stats *subj;
	struct pcap_stream_decoder dec;
	uint8_t *frame_buf;
	bool ready;		  /* on the ready list: TLS holds data or its budget ran out */
	struct peer *prev, *next; /* all agents */
	struct peer *ready_next;  /* the ready list */
	struct peer *dead_next;	  /* freed at the end of the loop turn */
	struct peer *hs_prev, *hs_next; /* handshakes in progress, oldest first */
	uint64_t src_key;		/* its source address (IPv6: the /64) */
	uint64_t bytes_in;		/* tunnel_conn_bytes_in() at the last idle check */
	uint64_t active_ms;		/* when bytes last came in */
	uint64_t since_ms;		/* established at */
	uint8_t fp[32];			/* its certificate's SHA-256 */
	uint64_t key_updates;		/* tunnel_conn_key_updates() at the last tick */
	bool retag_warned; /* told that --vlan-per-agent replaces the agent's own tags */
};

struct collector {
	const struct sslc_options *opts;
	struct tunnel_server *srv;
	int epfd;
	struct source listeners[MAX_LISTENERS];
	int n_listeners;
	struct source sig, timer;
	struct output *out_iface, *out_pcap;
	unsigned mtu;
	uint64_t output_log_ms; /* last refusal of an agent's frame logged */
	struct output_report iface_report, pcap_report; /* an output failing as a whole */
	struct pcap_stream_limits limits;
	size_t frame_buf_size;

	struct peer *peers;
	struct peer *ready;
	struct peer *dead;
	struct peer *hs_head, *hs_tail;
	unsigned n_handshaking, n_established;
	unsigned max_agents, max_handshakes; /* in force: fitted to the open-file limit */
	struct u64map per_source;	     /* source key -> handshakes in progress */
	bool listeners_paused;		     /* out of descriptors: until the next tick */
	struct allowlist allow;		     /* --allow */
	struct subjects subjects;

	uint8_t *rbuf;
	uint8_t tagbuf[TUNNEL_MAX_FRAME + 4];
	struct collector_stats st;
	struct collector_summary_prev summary_prev;
	uint64_t next_stats_ms, next_summary_ms, last_summary_ms;
	uint64_t log_window_ms; /* rate limit of per-connection warnings */
	unsigned log_in_window, log_suppressed;
	bool stop;
};

uint64_t collector_now_ms(void);
/* Per-connection warnings, at most LOG_BURST per second (the rest are counted). */
bool collector_log_allowed(struct collector *c);

/* collector_peer.c */
void peer_accept(struct collector *c, struct source *listener);
void peer_on_event(struct collector *c, struct peer *a, uint32_t events);
void peer_service_ready(struct collector *c);
void peer_check_deadlines(struct collector *c, uint64_t now_ms);
void peer_close(struct collector *c, struct peer *a, enum disconnect_reason why);
void peer_refuse(struct collector *c, struct peer *a, enum refuse_reason why, const char *detail);
void peer_reap(struct collector *c);
void peer_close_all(struct collector *c);

/* collector_limits.c: what a peer may hold before it is authenticated */
uint64_t source_key(const struct sockaddr_storage *ss);
/* Admits a new handshake from a->src_key: false when its source has too many in progress.
 * Closes the oldest handshake when all --max-handshakes slots are taken. */
bool limits_admit(struct collector *c, struct peer *a);
void limits_handshake_done(struct collector *c, struct peer *a); /* ended either way */
uint64_t limits_deadline_ms(struct collector *c, uint64_t now_ms);
/* Raises the open-file limit to what --max-agents and --max-handshakes need, or lowers them
 * to what fits (logged). */
int limits_fit_open_files(struct collector *c, char *err, size_t err_len);
void limits_pause_accepting(struct collector *c, int err);
void limits_resume_accepting(struct collector *c);

/* collector_authz.c: who may stay connected */
/* --crl and --allow: loaded at start (err filled, negative errno) and again on SIGHUP */
int authz_setup(struct collector *c, char *err, size_t err_len);
void authz_reload(struct collector *c);
/* A session just authenticated: the per-subject limit and certificate conflicts. */
void authz_established(struct collector *c, struct peer *a);
/* Closes the sessions that sent nothing for --agent-idle-timeout. */
void authz_check_idle(struct collector *c, uint64_t now_ms);

/* collector_listen.c: the listening sockets of -l (default every address, IPv6 dual-stack
 * with a fallback to IPv4). 0 or a negative errno with err filled. */
int collector_listen(struct collector *c, char *err, size_t err_len);

/* collector_privs.c: becomes user (after the sockets and outputs are open), keeping no
 * capability. 0 or a negative errno with err filled. Not root: nothing to do. */
int collector_drop_privileges(const char *user, char *err, size_t err_len);

#endif
