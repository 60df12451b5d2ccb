/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The socket of an SSL object that never touches one: programs that drive OpenSSL through
 * memory BIOs (Node.js, Python's asyncio, Dovecot, gRPC) move the ciphertext themselves,
 * outside the SSL calls. The socket is learnt from what the thread does around its calls:
 *
 *   - the TCP socket it receives on after its previous SSL call returned and before an
 *     SSL_read (or a handshake step; or any call while the object is not bound: a client's
 *     SSL_write may finish the handshake) begins: the ciphertext that call consumes;
 *   - the TCP socket it first sends on after an SSL_write (or a handshake step, or an
 *     SSL_read that returned no data) returned, before its next SSL call: the ciphertext that
 *     call produced.
 *
 * Each is an observation (SSL object, socket), taken only when the bytes moved begin with a
 * TLS record header, the window held one socket (received on two: ambiguous, no observation)
 * and the socket is no other SSL object's. An SSL object is bound when two observations in a
 * row name the same socket (a handshake makes three or more before any application data), and
 * stays bound. An observation that names another socket than the candidate or the binding is a
 * conflict: counted, never followed; the candidate starts again from it. Only threads that made
 * an SSL call that named no socket follow their socket operations at all.
 *
 * Pure logic on plain structs, shared by the BPF program (bpf/capture_attrib.h, which keeps
 * the state in its maps) and the unit test that replays recorded sequences
 * (tests/unit/test_attrib.c). Include a definition of __u8/__u64 first (vmlinux.h or
 * <linux/types.h>). */
#ifndef SSLC_ATTRIB_H
#define SSLC_ATTRIB_H

#ifdef __bpf__
#define ATTRIB_INLINE static __always_inline
#else
#define ATTRIB_INLINE static inline
#endif

/* What a thread did since its last SSL call (in its call record). */
struct attrib_window {
	__u64 recv_sk;	 /* the TCP socket it received on since its last SSL call returned */
	__u64 after_ssl; /* the SSL object whose write or handshake step returned last, while its
			    ciphertext has not been seen leaving; 0: none */
	__u8 recv_multi; /* it received on another TCP socket too: no single candidate */
	__u8 recv_tls;	 /* recv_sk's first bytes were a TLS record header */
	__u8 follow;	 /* the thread made an SSL call that named no socket: follow it */
	__u8 pad[5];
};

/* An SSL object's candidate socket (in its session). */
struct attrib_cand {
	__u64 sk; /* 0: none */
	__u8 n;	  /* observations in a row that named it */
	__u8 pad[7];
};

#define ATTRIB_CONFIRMATIONS 2

enum attrib_verdict {
	ATTRIB_KEEP = 0,     /* a candidate, not confirmed yet: nothing to do */
	ATTRIB_BIND = 1,     /* confirmed: bind the SSL object to the socket */
	ATTRIB_AGREE = 2,    /* the binding is confirmed again */
	ATTRIB_CONFLICT = 3, /* disagrees with the candidate or the binding: count, do not follow */
};

/* An SSL call begins on the thread. reads: the call may consume what the thread received (a
 * read or a handshake step; any call of an SSL object not bound yet). Returns the socket
 * observed for it (the window held exactly one, with a TLS header), 0 for none; *ambiguous
 * when it held several. The window starts again. */
ATTRIB_INLINE __u64 attrib_call_enter(struct attrib_window *w, int reads, int *ambiguous)
{
	__u64 sk = 0;

	*ambiguous = 0;
	if (reads && w->recv_sk) {
		if (w->recv_multi)
			*ambiguous = 1;
		else if (w->recv_tls)
			sk = w->recv_sk;
	}
	w->recv_sk = 0;
	w->recv_multi = 0;
	w->recv_tls = 0;
	w->after_ssl = 0;
	return sk;
}

/* An SSL call returns. named: it did send or receive on a socket itself, or its SSL object
 * is bound by such calls (a socket BIO: nothing to learn); writes: a write, a handshake step,
 * or a read that returned no data (it may have produced ciphertext for the thread to send). */
ATTRIB_INLINE void attrib_call_exit(struct attrib_window *w, __u64 ssl, int named, int writes)
{
	w->recv_sk = 0;
	w->recv_multi = 0;
	w->recv_tls = 0;
	w->after_ssl = 0;
	if (named)
		return;
	w->follow = 1;
	if (writes)
		w->after_ssl = ssl;
}

/* The thread received on TCP socket sk outside an SSL call; tls: the bytes began with a TLS
 * record header. */
ATTRIB_INLINE void attrib_recv(struct attrib_window *w, __u64 sk, int tls)
{
	if (!w->recv_sk) {
		w->recv_sk = sk;
		w->recv_tls = tls ? 1 : 0;
	} else if (w->recv_sk != sk) {
		w->recv_multi = 1;
	}
}

/* Whether a receive on sk can still change the window (else the caller need not look). */
ATTRIB_INLINE int attrib_recv_matters(const struct attrib_window *w, __u64 sk)
{
	return w->follow && w->recv_sk != sk && !w->recv_multi;
}

/* The thread sends on TCP socket sk outside an SSL call. Returns the SSL object observed on it
 * (the first send with a TLS record header after a write or handshake step), or 0. */
ATTRIB_INLINE __u64 attrib_send(struct attrib_window *w, int tls)
{
	__u64 ssl = w->after_ssl;

	if (!ssl || !tls)
		return 0; /* bytes that are not TLS: another conversation; keep waiting */
	w->after_ssl = 0;
	return ssl;
}

/* An observation of socket sk for an SSL object with candidate c, bound to bound_sk (0: not
 * bound); owned_by_other: sk is another SSL object's. */
ATTRIB_INLINE enum attrib_verdict attrib_judge(struct attrib_cand *c, __u64 sk, __u64 bound_sk,
					       int owned_by_other)
{
	enum attrib_verdict v = ATTRIB_KEEP;

	if (bound_sk)
		return bound_sk == sk ? ATTRIB_AGREE : ATTRIB_CONFLICT;
	if (owned_by_other) {
		c->sk = 0;
		c->n = 0;
		return ATTRIB_CONFLICT;
	}
	if (c->sk != sk) {
		v = c->sk ? ATTRIB_CONFLICT : ATTRIB_KEEP;
		c->sk = sk;
		c->n = 0;
	}
	if (c->n < 255)
		c->n++;
	return c->n >= ATTRIB_CONFIRMATIONS ? ATTRIB_BIND : v;
}

#endif
