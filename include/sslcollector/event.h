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
	SSLC_EVENT_GAP = 2,	/* plaintext that was not captured; len is exact */
	SSLC_EVENT_CLOSE = 3,	/* the TLS session or its TCP socket ended */
	SSLC_EVENT_LIBRARY = 4, /* a process mapped a libssl file not seen before (pid, off:
				 * device in the kernel's encoding, len: inode) */
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

enum sslc_func {
	SSLC_FUNC_NONE = 0,
	SSLC_FUNC_READ = 1,
	SSLC_FUNC_WRITE = 2,
	SSLC_FUNC_READ_EX = 3,
	SSLC_FUNC_WRITE_EX = 4,
	SSLC_FUNC_SHUTDOWN = 5,
	SSLC_FUNC_FREE = 6,
	SSLC_FUNC_HANDSHAKE = 7, /* SSL_do_handshake, SSL_accept, SSL_connect: binds the socket */
};

/* flags */
enum {
	SSLC_F_CLOSE_RESET = 1 << 0,	/* CLOSE: the TCP connection was reset/aborted */
	SSLC_F_CLOSE_SOCKET = 1 << 1,	/* CLOSE: reported by the TCP state change */
	SSLC_F_GAP_RING_FULL = 1 << 2,	/* GAP: the ring buffer had no room */
	SSLC_F_GAP_CAP = 1 << 3,	/* GAP: beyond the per-call capture cap */
	SSLC_F_GAP_FAULT = 1 << 4,	/* GAP: the user buffer could not be read */
	SSLC_F_CLOSE_REPLACED = 1 << 5, /* CLOSE: the SSL object moved to another socket */
};

/* The TCP connection a TLS session runs over, as the local socket sees it. */
struct sslc_conn {
	__u8 local_addr[16];  /* IPv4: first 4 bytes, network order; IPv6: 16 bytes */
	__u8 remote_addr[16]; /* same encoding */
	__u16 local_port;     /* host byte order */
	__u16 remote_port;    /* host byte order */
	__u8 family; /* AF_INET (2) or AF_INET6 (10); v4-mapped IPv6 is reported as AF_INET */
	__u8 role;   /* enum sslc_role */
	__u8 pad[2];
	__u32 netns; /* inode number of the socket's network namespace */
	__u32 pad2;
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
	SSLC_CNT__MAX,
};

#ifndef __VMLINUX_H__
_Static_assert(sizeof(struct sslc_conn) == 48, "struct sslc_conn layout changed");
_Static_assert(sizeof(struct sslc_event) == 128, "struct sslc_event layout changed");
_Static_assert(__builtin_offsetof(struct sslc_event, data) == 128, "data[] must follow header");
_Static_assert(sizeof(struct sslc_addr_key) == 20, "struct sslc_addr_key layout changed");
#endif

#endif /* SSLCOLLECTOR_EVENT_H */
