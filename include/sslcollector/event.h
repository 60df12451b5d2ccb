/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The records bpf/capture.bpf.c writes into the ring buffer and the agent reads: one contract,
 * compiled by both clang -target bpf and the host compiler. Fixed-width types only, explicit
 * padding, sizes asserted below. */
#ifndef SSLCOLLECTOR_EVENT_H
#define SSLCOLLECTOR_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

enum sslc_event_type {
	SSLC_EVENT_DATA = 1,	/* a chunk of plaintext of one SSL read/write call */
	SSLC_EVENT_GAP = 2,	/* plaintext that was not captured; len is exact (except
				 * SSLC_F_GAP_INFLIGHT without SSLC_F_GAP_EXACT) */
	SSLC_EVENT_CLOSE = 3,	/* the TLS session or its TCP socket ended */
	SSLC_EVENT_LIBRARY = 4, /* a process mapped a libssl file not seen before, or runs an
				 * executable not seen before (flags SSLC_F_LIB_EXEC): pid,
				 * off: device in the kernel's encoding, len: inode */
};

enum sslc_dir {
	SSLC_DIR_RECV = 0, /* remote -> local (SSL_read) */
	SSLC_DIR_SEND = 1, /* local -> remote (SSL_write) */
};

enum sslc_role {
	SSLC_ROLE_UNKNOWN = 0,
	SSLC_ROLE_CLIENT = 1, /* the local end called connect() */
	SSLC_ROLE_SERVER = 2, /* the local end accepted the connection */
};

/* The TLS library a session belongs to (sslc_conn.lib): the same records for every one. */
enum sslc_lib {
	SSLC_LIB_OPENSSL = 0, /* OpenSSL and its forks (SSL_read/SSL_write) */
	SSLC_LIB_GNUTLS = 1,  /* GnuTLS (gnutls_record_send2/_recv) */
	SSLC_LIB_NSS = 2,     /* NSS over NSPR (PR_Read/PR_Write of an SSL-layered descriptor) */
	SSLC_LIB__MAX,
};

enum sslc_func {
	SSLC_FUNC_NONE = 0,
	SSLC_FUNC_READ = 1,
	SSLC_FUNC_WRITE = 2,
	SSLC_FUNC_READ_EX = 3,
	SSLC_FUNC_WRITE_EX = 4,
	SSLC_FUNC_SHUTDOWN = 5,
	SSLC_FUNC_FREE = 6,
	SSLC_FUNC_HANDSHAKE = 7, /* SSL_do_handshake, SSL_accept, SSL_connect: binds the socket */
	SSLC_FUNC_WRITEV = 8,	 /* NSPR's PR_Writev (its DATA records say SSLC_FUNC_WRITE) */
};

/* flags */
enum {
	SSLC_F_CLOSE_RESET = 1 << 0,	/* CLOSE: the TCP connection was reset/aborted */
	SSLC_F_CLOSE_SOCKET = 1 << 1,	/* CLOSE: reported by the TCP state change */
	SSLC_F_GAP_RING_FULL = 1 << 2,	/* GAP: the ring buffer had no room */
	SSLC_F_GAP_CAP = 1 << 3,	/* GAP: beyond the per-call capture cap */
	SSLC_F_GAP_FAULT = 1 << 4,	/* GAP: the user buffer could not be read */
	SSLC_F_CLOSE_REPLACED = 1 << 5, /* CLOSE: the SSL object moved to another socket */
	SSLC_F_GAP_INFLIGHT = 1 << 6,	/* GAP: moved by an SSL call in progress when the probes
					 * were attached (its return is never seen) */
	SSLC_F_GAP_EXACT = 1 << 7,	/* GAP with SSLC_F_GAP_INFLIGHT: len is exact; without:
					 * an estimate from the TLS records (bpf/capture_inflight.h) */
	SSLC_F_LIB_EXEC = 1 << 0,	/* LIBRARY: the file is a new program's executable (exec) */
};

/* The TCP connection a TLS session runs over, as the local socket sees it. */
struct sslc_conn {
	__u8 local_addr[16];  /* IPv4: first 4 bytes, network order; IPv6: 16 bytes */
	__u8 remote_addr[16]; /* same encoding */
	__u16 local_port;     /* host byte order */
	__u16 remote_port;    /* host byte order */
	__u8 family; /* AF_INET (2) or AF_INET6 (10); v4-mapped IPv6 is reported as AF_INET */
	__u8 role;   /* enum sslc_role */
	__u8 lib;    /* enum sslc_lib: the library of the TLS session */
	__u8 pad;
	__u32 netns; /* inode number of the socket's network namespace */
	__u32 pad2;
	__u64 cgroup;	    /* cgroup v2 id (its directory's inode) of the process that bound the
			       connection: the container it runs in */
	__u64 netns_cookie; /* the namespace's cookie, never reused while the kernel runs (an
			     * inode number is, at once); 0 on kernels without one */
};

#define SSLC_COMM_LEN 16

struct sslc_event {
	__u8 type;  /* enum sslc_event_type */
	__u8 dir;   /* enum sslc_dir (DATA, GAP) */
	__u8 flags; /* SSLC_F_* */
	__u8 func;  /* enum sslc_func that produced the event */
	__u32 pid;  /* thread group id */
	__u32 tid;
	__u32 data_len; /* DATA: bytes in data[] */
	__u64 ts_ns;	/* CLOCK_MONOTONIC */
	__u64 conn_id;	/* one per TLS session over one socket; never reused while loaded */
	__u64 len;	/* DATA: bytes the whole call transferred; GAP: bytes lost */
	__u64 off;	/* DATA: offset of data[] within the call */
	__u64 gap[2];	/* CLOSE: bytes lost per direction not yet reported by a GAP event */
	struct sslc_conn conn;
	char comm[SSLC_COMM_LEN];
	__u8 data[]; /* DATA: data_len bytes of plaintext */
};

/* Key of the `local_addrs` map: the addresses of -I IFACE (same encoding as sslc_conn). */
struct sslc_addr_key {
	__u8 addr[16];
	__u8 family;
	__u8 pad[3];
};

/* Key of the `excluded_conns` map: one end of a TCP connection the agent itself owns (its
 * tunnel), seen from that end; same encoding as sslc_conn. */
struct sslc_conn_key {
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u8 family;
	__u8 pad[3];
	__u32 netns;
};

/* Key of the `known_libs` map: a TLS library file the agent knows (probed or seen), so that
 * mapping it again is not news. dev in the kernel's encoding, MKDEV(major, minor) =
 * major << 20 | minor, as struct file's inode holds it. */
struct sslc_lib_key {
	__u32 dev;
	__u32 pad;
	__u64 ino;
};

/* What the capture saw of one process's TLS (map proc_stats, key: tgid), for --list. */
struct sslc_proc_stat {
	__u64 sessions;		  /* sessions mirrored */
	__u64 attributed;	  /* ... of those, bound by the memory-BIO rule (bpf/attrib.h) */
	__u64 unattributed_bytes; /* bytes of calls whose socket was not known: not mirrored */
	__u64 conflicts;	  /* memory-BIO observations that disagreed */
};

/* Largest data[] of one DATA record; larger calls are split into several records. */
#define SSLC_CHUNK_MAX (64 * 1024)

/* Per-CPU counters, summed by the agent (index into the `counters` array map). */
enum sslc_counter {
	SSLC_CNT_CALLS = 0,	  /* SSL read/write calls on mirrored sockets */
	SSLC_CNT_DATA_EVENTS,	  /* DATA records delivered */
	SSLC_CNT_DATA_BYTES,	  /* plaintext bytes delivered */
	SSLC_CNT_GAP_RING_BYTES,  /* bytes lost because the ring buffer was full */
	SSLC_CNT_GAP_CAP_BYTES,	  /* bytes beyond the per-call cap */
	SSLC_CNT_GAP_FAULT_BYTES, /* bytes whose user buffer could not be read */
	SSLC_CNT_RING_FULL,	  /* failed ring buffer reservations */
	SSLC_CNT_NOSOCK_BYTES,	  /* bytes of SSL calls whose socket was never seen */
	SSLC_CNT_SESSIONS,	  /* mirrored sessions created */
	SSLC_CNT_CLOSE_DEFERRED,  /* CLOSE events parked in the `orphans` map (ring full) */
	SSLC_CNT_NEW_LIBRARIES,	  /* notifications of libssl files not probed yet */
	SSLC_CNT_NESTED_CALLS, /* SSL calls entered while another was in progress on the thread */
	SSLC_CNT_NOT_TCP,      /* first socket operation of an SSL call was not TCP */
	SSLC_CNT_CLOSE_AFTER_CALL, /* connection ends held until the SSL call in flight returned */
	SSLC_CNT_UNTRACKED_CALLS,  /* SSL calls not followed: no memory for the thread's record */
	SSLC_CNT_INFLIGHT_GAPS,	   /* gaps reported for SSL calls in progress at attach */
	SSLC_CNT_INFLIGHT_EXACT,   /* ... of those, of exact length */
	SSLC_CNT_GAP_INFLIGHT_BYTES,	      /* ... their bytes */
	SSLC_CNT_INFLIGHT_UNATTRIBUTED_BYTES, /* bytes (estimated) that SSL calls in progress at
					       * attach moved on a connection the thread did
					       * not use again: no gap, not mirrored */
	SSLC_CNT_EXCLUDED_SESSIONS,	      /* sessions on a connection in `excluded_conns` */
	SSLC_CNT_EXCLUDED_BYTES,   /* bytes of those, and of connections cut (`cut_conns`) */
	SSLC_CNT_ATTRIB_SESSIONS,  /* sessions bound from socket operations around the calls
				      (memory BIOs: bpf/attrib.h) */
	SSLC_CNT_ATTRIB_CONFLICTS, /* ... observations that disagreed, not followed */
	SSLC_CNT_LIB_SESSIONS,	   /* mirrored sessions by library: + enum sslc_lib */
	SSLC_CNT_LIB_BYTES = SSLC_CNT_LIB_SESSIONS + SSLC_LIB__MAX, /* bytes of calls on mirrored
								     * sessions, + enum sslc_lib */
	SSLC_CNT__MAX = SSLC_CNT_LIB_BYTES + SSLC_LIB__MAX,
};

/* SSL calls in progress when the probes are attached (bpf/capture_inflight.h): the agent puts
 * the threads blocked in a socket read or write into the `inflight` map (key: thread id); the
 * socket hooks follow the TLS records those threads move until their next SSL call, which
 * reports them as a gap on its connection. */
enum sslc_inflight_phase {
	SSLC_INFLIGHT_WATCHING = 0, /* no SSL call seen on the thread since the watch began */
	SSLC_INFLIGHT_NEXT = 1,	    /* one has begun: what was in flight is known */
};

/* sslc_tls_stream.flags */
enum {
	SSLC_TLS_STARTED = 1 << 0,    /* the first operation was seen */
	SSLC_TLS_CONFIRMED = 1 << 1,  /* a valid record header was read */
	SSLC_TLS_MISALIGNED = 1 << 2, /* began inside a record (its header came before attach) */
	SSLC_TLS_LOST = 1 << 3,	      /* record boundaries lost; bytes counted in unparsed */
	SSLC_TLS_READAHEAD = 1 << 4,  /* a read asked for more than the record needed */
	SSLC_TLS_EARLY = 1 << 5,      /* bytes moved before the probes were attached */
};

/* One direction of a watched socket: where the TLS record parser is. */
struct sslc_tls_stream {
	__u8 hdr[8];   /* the header being read (5 bytes used) */
	__u8 hdr_have; /* its bytes seen */
	__u8 type;     /* content type of the record whose body is being read */
	__u8 flags;    /* SSLC_TLS_* */
	__u8 pad;
	__u32 body_left; /* bytes of that body still to come */
	__u32 rec_len;	 /* that record's length (from its header) */
	__u32 pad2;
};

/* Records completed in one direction: application data (content type 23) only. */
struct sslc_tls_count {
	__u64 body;	/* the sum of their lengths */
	__u64 unparsed; /* bytes moved after SSLC_TLS_LOST */
	__u32 records;	/* their number */
	__u32 last_len; /* the last one's length */
};

struct sslc_inflight {
	__u64 sk;    /* BPF: the socket behind fd, at the thread's first operation on it */
	__u32 tgid;  /* agent: the thread's process */
	__s32 fd;    /* agent: the descriptor of the blocked system call */
	__u32 epoch; /* agent: probe_epoch before the probes of the file were attached */
	__u8 dir;    /* agent: enum sslc_dir of the blocked system call */
	__u8 phase;  /* BPF: enum sslc_inflight_phase */
	__u8 pad[2];
	struct sslc_tls_stream st[2];  /* per enum sslc_dir */
	struct sslc_tls_count lost[2]; /* completed outside any captured SSL call */
	struct sslc_tls_count call[2]; /* completed by the captured call in progress */
};

#ifndef __VMLINUX_H__
_Static_assert(sizeof(struct sslc_conn) == 64, "struct sslc_conn layout changed");
_Static_assert(sizeof(struct sslc_event) == 144, "struct sslc_event layout changed");
_Static_assert(__builtin_offsetof(struct sslc_event, data) == 144, "data[] must follow header");
_Static_assert(sizeof(struct sslc_addr_key) == 20, "struct sslc_addr_key layout changed");
_Static_assert(sizeof(struct sslc_lib_key) == 16, "struct sslc_lib_key layout changed");
_Static_assert(sizeof(struct sslc_proc_stat) == 32, "struct sslc_proc_stat layout changed");
_Static_assert(sizeof(struct sslc_tls_stream) == 24, "struct sslc_tls_stream layout changed");
_Static_assert(sizeof(struct sslc_tls_count) == 24, "struct sslc_tls_count layout changed");
_Static_assert(sizeof(struct sslc_inflight) == 168, "struct sslc_inflight layout changed");
#endif

#endif /* SSLCOLLECTOR_EVENT_H */
