/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* SSL calls in progress when the probes are attached. Included by capture.bpf.c (after the
 * helpers it uses: count, reserve_small, fill_header, pid_wanted, conn_wanted, SYSCALL_NR).
 *
 * A thread blocked in SSL_read (in the read() of OpenSSL's socket BIO) when the probes are
 * attached returns through no return probe: a uretprobe takes the return address at the
 * function's entry. Whatever that call moves would be missing from the mirror without a
 * trace. The agent puts such threads (blocked in a read- or write-type system call on a
 * socket, in a process that maps the file being probed: agent/inflight.c) into the `inflight`
 * map. Until the thread's next SSL call, the socket hooks follow the TLS records it moves
 * through that socket: the record headers, read from the system call's user buffer. Its next
 * SSL call on the same socket, when it returns, reports the plaintext those records carried
 * as a gap of that direction, before its own data; on another socket, they are counted as
 * unattributed (SSLC_CNT_INFLIGHT_UNATTRIBUTED_BYTES) and no gap is made.
 *
 * The plaintext is the records' length less their overhead, which depends on the cipher
 * suite: 17 bytes (16-byte tag + inner content type) for TLS 1.3 with AES-GCM or ChaCha20,
 * 9 with AES-CCM-8; 24 (explicit nonce + tag) for TLS 1.2 AES-GCM or AES-CCM, 16 for TLS 1.2
 * ChaCha20-Poly1305 or AES-CCM-8; CBC suites vary from record to record. It is learnt from the
 * call that reports the gap: a write of n bytes that sent r records of total length b has the
 * overhead (b - n) / r; a read that returned n bytes, fewer than it asked, from a record of
 * length b has b - n. The gap is exact (SSLC_F_GAP_EXACT) when
 *   - the overhead was learnt so, and is one of 9, 16, 17, 24;
 *   - the stream was followed from a record boundary (the blocked read asked for a 5-byte
 *     header, or the bytes began with a valid header) and kept in step: every header valid,
 *     every read asking exactly what the record needed (OpenSSL without read-ahead: header,
 *     then body), one buffer (the first iovec) per call;
 *   - nothing moved before the probes were attached (else several calls may have passed
 *     unprobed; then both directions are reported, estimated);
 * and the length is, for a read, the last application-data record's: OpenSSL returns from
 * SSL_read with one record's data, the records read before it in the same call were not
 * application data (TLS 1.3 session tickets, key updates: their outer type is 23 too); for
 * a write, all the records it sent (a TLS 1.3 key update sent inside it would count as 5
 * bytes). Under TLS 1.3 it assumes the peer does not pad its records (OpenSSL, BoringSSL, NSS,
 * Go and rustls do not, by default). Otherwise the gap is an estimate (overhead 17 when not
 * learnt). A handshake record (type 20 or 22) seen outside a captured call means the thread
 * was in a handshake: no gap; any application data counted before it is unattributed.
 *
 * Machines with no watched thread pay one load of `inflight_watches` per socket operation. */
#ifndef SSLC_CAPTURE_INFLIGHT_H
#define SSLC_CAPTURE_INFLIGHT_H

#define MSG_PEEK	     2
#define TLS_HEADER_LEN	     5
#define TLS_MAX_RECORD	     (16384 + 2048) /* TLS 1.2's ciphertext limit; 1.3's is lower */
#define TLS_CT_CCS	     20
#define TLS_CT_HANDSHAKE     22
#define TLS_CT_APPDATA	     23
#define TLS_DEFAULT_OVERHEAD 17
#define TLS_PARSE_MAX_STEPS  8192 /* two per record: a 64 KiB read of the smallest records */
#define TLS_FLAGS_INEXACT                                                                          \
	(SSLC_TLS_MISALIGNED | SSLC_TLS_LOST | SSLC_TLS_READAHEAD | SSLC_TLS_EARLY)

__u32 inflight_watches = 0; /* set by the agent while `inflight` may hold records */
__u32 probe_epoch = 0;	    /* incremented by the agent after it attached a file's probes */

enum tls_verdict {
	TLS_OK = 0,
	TLS_NOT_TLS = 1, /* the first header is not TLS: not a TLS library's read */
};

struct tls_parse {
	struct sslc_tls_stream st;
	struct sslc_tls_count n; /* records completed by this operation */
	__u64 buf;
	__u32 len; /* bytes to parse at buf */
	__u32 off;
	__u8 verdict;	/* enum tls_verdict */
	__u8 handshake; /* a handshake or change_cipher_spec record was read */
	__u8 pad[6];
};

static __always_inline bool tls_header_valid(__u8 type, __u8 major, __u8 minor, __u32 len)
{
	return type >= 20 && type <= 24 && major == 3 && minor <= 4 && len && len <= TLS_MAX_RECORD;
}

/* One step of the record parser over [buf + off, buf + len): skip (part of) a body, or read
 * (part of) a header. bpf_loop callback. */
static long tls_parse_step(__u32 index, void *arg)
{
	struct tls_parse *p = arg;
	__u32 left, n, len;
	__u64 h;
	__u8 b;

	if (p->off >= p->len)
		return 1;
	left = p->len - p->off;
	if (p->st.body_left) {
		n = p->st.body_left < left ? p->st.body_left : left;
		p->off += n;
		p->st.body_left -= n;
		if (!p->st.body_left && p->st.type == TLS_CT_APPDATA) {
			p->n.records++;
			p->n.body += p->st.rec_len;
			p->n.last_len = p->st.rec_len;
		}
		return 0;
	}
	if (!p->st.hdr_have && left >= TLS_HEADER_LEN) {
		if (bpf_probe_read_user(p->st.hdr, TLS_HEADER_LEN, (const void *)(p->buf + p->off)))
			goto lost;
		p->st.hdr_have = TLS_HEADER_LEN;
		p->off += TLS_HEADER_LEN;
	} else {
		/* a header split between two system calls: a byte at a time, shifted into place
		 * (no variable stack offset) */
		if (bpf_probe_read_user(&b, 1, (const void *)(p->buf + p->off)))
			goto lost;
		__builtin_memcpy(&h, p->st.hdr, sizeof(h));
		h |= (__u64)b << ((p->st.hdr_have & 7) * 8);
		__builtin_memcpy(p->st.hdr, &h, sizeof(h));
		p->st.hdr_have++;
		p->off++;
		if (p->st.hdr_have < TLS_HEADER_LEN)
			return 0;
	}
	p->st.hdr_have = 0;
	len = (__u32)p->st.hdr[3] << 8 | p->st.hdr[4];
	if (!tls_header_valid(p->st.hdr[0], p->st.hdr[1], p->st.hdr[2], len)) {
		if (!(p->st.flags & SSLC_TLS_CONFIRMED))
			p->verdict = TLS_NOT_TLS;
		goto lost;
	}
	p->st.flags |= SSLC_TLS_CONFIRMED;
	if (p->st.hdr[0] == TLS_CT_HANDSHAKE || p->st.hdr[0] == TLS_CT_CCS)
		p->handshake = 1;
	p->st.type = p->st.hdr[0];
	p->st.rec_len = len;
	p->st.body_left = len;
	__builtin_memset(p->st.hdr, 0, sizeof(p->st.hdr));
	return 0;
lost:
	p->st.flags |= SSLC_TLS_LOST;
	return 1;
}

/* The user buffer of the system call in progress (read, recvfrom, write, sendto; the first
 * iovec of readv, recvmsg, writev, sendmsg) and the size it asked for. */
static __always_inline bool op_buffer(__u64 *buf, __u64 *size)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	struct user_msghdr msg;
	struct iovec iov;

	switch (SYSCALL_NR(regs)) {
	case NR_read:
	case NR_write:
	case NR_recvfrom:
	case NR_sendto:
		*buf = PT_REGS_PARM2_CORE_SYSCALL(regs);
		*size = PT_REGS_PARM3_CORE_SYSCALL(regs);
		return true;
	case NR_readv:
	case NR_writev:
		if (bpf_probe_read_user(&iov, sizeof(iov),
					(const void *)PT_REGS_PARM2_CORE_SYSCALL(regs)))
			return false;
		break;
	case NR_recvmsg:
	case NR_sendmsg:
		if (bpf_probe_read_user(&msg, sizeof(msg),
					(const void *)PT_REGS_PARM2_CORE_SYSCALL(regs)) ||
		    bpf_probe_read_user(&iov, sizeof(iov), msg.msg_iov))
			return false;
		break;
	default:
		return false; /* sendfile, splice, io_uring...: the records cannot be followed */
	}
	*buf = (__u64)iov.iov_base;
	*size = iov.iov_len;
	return true;
}

/* Where the first operation of a direction begins: false if it cannot be a TLS library's. */
static __always_inline bool tls_first_op(struct tls_parse *p, __u8 dir, __u64 size)
{
	__u8 h[TLS_HEADER_LEN];

	if (dir == SSLC_DIR_RECV && size == TLS_HEADER_LEN)
		return true; /* a header read: at a record boundary */
	if (p->len >= TLS_HEADER_LEN && !bpf_probe_read_user(h, sizeof(h), (const void *)p->buf) &&
	    tls_header_valid(h[0], h[1], h[2], (__u32)h[3] << 8 | h[4]))
		return true; /* begins with a header (a write, a read-ahead read) */
	if (dir != SSLC_DIR_RECV || size > TLS_MAX_RECORD)
		return false;
	/* the rest of a record whose header was read before: OpenSSL asks for exactly that */
	p->st.flags |= SSLC_TLS_MISALIGNED;
	p->st.type = TLS_CT_APPDATA;
	p->st.rec_len = (__u32)size;
	p->st.body_left = (__u32)size;
	return true;
}

static __always_inline void inflight_forget(__u32 tid)
{
	bpf_map_delete_elem(&inflight, &tid);
}

/* The plaintext direction d of w lost (see the top of this file), with ovh bytes of overhead
 * per record; *clean: the records were followed from a boundary, in step, after the probes
 * were attached (exact if ovh was learnt). confirmed: only if a valid header was read. */
static __always_inline __u64 inflight_lost(const struct sslc_inflight *w, __u8 d, __u32 ovh,
					   bool confirmed, bool *clean)
{
	const struct sslc_tls_stream *st = &w->st[d & 1];
	const struct sslc_tls_count *n = &w->lost[d & 1];
	bool early = (w->st[0].flags | w->st[1].flags) & SSLC_TLS_EARLY;
	__u64 body = n->body, recs = n->records, out = 0, k;

	*clean = !(st->flags & TLS_FLAGS_INEXACT) && !n->unparsed;
	if (d != w->dir && !early)
		return 0; /* one call in flight: its direction only (an SSL_read may send a key
			   * update); several (early): both */
	if (confirmed && !(st->flags & SSLC_TLS_CONFIRMED))
		return 0;
	if (d == SSLC_DIR_RECV && *clean && recs) {
		body = n->last_len; /* SSL_read returns one record's data: the last one read */
		recs = 1;
	}
	if (body > recs * ovh)
		out = body - recs * ovh;
	if (n->unparsed) { /* as records of the largest size, headers included */
		k = (n->unparsed + 16388 + ovh) / (16389 + ovh) * (TLS_HEADER_LEN + ovh);
		if (n->unparsed > k)
			out += n->unparsed - k;
	}
	return out;
}

/* The thread's records go to no connection: counted (estimated), then forgotten. */
static __always_inline void inflight_unattributed(const struct sslc_inflight *w, __u32 tid)
{
	bool clean;

	for (__u8 d = 0; d < 2; d++)
		count(SSLC_CNT_INFLIGHT_UNATTRIBUTED_BYTES,
		      inflight_lost(w, d, TLS_DEFAULT_OVERHEAD, true, &clean));
	inflight_forget(tid);
}

/* A send or receive of sk by a watched thread. in_call: inside a captured SSL call. */
static __always_inline void inflight_op(struct sock *sk, int ret, int flags, __u8 dir, bool in_call)
{
	__u64 id = bpf_get_current_pid_tgid(), size = 0;
	__u32 tid = (__u32)id;
	struct sslc_inflight *w = bpf_map_lookup_elem(&inflight, &tid);
	struct tls_parse p = {};
	struct sslc_tls_count *n;
	__u8 d = dir & 1;

	if (!w)
		return;
	if (w->tgid != id >> 32) { /* the thread id belongs to another process now */
		inflight_forget(tid);
		return;
	}
	if (in_call && w->phase != SSLC_INFLIGHT_NEXT)
		return; /* a call that began before the watch (agent's rescan): its bytes are its
			   own */
	if (ret < 0 || (dir == SSLC_DIR_RECV && (flags & MSG_PEEK)))
		return;
	if (!w->sk) {
		struct sock *wsk = fd_to_tcp_sock(w->fd);
		struct sslc_conn conn = {};

		if (wsk != sk) {
			if (!wsk) /* its descriptor was closed, or is no TCP socket */
				inflight_forget(tid);
			return;
		}
		read_conn(sk, &conn);
		if (!conn_wanted(&conn) || !pid_wanted(id >> 32)) {
			inflight_forget(tid); /* not mirrored anyway */
			return;
		}
		w->sk = (__u64)sk;
	} else if (w->sk != (__u64)sk) {
		return;
	}
	if (!ret) {
		/* the peer ended the connection: if nothing came before, nothing was in flight */
		if (!in_call && !w->lost[0].records && !w->lost[1].records &&
		    !w->lost[0].unparsed && !w->lost[1].unparsed)
			inflight_forget(tid);
		return;
	}
	p.st = w->st[d];
	if (!in_call && probe_epoch == w->epoch)
		p.st.flags |= SSLC_TLS_EARLY;
	if ((p.st.flags & SSLC_TLS_LOST) || !op_buffer(&p.buf, &size)) {
		p.st.flags |= SSLC_TLS_LOST;
		p.n.unparsed = (__u32)ret;
		goto store;
	}
	p.len = (__u64)ret < size ? (__u32)ret : (__u32)size;
	if (!(p.st.flags & SSLC_TLS_STARTED)) {
		p.st.flags |= SSLC_TLS_STARTED;
		if (!tls_first_op(&p, d, size)) {
			inflight_forget(tid);
			return;
		}
	}
	if (d == SSLC_DIR_RECV && !(p.st.flags & SSLC_TLS_READAHEAD)) {
		__u64 need = p.st.body_left ? p.st.body_left : TLS_HEADER_LEN - p.st.hdr_have;

		if (size != need) {
			if ((p.st.flags & SSLC_TLS_MISALIGNED) &&
			    !(p.st.flags & SSLC_TLS_CONFIRMED)) {
				inflight_forget(tid); /* not the reads of a TLS library */
				return;
			}
			p.st.flags |= SSLC_TLS_READAHEAD;
		}
	}
	bpf_loop(TLS_PARSE_MAX_STEPS, tls_parse_step, &p, 0);
	if (p.verdict == TLS_NOT_TLS && !in_call) {
		inflight_forget(tid); /* not a TLS read: nothing of ours was in flight */
		return;
	}
	if (!(p.st.flags & SSLC_TLS_LOST) && p.off < p.len)
		p.st.flags |= SSLC_TLS_LOST; /* more records than steps */
	if (p.st.flags & SSLC_TLS_LOST)
		p.n.unparsed += (__u32)ret - p.off;
	if (p.handshake && !in_call) {
		inflight_unattributed(w,
				      tid); /* a handshake was in progress, not application data */
		return;
	}
store:
	w->st[d] = p.st;
	n = in_call ? &w->call[d] : &w->lost[d];
	n->records += p.n.records;
	n->body += p.n.body;
	n->unparsed += p.n.unparsed;
	if (p.n.records)
		n->last_len = p.n.last_len;
}

/* An SSL call begins on the thread: what was in flight is complete. */
static __always_inline void inflight_call_enter(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct sslc_inflight *w = bpf_map_lookup_elem(&inflight, &tid);

	if (!w)
		return;
	if (w->tgid != id >> 32) {
		inflight_forget(tid);
		return;
	}
	if (w->phase == SSLC_INFLIGHT_WATCHING) {
		if (!w->lost[0].records && !w->lost[1].records && !w->lost[0].unparsed &&
		    !w->lost[1].unparsed) {
			inflight_forget(
			    tid); /* the call in progress moved nothing (or there was none) */
			return;
		}
		w->phase = SSLC_INFLIGHT_NEXT;
	}
	__builtin_memset(w->call, 0, sizeof(w->call));
}

/* The thread's next SSL call runs on a socket that is not mirrored (SESSION_IGNORED): what
 * was in flight went to another connection, or to none of ours. */
static __always_inline void inflight_call_elsewhere(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct sslc_inflight *w = bpf_map_lookup_elem(&inflight, &tid);

	if (w && w->tgid == id >> 32)
		inflight_unattributed(w, tid);
	else if (w)
		inflight_forget(tid);
}

/* The per-record overhead, from the call that reports the gap (see the top); 0: not learnt. */
static __always_inline __u32 learn_overhead(const struct sslc_inflight *w, __u8 func, __u64 n,
					    __u64 num)
{
	const struct sslc_tls_count *c;
	__u64 ovh = 0;

	if (!n)
		return 0;
	if (func == SSLC_FUNC_WRITE || func == SSLC_FUNC_WRITE_EX) {
		const struct sslc_tls_stream *st = &w->st[SSLC_DIR_SEND];

		c = &w->call[SSLC_DIR_SEND];
		if (c->records && !c->unparsed && !st->hdr_have && !st->body_left &&
		    !(st->flags & SSLC_TLS_LOST) && c->body > n && (c->body - n) % c->records == 0)
			ovh = (c->body - n) / c->records;
	} else if (func == SSLC_FUNC_READ || func == SSLC_FUNC_READ_EX) {
		c = &w->call[SSLC_DIR_RECV];
		if (c->records && n < num && c->last_len > n &&
		    !(w->st[SSLC_DIR_RECV].flags & (SSLC_TLS_LOST | SSLC_TLS_READAHEAD)))
			ovh = c->last_len - n;
	}
	return ovh == 9 || ovh == 16 || ovh == 17 || ovh == 24 ? (__u32)ovh : 0;
}

/* One in-flight gap on session s (ring full: added to its pending gap, see report_gap). */
static __always_inline void inflight_gap(struct session *s, __u8 dir, __u64 len, bool exact)
{
	struct sslc_event *e;

	if (!len)
		return;
	count(SSLC_CNT_INFLIGHT_GAPS, 1);
	if (exact)
		count(SSLC_CNT_INFLIGHT_EXACT, 1);
	count(SSLC_CNT_GAP_INFLIGHT_BYTES, len);
	if (!s->gap[dir & 1]) {
		e = reserve_small();
		if (e) {
			fill_header(e, SSLC_EVENT_GAP, s->conn_id, &s->conn);
			e->dir = dir;
			e->flags = SSLC_F_GAP_INFLIGHT | (exact ? SSLC_F_GAP_EXACT : 0);
			e->len = len;
			bpf_ringbuf_submit(e, wake_flags());
			return;
		}
	}
	__sync_fetch_and_add(&s->gap[dir & 1], len);
}

/* The gaps of a watch whose thread's next call runs on its socket, session s. */
static __always_inline void inflight_report(struct session *s, const struct sslc_inflight *w,
					    __u8 func, __u64 n, __u64 num)
{
	__u32 ovh = learn_overhead(w, func, n, num);
	bool clean;
	__u64 len;

	for (__u8 i = 0; i < 2; i++) {
		__u8 d = (w->dir + i) & 1; /* the blocked call's direction first */

		len = inflight_lost(w, d, ovh ? ovh : TLS_DEFAULT_OVERHEAD, false, &clean);
		inflight_gap(s, d, len, clean && ovh);
	}
}

/* An SSL call of the thread returns (func; n bytes of num): if it runs on the watched socket,
 * the gaps go out now, before its own data. */
static __always_inline void inflight_call_exit(const struct session_key *key, __u8 func, __u64 n,
					       __u64 num)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct sslc_inflight *w = bpf_map_lookup_elem(&inflight, &tid);
	struct session *s;

	if (!w)
		return;
	if (w->tgid != key->tgid || w->phase != SSLC_INFLIGHT_NEXT) {
		inflight_forget(tid); /* watched during this very call: nothing of it was lost */
		return;
	}
	s = bpf_map_lookup_elem(&sessions, key);
	if (!s || s->state == SESSION_UNBOUND)
		return; /* the call never saw its socket (served from OpenSSL's buffer): next one */
	if (s->sk != w->sk || (s->state == SESSION_MIRRORED && s->closed)) {
		inflight_unattributed(w, tid);
		return;
	}
	if (func == SSLC_FUNC_HANDSHAKE)
		return; /* a renegotiation on the watched socket: its next read or write reports */
	if (s->state == SESSION_MIRRORED)
		inflight_report(s, w, func, n, num);
	inflight_forget(tid);
}

#endif
