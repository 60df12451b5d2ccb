// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Captures the plaintext of OpenSSL's SSL_read/SSL_write(_ex) and ties it to its TCP socket.
 *
 * Entry probes stash the call's arguments by thread; the syscall the call makes on the same
 * thread names the socket (cached per SSL object, so reads served from OpenSSL's buffer keep
 * it); return probes copy what the return value says was transferred into the one ring buffer,
 * split into chunks, and report what they could not copy as gaps of exact length. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "sslcollector/event.h"
#include "attrib.h"
#include "capture_maps.h"
#include "capture_sock.h"
#include "capture_common.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#include "capture_inflight.h"
#include "capture_session.h"
#include "capture_attrib.h"

/* ---- entry: remember the call ---------------------------------------------------------- */

/* The thread's call record; create: make one (first call of the thread). */
static __always_inline struct call_args *thread_call(bool create)
{
	return bpf_task_storage_get(&active_calls, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

static __always_inline int call_enter(__u64 ssl, __u64 buf, __u64 num, __u64 ex_out, __u8 func,
				      __u8 lib)
{
	struct session_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .ssl = ssl};
	struct call_args *c;
	struct session *s;

	if (!pid_wanted(key.tgid))
		return 0;
	s = bpf_map_lookup_elem(&sessions, &key);
	if (s && s->state == SESSION_IGNORED) {
		if (inflight_watches)
			inflight_call_elsewhere();
		c = s->via_window ? thread_call(false) : NULL;
		if (c && !c->active)
			attrib_call_enter(&c->win, 0, &(int){0}); /* its window closes */
		return 0; /* a socket we know we do not mirror: cheapest possible exit */
	}
	c = thread_call(true);
	if (!c) {
		count(SSLC_CNT_UNTRACKED_CALLS, 1);
		return 0;
	}
	/* a nested call (an _ex function implemented with the other) keeps the outer call's
	 * arguments; the inner return sees a different func and ignores itself */
	if (c->active) {
		count(SSLC_CNT_NESTED_CALLS, 1);
		return 0;
	}
	if (inflight_watches)
		inflight_call_enter();
	c->ssl = ssl;
	c->buf = buf;
	c->num = num;
	c->ex_out = ex_out;
	c->func = func;
	c->lib = lib;
	c->wv_next = 0;
	c->sock_seen = 0;
	c->active = 1;
	if (s && func != SSLC_FUNC_HANDSHAKE)
		s->call_state = CALL_ACTIVE; /* see enum call_state */
	attrib_enter(c, &key, s, func);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(ssl_write_enter, void *ssl, const void *buf, int num)
{
	return call_enter((__u64)ssl, (__u64)buf, (__u64)(long)num, 0, SSLC_FUNC_WRITE,
			  SSLC_LIB_OPENSSL);
}

SEC("uprobe")
int BPF_UPROBE(ssl_read_enter, void *ssl, void *buf, int num)
{
	return call_enter((__u64)ssl, (__u64)buf, (__u64)(long)num, 0, SSLC_FUNC_READ,
			  SSLC_LIB_OPENSSL);
}

SEC("uprobe")
int BPF_UPROBE(ssl_write_ex_enter, void *ssl, const void *buf, size_t num, size_t *written)
{
	return call_enter((__u64)ssl, (__u64)buf, num, (__u64)written, SSLC_FUNC_WRITE_EX,
			  SSLC_LIB_OPENSSL);
}

SEC("uprobe")
int BPF_UPROBE(ssl_read_ex_enter, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	return call_enter((__u64)ssl, (__u64)buf, num, (__u64)readbytes, SSLC_FUNC_READ_EX,
			  SSLC_LIB_OPENSSL);
}

/* The handshake reads and writes the socket too. With read-ahead (nginx sets it) it may
 * even read the first application data, so that the first SSL_read makes no system call at
 * all: bind the socket here already. */
SEC("uprobe")
int BPF_UPROBE(ssl_handshake_enter, void *ssl)
{
	return call_enter((__u64)ssl, 0, 0, 0, SSLC_FUNC_HANDSHAKE, SSLC_LIB_OPENSSL);
}

SEC("uretprobe")
int BPF_URETPROBE(ssl_handshake_exit)
{
	struct call_args *c = thread_call(false);

	if (c && c->active && c->func == SSLC_FUNC_HANDSHAKE) {
		struct session_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .ssl = c->ssl};

		c->active = 0;
		attrib_exit(c, &key, SSLC_FUNC_HANDSHAKE, 0, c->sock_seen);
	}
	return 0;
}

#include "capture_libs.h"

/* The socket hooks (the default): the call's first send or receive names its socket, and
 * mmap() is seen when it takes the address space's lock for writing. None of them runs for
 * other system calls. */
static __always_inline void sock_op(struct sock *sk, int ret, int flags, __u8 dir)
{
	struct call_args *c = thread_call(false);

	if (inflight_watches)
		inflight_op(sk, ret, flags, dir, c && c->active);
	if (!c)
		return;
	if (!c->active) {
		if (c->win.follow) /* around the calls of a memory BIO (capture_attrib.h) */
			attrib_sock_op(c, sk, ret, flags, dir);
		return;
	}
	/* an operation that failed (EAGAIN) moved nothing, and comes too early to judge: a
	 * server's first read right after accept() may run before the other end (our own tunnel
	 * client) has put the connection into excluded_conns, which it does before sending */
	if (c->sock_seen || ret < 0)
		return;
	c->sock_seen = 1;
	struct session_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .ssl = c->ssl};
	session_bind_sock(&key, sk, c->func, c->lib);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send_length, struct sock *sk, int ret, int flags)
{
	sock_op(sk, ret, flags, SSLC_DIR_SEND);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv_length, struct sock *sk, int ret, int flags)
{
	sock_op(sk, ret, flags, SSLC_DIR_RECV);
	return 0;
}

/* Only the first argument: older kernels have a memcg path between it and `write`. */
SEC("tp_btf/mmap_lock_start_locking")
int BPF_PROG(mmap_lock_start_locking, struct mm_struct *mm)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	/* page faults (no syscall: -1), munmap, mprotect, brk, /proc/PID/maps readers, ... and
	 * the kernel's own users (kernel threads: 0) */
	if (SYSCALL_NR(regs) != NR_mmap)
		return 0;
	check_mmap(regs);
	return 0;
}

/* The syscall hook (kernels without the socket hooks, or --syscall-hook): one program for
 * every system call on the machine, which costs each of them some 30 ns. */
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long nr)
{
	struct call_args *c;

	if (nr == NR_mmap) {
		check_mmap(regs);
		return 0;
	}
	switch (nr) {
	case NR_read:
	case NR_write:
	case NR_readv:
	case NR_writev:
	case NR_sendto:
	case NR_recvfrom:
	case NR_sendmsg:
	case NR_recvmsg:
		break;
	default:
		return 0;
	}
	c = thread_call(false);
	if (!c || !c->active || c->sock_seen)
		return 0;
	c->sock_seen = 1;
	struct session_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .ssl = c->ssl};
	session_bind_fd(&key, (int)PT_REGS_PARM1_CORE_SYSCALL(regs), c->func, c->lib);
	return 0;
}

#include "capture_emit.h"

static __always_inline int call_exit(long ret, __u8 func)
{
	struct call_args *c = thread_call(false);
	struct loop_ctx lc = {};
	struct session *s;
	__u64 n = 0, num;
	bool named;

	if (!c || !c->active)
		return 0;
	if (c->func != func)
		return 0; /* a nested call: the outer one reports */
	named = c->sock_seen;
	lc.key.tgid = bpf_get_current_pid_tgid() >> 32;
	lc.key.ssl = c->ssl;
	lc.c.buf = c->buf;
	num = c->num;
	if (func == SSLC_FUNC_READ_EX || func == SSLC_FUNC_WRITE_EX) {
		size_t done = 0;

		if (ret == 1 && !bpf_probe_read_user(&done, sizeof(done), (void *)c->ex_out))
			n = done;
	} else if (ret > 0) {
		n = (__u64)ret;
	}
	c->active = 0;
	if (n > num && num)
		n = num;      /* never trust more than the buffer holds */
	if (inflight_watches) /* what a call in progress at attach moved: a gap, before n */
		inflight_call_exit(&lc.key, func, n, num);
	if (n)
		call_data(&lc, n, func); /* else it failed or would block: nothing transferred */
	/* the call is over, its bytes mirrored: a close that waited for it happens now */
	s = bpf_map_lookup_elem(&sessions, &lc.key);
	if (s && __sync_lock_test_and_set(&s->call_state, CALL_DONE) == CALL_CLOSE_DEFERRED) {
		session_socket_gone(s, s->close_flags);
		count(SSLC_CNT_CLOSE_AFTER_CALL, 1);
	}
	attrib_exit(c, &lc.key, func, n, named);
	return 0;
}

SEC("uretprobe")
int BPF_URETPROBE(ssl_write_exit, int ret)
{
	return call_exit(ret, SSLC_FUNC_WRITE);
}

SEC("uretprobe")
int BPF_URETPROBE(ssl_read_exit, int ret)
{
	return call_exit(ret, SSLC_FUNC_READ);
}

SEC("uretprobe")
int BPF_URETPROBE(ssl_write_ex_exit, int ret)
{
	return call_exit(ret, SSLC_FUNC_WRITE_EX);
}

SEC("uretprobe")
int BPF_URETPROBE(ssl_read_ex_exit, int ret)
{
	return call_exit(ret, SSLC_FUNC_READ_EX);
}

/* ---- end of a session ------------------------------------------------------------------- */

SEC("uprobe")
int BPF_UPROBE(ssl_shutdown_enter, void *ssl)
{
	struct session_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .ssl = (__u64)ssl};
	struct session *s = bpf_map_lookup_elem(&sessions, &key);

	if (s)
		session_close(s, 0, SSLC_FUNC_SHUTDOWN);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(ssl_free_enter, void *ssl)
{
	struct session_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .ssl = (__u64)ssl};
	struct session *s = bpf_map_lookup_elem(&sessions, &key);

	if (!s)
		return 0;
	session_close(s, 0, SSLC_FUNC_FREE);
	struct sock_owner *o = bpf_map_lookup_elem(&socks, &s->sk);
	if (o && o->key.tgid == key.tgid && o->key.ssl == key.ssl)
		bpf_map_delete_elem(&socks, &s->sk);
	bpf_map_delete_elem(&sessions, &key);
	return 0;
}

/* Roles from the connection's set-up, and the end of the TCP connection itself. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, const struct sock *sk, int oldstate, int newstate)
{
	__u64 skp = (__u64)sk;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_ESTABLISHED && (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)) {
		__u8 role = oldstate == TCP_SYN_SENT ? SSLC_ROLE_CLIENT : SSLC_ROLE_SERVER;

		bpf_map_update_elem(&sock_roles, &skp, &role, BPF_ANY);
		return 0;
	}
	if (newstate != TCP_CLOSE)
		return 0;
	bpf_map_delete_elem(&sock_roles, &skp);
	struct sock_owner *o = bpf_map_lookup_elem(&socks, &skp);
	if (!o)
		return 0;
	struct session_key key = o->key;
	__u64 conn_id = o->conn_id;
	bpf_map_delete_elem(&socks, &skp);
	struct session *s = bpf_map_lookup_elem(&sessions, &key);
	if (!s || s->conn_id != conn_id)
		return 0;
	/* Orderly ends pass through FIN states; a jump to CLOSE from a synchronised state is
	 * an abort or a received reset. */
	bool reset = oldstate == TCP_ESTABLISHED || oldstate == TCP_CLOSE_WAIT ||
		     oldstate == TCP_FIN_WAIT1 || oldstate == TCP_SYN_SENT ||
		     oldstate == TCP_SYN_RECV;
	__u8 flags = SSLC_F_CLOSE_SOCKET | (reset ? SSLC_F_CLOSE_RESET : 0);
	/* A read/write call on it may have moved bytes through the socket and not returned yet
	 * (the reset raced its return probe): leave the end to that return (enum call_state). */
	s->close_flags = flags;
	if (__sync_val_compare_and_swap(&s->call_state, CALL_ACTIVE, CALL_CLOSE_DEFERRED) ==
	    CALL_ACTIVE)
		return 0;
	/* the SSL object may outlive its socket: further calls must re-bind */
	session_socket_gone(s, flags);
	return 0;
}

#include "capture_gnutls.h"
#include "capture_nss.h"
