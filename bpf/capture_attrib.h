// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Part of capture.bpf.c: the socket of SSL objects whose calls touch none (memory BIOs),
 * from the thread's socket operations around its calls. The rule is bpf/attrib.h; this is
 * where its state lives (the thread's call record, the session) and where it is fed.
 * Included after capture_session.h (session_bind) and capture_inflight.h (op_buffer). */
#ifndef SSLC_CAPTURE_ATTRIB_H
#define SSLC_CAPTURE_ATTRIB_H

static __always_inline int func_reads(__u8 func)
{
	return func == SSLC_FUNC_READ || func == SSLC_FUNC_READ_EX || func == SSLC_FUNC_HANDSHAKE;
}

static __always_inline int func_writes(__u8 func)
{
	return func == SSLC_FUNC_WRITE || func == SSLC_FUNC_WRITE_EX || func == SSLC_FUNC_WRITEV ||
	       func == SSLC_FUNC_HANDSHAKE;
}

/* The system call's buffer begins with a TLS record header (ret: bytes it moved). */
static __always_inline int op_starts_tls(int ret)
{
	__u64 buf = 0, size = 0;
	__u8 h[TLS_HEADER_LEN];

	if (ret < TLS_HEADER_LEN || !op_buffer(&buf, &size) || size < TLS_HEADER_LEN ||
	    bpf_probe_read_user(h, sizeof(h), (const void *)buf))
		return 0;
	return tls_header_valid(h[0], h[1], h[2], (__u32)h[3] << 8 | h[4]);
}

/* An observation: the SSL object key moves its ciphertext through sk. s: its session, or
 * NULL; func: the call in progress (SSLC_FUNC_NONE: between calls). */
static __always_inline void attrib_observe(struct session_key *key, struct session *s,
					   struct sock *sk, __u8 func, __u8 lib)
{
	struct sock_owner *o = bpf_map_lookup_elem(&socks, &sk);
	int other = o && (o->key.tgid != key->tgid || o->key.ssl != key->ssl);
	__u64 bound = 0;

	if (s && s->state != SESSION_UNBOUND) {
		if (!s->via_window)
			return; /* bound by its own socket operations: nothing to learn */
		bound = s->sk;
	}
	if (!s) {
		struct session n = {.fd = -1};

		if (bpf_map_update_elem(&sessions, key, &n, BPF_NOEXIST) &&
		    bpf_map_update_elem(&sessions, key, &n, BPF_ANY))
			return;
		s = bpf_map_lookup_elem(&sessions, key);
		if (!s)
			return;
	}
	switch (attrib_judge(&s->cand, (__u64)sk, bound, other)) {
	case ATTRIB_CONFLICT:
		count(SSLC_CNT_ATTRIB_CONFLICTS, 1);
		proc_count(PROC_CONFLICTS, 1);
		return;
	case ATTRIB_BIND:
		break;
	default:
		return;
	}
	session_bind(key, s, sk, -1, func, lib);
	s = bpf_map_lookup_elem(&sessions, key);
	if (s && s->sk == (__u64)sk && s->state != SESSION_UNBOUND) {
		s->via_window = 1;
		count(SSLC_CNT_ATTRIB_SESSIONS, 1);
		proc_count(PROC_ATTRIBUTED, 1);
	}
}

/* A call of func on key's SSL object begins on the thread (c: its record). */
static __always_inline void attrib_enter(struct call_args *c, struct session_key *key,
					 struct session *s, __u8 func)
{
	int ambiguous = 0;
	bool bound;
	__u64 sk;

	if (!c->win.follow)
		return;
	/* not bound yet, any call may consume what came in: a client's SSL_write that
	 * finishes the handshake (Node.js writes its request before the handshake is done) */
	bound = s && s->state != SESSION_UNBOUND;
	sk = attrib_call_enter(&c->win, func_reads(func) || !bound, &ambiguous);
	if (ambiguous && !bound) { /* it needed a socket and had several */
		count(SSLC_CNT_ATTRIB_CONFLICTS, 1);
		proc_count(PROC_CONFLICTS, 1);
	}
	if (sk)
		attrib_observe(key, s, (struct sock *)sk, func, c->lib);
}

/* The call returns, having transferred n bytes; named: it sent or received on a socket
 * itself. A read that returned no data may have made the handshake's next flight (a server
 * that drives the handshake with SSL_read, as Node.js does): its ciphertext leaves next. */
static __always_inline void attrib_exit(struct call_args *c, struct session_key *key, __u8 func,
					__u64 n, bool named)
{
	if (!named) {
		struct session *s = bpf_map_lookup_elem(&sessions, key);

		/* bound by an earlier call's own socket operation (a read served from
		 * OpenSSL's buffer): a socket BIO */
		named = s && s->state != SESSION_UNBOUND && !s->via_window;
	}
	if (!named || c->win.follow)
		attrib_call_exit(&c->win, key->ssl, named, func_writes(func) || !n);
}

/* A socket operation of the thread outside an SSL call (c->win.follow is set). */
static __always_inline void attrib_sock_op(struct call_args *c, struct sock *sk, int ret, int flags,
					   __u8 dir)
{
	if (ret <= 0)
		return;
	if (dir == SSLC_DIR_RECV) {
		if ((flags & MSG_PEEK) || !attrib_recv_matters(&c->win, (__u64)sk) ||
		    !sock_is_tcp(sk))
			return;
		attrib_recv(&c->win, (__u64)sk, op_starts_tls(ret));
		return;
	}
	if (!c->win.after_ssl || !sock_is_tcp(sk))
		return;
	struct session_key key = {.tgid = bpf_get_current_pid_tgid() >> 32,
				  .ssl = attrib_send(&c->win, op_starts_tls(ret))};
	if (!key.ssl)
		return;
	/* the thread's last call was that object's: its library */
	attrib_observe(&key, bpf_map_lookup_elem(&sessions, &key), sk, SSLC_FUNC_NONE, c->lib);
}

#endif
