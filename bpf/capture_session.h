// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Part of capture.bpf.c: sessions (one per SSL object): bound to the socket of the call's
 * first send or receive, ended with a CLOSE record */
#ifndef SSLC_CAPTURE_SESSION_H
#define SSLC_CAPTURE_SESSION_H

/* ---- the socket: from the first send or receive the SSL call makes ---------------------- */

/* Ends a mirrored session: a CLOSE record carrying any gap not yet reported; when the ring
 * is full, the record is parked in `orphans` for the agent to collect. */
static __always_inline void session_close(struct session *s, __u8 flags, __u8 func)
{
	struct sslc_event *e;

	if (s->state != SESSION_MIRRORED || s->closed)
		return;
	s->closed = 1;
	e = reserve_small();
	if (e) {
		fill_header(e, SSLC_EVENT_CLOSE, s->conn_id, &s->conn);
		e->flags = flags;
		e->func = func;
		e->gap[0] = s->gap[0];
		e->gap[1] = s->gap[1];
		s->gap[0] = s->gap[1] = 0;
		bpf_ringbuf_submit(e, wake_flags());
		return;
	}
	struct sslc_event *o = bpf_map_lookup_elem(&scratch_event, &(__u32){0});
	if (!o)
		return;
	fill_header(o, SSLC_EVENT_CLOSE, s->conn_id, &s->conn);
	o->flags = flags;
	o->func = func;
	o->gap[0] = s->gap[0];
	o->gap[1] = s->gap[1];
	s->gap[0] = s->gap[1] = 0;
	bpf_map_update_elem(&orphans, &s->conn_id, o, BPF_ANY);
	count(SSLC_CNT_CLOSE_DEFERRED, 1);
}

/* Binds the session s (NULL: none yet) to the TCP socket sk (first time, or when the SSL
 * object moved), during a call of func (SSLC_FUNC_NONE: between calls, from the socket
 * operations around them: capture_attrib.h). fd: sk's descriptor if known, else -1. */
static __always_inline void session_bind(struct session_key *key, struct session *s,
					 struct sock *sk, int fd, __u8 func, __u8 lib)
{
	if (s && s->sk == (__u64)sk) {
		if (s->state != SESSION_UNBOUND) {
			s->fd = fd; /* same socket under another fd (dup), or now known by its fd */
			return;
		}
		/* its connection has ended, and its mirror with it: calls on the dead socket (a
		 * write that meets the reset, a read of the end) start no new connection */
		if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_CLOSE)
			return;
	}
	if (s) /* the SSL object now runs over another socket: a new connection */
		session_close(s, SSLC_F_CLOSE_REPLACED, SSLC_FUNC_NONE);

	struct session n = {};
	n.fd = fd;
	n.sk = (__u64)sk;
	read_conn(sk, &n.conn);
	n.conn.lib = lib;
	n.conn.cgroup = bpf_get_current_cgroup_id(); /* the process's: bound in its context */
	__u8 *role = bpf_map_lookup_elem(&sock_roles, &n.sk);
	n.conn.role = role ? *role : SSLC_ROLE_UNKNOWN;
	if (!conn_wanted(&n.conn)) {
		n.state = SESSION_IGNORED;
		bpf_map_update_elem(&sessions, key, &n, BPF_ANY);
		return;
	}
	if (excluded_used && conn_excluded(&n.conn)) {
		n.state = SESSION_EXCLUDED;
		bpf_map_update_elem(&sessions, key, &n, BPF_ANY);
		count(SSLC_CNT_EXCLUDED_SESSIONS, 1);
		return;
	}
	n.state = SESSION_MIRRORED;
	/* the call whose socket operation this is (see enum call_state) */
	n.call_state =
	    func == SSLC_FUNC_HANDSHAKE || func == SSLC_FUNC_NONE ? CALL_DONE : CALL_ACTIVE;
	n.conn_id = __sync_fetch_and_add(&next_conn_id, 1);
	bpf_map_update_elem(&sessions, key, &n, BPF_ANY);
	struct sock_owner owner = {.key = *key, .conn_id = n.conn_id};
	bpf_map_update_elem(&socks, &n.sk, &owner, BPF_ANY);
	count(SSLC_CNT_SESSIONS, 1);
	count(SSLC_CNT_LIB_SESSIONS + (lib < SSLC_LIB__MAX ? lib : 0), 1);
	proc_count(PROC_SESSIONS, 1);
	/* The connection may have ended before it was known to be ours (a reset during the
	 * socket operation that named it, seen after that returned): inet_sock_set_state found
	 * no owner then. Its end waits for the call's return as if it had. Checked after `socks`
	 * names the owner, so that an end from then on is seen here or there. */
	if (n.call_state != CALL_ACTIVE || BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_CLOSE)
		return;
	s = bpf_map_lookup_elem(&sessions, key);
	if (!s || s->conn_id != n.conn_id || s->call_state != CALL_ACTIVE)
		return;
	s->close_flags = SSLC_F_CLOSE_SOCKET | SSLC_F_CLOSE_RESET;
	if (__sync_val_compare_and_swap(&s->call_state, CALL_ACTIVE, CALL_CLOSE_DEFERRED) ==
	    CALL_ACTIVE)
		bpf_map_delete_elem(&socks, &n.sk);
}

/* The syscall hook's bind: fd, an argument of the call's first read/write-like syscall. */
static __always_inline void session_bind_fd(struct session_key *key, int fd, __u8 func, __u8 lib)
{
	struct session *s = bpf_map_lookup_elem(&sessions, key);
	struct sock *sk;

	if (s && s->fd == fd && s->state != SESSION_UNBOUND)
		return; /* the usual case: nothing changed */
	sk = fd_to_tcp_sock(fd);
	if (!sk) {
		count(SSLC_CNT_NOT_TCP, 1);
		return;
	}
	session_bind(key, s, sk, fd, func, lib);
}

/* The socket hook's bind: sk, the socket the call's first send or receive went through. */
static __always_inline void session_bind_sock(struct session_key *key, struct sock *sk, __u8 func,
					      __u8 lib)
{
	struct session *s = bpf_map_lookup_elem(&sessions, key);

	if (s && s->sk == (__u64)sk && s->state != SESSION_UNBOUND)
		return; /* the usual case: nothing changed */
	if (!sock_is_tcp(sk)) {
		count(SSLC_CNT_NOT_TCP, 1);
		return;
	}
	session_bind(key, s, sk, -1, func, lib);
}

#endif
