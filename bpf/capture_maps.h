/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Maps of capture.bpf.c and the BPF-private state they hold. The agent sees the maps through
 * the skeleton; the record and key types it reads are in include/sslcollector/event.h. */
#ifndef SSLC_CAPTURE_MAPS_H
#define SSLC_CAPTURE_MAPS_H

/* The SSL call in progress on a thread (task storage: kept from call to call, freed with the
 * thread; no hash, no insert and delete per call). */
struct call_args {
	__u64 ssl;
	__u64 buf;
	__u64 num;
	__u64 ex_out;	/* _ex functions: where the byte count is stored */
	__u8 func;	/* enum sslc_func */
	__u8 sock_seen; /* the call's first socket operation has named the socket */
	__u8 active;	/* a call is in progress (its return not seen yet) */
	__u8 lib;	/* enum sslc_lib of the call */
	__u8 wv_next;	/* PR_Writev: the next vector to copy (bpf/capture_nss.h) */
	__u8 pad[3];
	struct attrib_window win; /* around the calls: bpf/attrib.h */
};

/* The TCP connection may end (a reset from the peer) after a read/write call has moved its
 * bytes through the socket but before it returns. The end of the mirrored connection then
 * waits for the call's return, so those bytes are mirrored before it. The session holds the
 * state of its call: the call's entry (or the bind during it) sets ACTIVE; inet_sock_set_state
 * moves ACTIVE to CLOSE_DEFERRED (compare-and-swap); the return, after mirroring its bytes,
 * moves it to DONE (exchange) and closes the session when it finds CLOSE_DEFERRED; whoever
 * loses the race to the other does the close. */
enum call_state {
	CALL_DONE = 0,
	CALL_ACTIVE = 1,
	CALL_CLOSE_DEFERRED = 2,
};

/* A TLS session: an SSL object of a process. */
struct session_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl;
};

enum session_state {
	SESSION_UNBOUND = 0,  /* socket not known (yet, or any more) */
	SESSION_MIRRORED = 1, /* mirrored: events carry conn_id */
	SESSION_IGNORED = 2,  /* filtered out (namespace, address) */
	SESSION_EXCLUDED = 3, /* the agent's own connection (`excluded_conns`): counted only */
};

struct session {
	__u64 conn_id;
	__u64 sk;     /* struct sock * */
	__u64 gap[2]; /* bytes lost per direction, not yet reported */
	struct sslc_conn conn;
	__u32 call_state; /* enum call_state; changed atomically */
	__s32 fd;	  /* the socket's descriptor, when bound by the syscall hook; else -1 */
	__u8 state;	  /* enum session_state */
	__u8 closed;
	__u8 close_flags; /* of a close deferred until the call in flight returns */
	__u8 cut;	  /* cut from the mirror by the agent (`cut_conns`): counted only */
	__u8 via_window;  /* bound from the thread's socket operations around its calls
			     (bpf/attrib.h), not from one inside a call */
	__u8 pad[7];
	struct attrib_cand cand; /* while not bound: the candidate socket (bpf/attrib.h) */
};

struct sock_owner {
	struct session_key key;
	__u64 conn_id;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* the agent sets --ring-size */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SSLC_CNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct call_args);
} active_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct session_key);
	__type(value, struct session);
} sessions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct sock * */
	__type(value, struct sock_owner);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);  /* struct sock * */
	__type(value, __u8); /* enum sslc_role */
} sock_roles SEC(".maps");

/* Per process: what --list tells (the agent publishes it: agent/capture_report.c). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tgid */
	__type(value, struct sslc_proc_stat);
} proc_stats SEC(".maps");

/* Per process: NSS's SSL layer as SSL_ImportFD showed it (bpf/capture_nss.h); a new program
 * (exec) forgets it. */
struct nss_layer {
	__u64 methods;
	__s32 identity;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tgid */
	__type(value, struct nss_layer);
} nss_layers SEC(".maps");

/* CLOSE records that found the ring buffer full, collected by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64); /* conn_id */
	__type(value, struct sslc_event);
} orphans SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sslc_event);
} scratch_event SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct sslc_addr_key);
	__type(value, __u8);
} local_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} pid_filter SEC(".maps");

/* --netns PATH, --cgroup: the network namespaces mirrored (key: namespace inode), when
 * cfg_netns_set */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} netns_allowed SEC(".maps");

/* libssl files (kernel device, inode) the agent knows: mapping them again is not news. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct sslc_lib_key);
	__type(value, __u8);
} known_libs SEC(".maps");

/* Connections the agent owns (both ends of its tunnel when the collector is on this host):
 * never mirrored, so that the mirror cannot feed itself. Filled by the agent before the
 * connection carries a byte. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct sslc_conn_key);
	__type(value, __u8);
} excluded_conns SEC(".maps");

/* Mirrored connections found carrying the agent's own output (a feedback loop: agent/
 * loopguard.h): their further calls are counted, not copied. Key: conn_id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} cut_conns SEC(".maps");

/* Threads that were in a socket read or write when the probes were attached (the SSL call
 * around it, if any, is never seen to return): bpf/capture_inflight.h. Filled by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* thread id */
	__type(value, struct sslc_inflight);
} inflight SEC(".maps");

#endif
