// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Part of capture.bpf.c: what a call transferred, as DATA records in chunks, and what
 * could not be copied as gaps of exact length */
#ifndef SSLC_CAPTURE_EMIT_H
#define SSLC_CAPTURE_EMIT_H

/* ---- return: copy what was transferred --------------------------------------------------- */

/* n = min(n, max) in the register the next instruction uses: clang would otherwise compare a
 * copy and hand the verifier the unbounded original. */
#define clamp_in_reg(n, max) asm volatile("if %0 <= %1 goto +1; %0 = %1" : "+r"(n) : "i"(max))

struct chunk_ctx {
	__u64 buf;
	__u64 len;   /* bytes to capture from buf */
	__u64 total; /* bytes the call transferred */
	__u64 conn_id;
	__u64 ts_ns;
	__u64 stop_off; /* where delivery stopped, when stopped */
	__u8 dir;
	__u8 func;
	__u8 stopped; /* the ring buffer was full or the buffer unreadable at stop_off */
	__u8 fault;   /* ... because the user buffer could not be read */
	__u32 pad;
};

/* One DATA record of at most `cls` data bytes; cls is a compile-time constant so the ring
 * buffer reservation has a constant size. The chunk's offset comes from the loop index and
 * the context is written only when stopping, so the verifier's states converge quickly. */
#define EMIT_CHUNK_CLASS(cls)                                                                      \
	do {                                                                                       \
		struct sslc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e) + (cls), 0);        \
		if (!e) {                                                                          \
			count(SSLC_CNT_RING_FULL, 1);                                              \
			cx->stopped = 1;                                                           \
			cx->stop_off = off;                                                        \
			return 1;                                                                  \
		}                                                                                  \
		__u64 n = want;                                                                    \
		clamp_in_reg(n, cls);                                                              \
		if (bpf_probe_read_user(e->data, n, (const void *)(cx->buf + off))) {              \
			bpf_ringbuf_discard(e, 0);                                                 \
			cx->stopped = 1;                                                           \
			cx->fault = 1;                                                             \
			cx->stop_off = off;                                                        \
			return 1;                                                                  \
		}                                                                                  \
		fill_header_ts(e, SSLC_EVENT_DATA, cx->conn_id, &lc->conn, cx->ts_ns);             \
		e->dir = cx->dir;                                                                  \
		e->func = cx->func;                                                                \
		e->data_len = (__u32)n;                                                            \
		e->len = cx->total;                                                                \
		e->off = off;                                                                      \
		bpf_ringbuf_submit(e, wake_flags_sized(sizeof(*e) + (cls)));                       \
		count(SSLC_CNT_DATA_EVENTS, 1);                                                    \
		count(SSLC_CNT_DATA_BYTES, n);                                                     \
		return 0;                                                                          \
	} while (0)

struct loop_ctx {
	struct chunk_ctx c;
	struct session_key key;
	struct sslc_conn conn; /* the session's, copied once for every chunk */
};

static long emit_chunk(__u32 index, void *arg)
{
	struct loop_ctx *lc = arg;
	struct chunk_ctx *cx = &lc->c;
	__u64 off = (__u64)index * SSLC_CHUNK_MAX;
	__u64 left;
	__u32 want;

	if (off >= cx->len)
		return 1;
	left = cx->len - off;
	want = left > SSLC_CHUNK_MAX ? SSLC_CHUNK_MAX : (__u32)left;
	if (want <= 256)
		EMIT_CHUNK_CLASS(256);
	if (want <= 2048)
		EMIT_CHUNK_CLASS(2048);
	if (want <= 16384)
		EMIT_CHUNK_CLASS(16384);
	EMIT_CHUNK_CLASS(SSLC_CHUNK_MAX);
}

/* Reports lost bytes: a GAP record now, or added to the session's pending gap (delivered
 * before its next record, or in its CLOSE record) when the ring is full. */
static __always_inline void report_gap(struct session *s, __u8 dir, __u64 len, __u8 reason,
				       __u8 func)
{
	struct sslc_event *e;

	if (!len)
		return;
	count(reason == SSLC_F_GAP_CAP	   ? SSLC_CNT_GAP_CAP_BYTES
	      : reason == SSLC_F_GAP_FAULT ? SSLC_CNT_GAP_FAULT_BYTES
					   : SSLC_CNT_GAP_RING_BYTES,
	      len);
	if (s->gap[dir & 1] == 0) {
		e = reserve_small();
		if (e) {
			fill_header(e, SSLC_EVENT_GAP, s->conn_id, &s->conn);
			e->dir = dir;
			e->flags = reason;
			e->func = func;
			e->len = len;
			bpf_ringbuf_submit(e, wake_flags());
			return;
		}
	}
	__sync_fetch_and_add(&s->gap[dir & 1], len);
}

/* A pending gap goes out before any new data of that direction; false if it still can't. */
static __always_inline bool flush_pending_gap(struct session *s, __u8 dir)
{
	__u64 pending = s->gap[dir & 1];
	struct sslc_event *e;

	if (!pending)
		return true;
	e = reserve_small();
	if (!e)
		return false;
	fill_header(e, SSLC_EVENT_GAP, s->conn_id, &s->conn);
	e->dir = dir;
	e->flags = SSLC_F_GAP_RING_FULL;
	e->len = pending;
	bpf_ringbuf_submit(e, wake_flags());
	__sync_fetch_and_sub(&s->gap[dir & 1], pending);
	return true;
}

/* The TCP connection under a session is gone: its mirror ends; further calls on the SSL
 * object must bind again. */
static __always_inline void session_socket_gone(struct session *s, __u8 flags)
{
	session_close(s, flags, SSLC_FUNC_NONE);
	s->state = SESSION_UNBOUND;
	s->fd = -1;
}

/* Mirrors the n bytes a call transferred (or reports them as a gap). */
static __always_inline void call_data(struct loop_ctx *lc, __u64 n, __u8 func)
{
	struct session *s;
	__u8 dir;

	s = bpf_map_lookup_elem(&sessions, &lc->key);
	if (!s || s->state == SESSION_UNBOUND) {
		count(SSLC_CNT_NOSOCK_BYTES, n);
		proc_count(PROC_UNATTRIBUTED_BYTES, n);
		return;
	}
	if (s->state == SESSION_EXCLUDED) {
		count(SSLC_CNT_EXCLUDED_BYTES, n);
		return;
	}
	if (s->state != SESSION_MIRRORED)
		return;
	if (s->cut || (cut_used && bpf_map_lookup_elem(&cut_conns, &s->conn_id))) {
		s->cut = 1; /* the agent ended its mirror; the session's end still goes out */
		count(SSLC_CNT_EXCLUDED_BYTES, n);
		return;
	}
	if (s->closed) {
		/* data after SSL_shutdown/close: the same SSL object lives on; mirror it as a
		 * new connection */
		s->closed = 0;
		s->conn_id = __sync_fetch_and_add(&next_conn_id, 1);
		struct sock_owner owner = {.key = lc->key, .conn_id = s->conn_id};
		bpf_map_update_elem(&socks, &s->sk, &owner, BPF_ANY);
		count(SSLC_CNT_SESSIONS, 1);
		count(SSLC_CNT_LIB_SESSIONS + (s->conn.lib < SSLC_LIB__MAX ? s->conn.lib : 0), 1);
		proc_count(PROC_SESSIONS, 1);
	}
	dir =
	    (func == SSLC_FUNC_WRITE || func == SSLC_FUNC_WRITE_EX) ? SSLC_DIR_SEND : SSLC_DIR_RECV;
	count(SSLC_CNT_CALLS, 1);
	count(SSLC_CNT_LIB_BYTES + (s->conn.lib < SSLC_LIB__MAX ? s->conn.lib : 0), n);
	if (!flush_pending_gap(s, dir)) {
		report_gap(s, dir, n, SSLC_F_GAP_RING_FULL, func);
		return;
	}
	lc->c.len = n > cfg_max_call ? cfg_max_call : n;
	lc->c.total = n;
	lc->c.conn_id = s->conn_id;
	lc->c.ts_ns = bpf_ktime_get_ns();
	lc->c.dir = dir;
	lc->c.func = func;
	__builtin_memcpy(&lc->conn, &s->conn, sizeof(lc->conn));
	bpf_loop((lc->c.len + SSLC_CHUNK_MAX - 1) / SSLC_CHUNK_MAX, emit_chunk, lc, 0);
	if (!(lc->c.stopped && lc->c.stop_off < lc->c.len) && n <= lc->c.len)
		return; /* all of it delivered: the usual case */
	/* the session may have been evicted meanwhile; look it up again */
	s = bpf_map_lookup_elem(&sessions, &lc->key);
	if (!s)
		return;
	if (lc->c.stopped && lc->c.stop_off < lc->c.len)
		report_gap(s, dir, lc->c.len - lc->c.stop_off,
			   lc->c.fault ? SSLC_F_GAP_FAULT : SSLC_F_GAP_RING_FULL, func);
	if (n > lc->c.len)
		report_gap(s, dir, n - lc->c.len, SSLC_F_GAP_CAP, func);
}

#endif
