// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Part of capture.bpf.c: NSS. Its TLS is an I/O layer that SSL_ImportFD pushes onto an NSPR
 * descriptor (PRFileDesc); the application then reads and writes it with NSPR's PR_Read,
 * PR_Write, PR_Recv and PR_Send, which plain sockets and files use too. A descriptor is
 * mirrored only when its top layer is NSS's SSL layer: its methods table and layer identity
 * equal those of a descriptor SSL_ImportFD returned in the same process (NSPR keeps the top
 * of a stack at the same address when it pushes a layer, and every SSL descriptor of a
 * process shares NSS's one methods table). A process whose first SSL_ImportFD came before
 * the agent is mirrored from its next one on. The PRFileDesc pointer is the session's key;
 * PR_Close ends it (ssl_free_enter). */
#ifndef SSLC_CAPTURE_NSS_H
#define SSLC_CAPTURE_NSS_H

/* NSPR's struct PRFileDesc (prio.h, unchanged since NSPR 4.0) */
struct nspr_file_desc {
	__u64 methods;
	__u64 secret;
	__u64 lower, higher;
	__u64 dtor;
	__s32 identity;
};

#define PR_MSG_PEEK 0x2

/* PRFileDesc *SSL_ImportFD(PRFileDesc *model, PRFileDesc *fd): its result is an SSL one. */
SEC("uretprobe")
int BPF_URETPROBE(nss_import_exit, void *fd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct nspr_file_desc d;
	struct nss_layer l = {};

	if (!fd || !pid_wanted(tgid) || bpf_probe_read_user(&d, sizeof(d), fd))
		return 0;
	l.methods = d.methods;
	l.identity = d.identity;
	bpf_map_update_elem(&nss_layers, &tgid, &l, BPF_ANY);
	return 0;
}

/* Whether fd's top layer is NSS's SSL layer (see above). */
static __always_inline bool nss_ssl_fd(void *fd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct nss_layer *l = bpf_map_lookup_elem(&nss_layers, &tgid);
	struct nspr_file_desc d;

	if (!l || !fd || bpf_probe_read_user(&d, sizeof(d), fd))
		return false;
	return d.methods == l->methods && d.identity == l->identity;
}

/* PRInt32 PR_Write(PRFileDesc *fd, const void *buf, PRInt32 amount), PR_Read likewise. */
SEC("uprobe")
int BPF_UPROBE(nss_write_enter, void *fd, const void *buf, int amount)
{
	if (!nss_ssl_fd(fd))
		return 0;
	return call_enter((__u64)fd, (__u64)buf, (__u64)(long)amount, 0, SSLC_FUNC_WRITE,
			  SSLC_LIB_NSS);
}

SEC("uprobe")
int BPF_UPROBE(nss_read_enter, void *fd, void *buf, int amount)
{
	if (!nss_ssl_fd(fd))
		return 0;
	return call_enter((__u64)fd, (__u64)buf, (__u64)(long)amount, 0, SSLC_FUNC_READ,
			  SSLC_LIB_NSS);
}

/* PR_Recv(fd, buf, amount, flags, timeout): a peek leaves the bytes for the next read. */
SEC("uprobe")
int BPF_UPROBE(nss_recv_enter, void *fd, void *buf, int amount, int flags)
{
	if ((flags & PR_MSG_PEEK) || !nss_ssl_fd(fd))
		return 0;
	return call_enter((__u64)fd, (__u64)buf, (__u64)(long)amount, 0, SSLC_FUNC_READ,
			  SSLC_LIB_NSS);
}

/* PRInt32 PR_Writev(PRFileDesc *fd, const PRIOVec *iov, PRInt32 n, PRIntervalTime timeout):
 * NSS's SSL layer gathers the vectors into its records itself (selfserv answers so). The
 * exit copies each vector's part of the bytes written, in order. */
#define PR_MAX_IOVECTOR_SIZE 16

struct nspr_iovec {
	__u64 base;
	__s32 len;
	__u32 pad;
};

SEC("uprobe")
int BPF_UPROBE(nss_writev_enter, void *fd, const void *iov, int n)
{
	if (n <= 0 || n > PR_MAX_IOVECTOR_SIZE || !nss_ssl_fd(fd))
		return 0;
	return call_enter((__u64)fd, (__u64)iov, (__u64)n, 0, SSLC_FUNC_WRITEV, SSLC_LIB_NSS);
}

/* One vector per run: the program tail-calls itself for the next (a loop over the vectors,
 * each copied by call_data, is too much for the verifier). Progress is in the thread's call
 * record: ex_out holds the bytes not yet copied, wv_next the next vector. */
int nss_writev_exit(struct pt_regs *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct pt_regs *));
} writev_next SEC(".maps") = {
    .values = {[0] = (void *)&nss_writev_exit},
};

SEC("uretprobe")
int BPF_URETPROBE(nss_writev_exit, int ret)
{
	struct call_args *c = thread_call(false);
	struct loop_ctx lc = {};
	struct nspr_iovec v;
	struct session *s;
	__u64 left, m;
	__u8 i;

	if (!c || !c->active || c->func != SSLC_FUNC_WRITEV)
		return 0;
	if (!c->wv_next)
		c->ex_out = ret > 0 ? (__u64)ret : 0; /* the first run: what was written */
	left = c->ex_out;
	i = c->wv_next;
	lc.key.tgid = bpf_get_current_pid_tgid() >> 32;
	lc.key.ssl = c->ssl;
	if (left && i < c->num && i < PR_MAX_IOVECTOR_SIZE &&
	    !bpf_probe_read_user(&v, sizeof(v), (void *)(c->buf + (__u64)i * sizeof(v)))) {
		m = v.len > 0 ? (__u64)v.len : 0;
		if (m > left)
			m = left;
		c->ex_out = left - m;
		c->wv_next = i + 1;
		if (m) {
			lc.c.buf = v.base;
			call_data(&lc, m, SSLC_FUNC_WRITE);
		}
		c = thread_call(false);
		if (!c)
			return 0;
		if (c->ex_out && c->wv_next < c->num)
			bpf_tail_call(ctx, &writev_next, 0); /* on failure: the rest is a gap */
	}
	left = c->ex_out;
	c->active = 0;
	c->wv_next = 0;
	s = bpf_map_lookup_elem(&sessions, &lc.key);
	/* vectors that could not be read: their bytes are a gap (unreadable) */
	if (s && left && s->state == SESSION_MIRRORED)
		report_gap(s, SSLC_DIR_SEND, left, SSLC_F_GAP_FAULT, SSLC_FUNC_WRITE);
	if (s && __sync_lock_test_and_set(&s->call_state, CALL_DONE) == CALL_CLOSE_DEFERRED) {
		session_socket_gone(s, s->close_flags);
		count(SSLC_CNT_CLOSE_AFTER_CALL, 1);
	}
	attrib_exit(c, &lc.key, SSLC_FUNC_WRITEV, ret > 0 ? (__u64)ret : 0, c->sock_seen);
	return 0;
}

/* SECStatus SSL_ForceHandshake(PRFileDesc *fd): binds the socket early, as for OpenSSL. */
SEC("uprobe")
int BPF_UPROBE(nss_handshake_enter, void *fd)
{
	return call_enter((__u64)fd, 0, 0, 0, SSLC_FUNC_HANDSHAKE, SSLC_LIB_NSS);
}

/* The exits are the OpenSSL ones (an int result: bytes, 0 end, -1 error); PR_Close is
 * ssl_free_enter (its first argument is the session's key). */

#endif
