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
#include "capture_maps.h"
#include "capture_sock.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT	2
#define TCP_SYN_RECV	3
#define TCP_FIN_WAIT1	4
#define TCP_FIN_WAIT2	5
#define TCP_TIME_WAIT	6
#define TCP_CLOSE	7
#define TCP_CLOSE_WAIT	8
#define TCP_LAST_ACK	9
#define TCP_CLOSING	11

/* Filled in by the agent before load. */
const volatile __u32 cfg_netns = 0;	      /* network namespace inode to mirror (0: any) */
const volatile __u8 cfg_any_addr = 1;	      /* mirror every local address (-I any) */
const volatile __u8 cfg_pid_filter = 0;	      /* only processes in pid_filter (-p) */
const volatile __u64 cfg_max_call = 16 << 20; /* bytes captured per call (--max-call-size) */
const volatile __u32 cfg_self_tgid = 0;	      /* the agent itself: never mirrored */
const volatile __u64 cfg_wake_bytes = 0;      /* wake the agent when this much data waits */
const volatile __u64 cfg_wake_hard_bytes = 0; /* ... and at every record from this much on */

__u64 next_conn_id = 1;
__u32 excluded_used = 0; /* set by the agent before its first excluded_conns entry */
__u32 cut_used = 0;	 /* set by the agent before its first cut_conns entry */

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += n; /* per-CPU: no atomics needed */
}

/* Each wake-up of the agent is an irq_work self-interrupt, expensive on virtual machines
 * (an APIC write traps to the hypervisor). So the agent is woken once, by the record that
 * makes the waiting data cross cfg_wake_bytes (not by every record after it: the agent is
 * already draining), and by every record once half the ring is waiting, should that one
 * wake-up have been missed (producers on other CPUs racing it). It also drains the ring every
 * few milliseconds on its own (CAPTURE_POLL_MS). size: the record's size. */
static __always_inline __u64 wake_flags_sized(__u64 size)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	if (avail >= cfg_wake_hard_bytes ||
	    (avail >= cfg_wake_bytes && avail < cfg_wake_bytes + size + 8))
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline __u64 wake_flags(void)
{
	return wake_flags_sized(sizeof(struct sslc_event));
}

static __always_inline bool pid_wanted(__u32 tgid)
{
	if (tgid == cfg_self_tgid)
		return false;
	if (cfg_pid_filter && !bpf_map_lookup_elem(&pid_filter, &tgid))
		return false;
	return true;
}

static __always_inline bool conn_wanted(const struct sslc_conn *c)
{
	struct sslc_addr_key a = {};

	if (cfg_netns && c->netns != cfg_netns)
		return false;
	if (cfg_any_addr)
		return true;
	a.family = c->family;
	__builtin_memcpy(a.addr, c->local_addr, sizeof(a.addr));
	return bpf_map_lookup_elem(&local_addrs, &a) != NULL;
}

/* One of the agent's own connections (its tunnel, either end)? */
static __always_inline bool conn_excluded(const struct sslc_conn *c)
{
	struct sslc_conn_key k = {};

	__builtin_memcpy(k.local_addr, c->local_addr, sizeof(k.local_addr));
	__builtin_memcpy(k.remote_addr, c->remote_addr, sizeof(k.remote_addr));
	k.local_port = c->local_port;
	k.remote_port = c->remote_port;
	k.family = c->family;
	k.netns = c->netns;
	return bpf_map_lookup_elem(&excluded_conns, &k) != NULL;
}

static __always_inline struct sslc_event *reserve_small(void)
{
	struct sslc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		count(SSLC_CNT_RING_FULL, 1);
	return e;
}

static __always_inline void fill_header_ts(struct sslc_event *e, __u8 type, __u64 conn_id,
					   const struct sslc_conn *conn, __u64 ts_ns)
{
	__u64 id = bpf_get_current_pid_tgid();

	e->type = type;
	e->dir = 0;
	e->flags = 0;
	e->func = 0;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->data_len = 0;
	e->ts_ns = ts_ns;
	e->conn_id = conn_id;
	e->len = 0;
	e->off = 0;
	e->gap[0] = 0;
	e->gap[1] = 0;
	__builtin_memcpy(&e->conn, conn, sizeof(e->conn));
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

static __always_inline void fill_header(struct sslc_event *e, __u8 type, __u64 conn_id,
					const struct sslc_conn *conn)
{
	fill_header_ts(e, type, conn_id, conn, bpf_ktime_get_ns());
}

/* x86_64 syscall numbers of the calls OpenSSL's socket BIO (and curl's) make. */
#if defined(__TARGET_ARCH_x86)
#define NR_read		 0
#define NR_write	 1
#define NR_readv	 19
#define NR_writev	 20
#define NR_sendto	 44
#define NR_recvfrom	 45
#define NR_sendmsg	 46
#define NR_recvmsg	 47
#define NR_mmap		 9
#define SYSCALL_NR(regs) BPF_CORE_READ(regs, orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define NR_read		 63
#define NR_write	 64
#define NR_readv	 65
#define NR_writev	 66
#define NR_sendto	 206
#define NR_recvfrom	 207
#define NR_sendmsg	 211
#define NR_recvmsg	 212
#define NR_mmap		 222
#define SYSCALL_NR(regs) BPF_CORE_READ(regs, syscallno)
#else
#error "syscall numbers for this architecture are missing"
#endif

#include "capture_inflight.h"

/* ---- entry: remember the call ---------------------------------------------------------- */

/* The thread's call record; create: make one (first call of the thread). */
static __always_inline struct call_args *thread_call(bool create)
{
	return bpf_task_storage_get(&active_calls, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

static __always_inline int call_enter(__u64 ssl, __u64 buf, __u64 num, __u64 ex_out, __u8 func)
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
	c->sock_seen = 0;
	c->active = 1;
	if (s && func != SSLC_FUNC_HANDSHAKE)
		s->call_state = CALL_ACTIVE; /* see enum call_state */
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(ssl_write_enter, void *ssl, const void *buf, int num)
{
	return call_enter((__u64)ssl, (__u64)buf, (__u64)(long)num, 0, SSLC_FUNC_WRITE);
}

SEC("uprobe")
int BPF_UPROBE(ssl_read_enter, void *ssl, void *buf, int num)
{
	return call_enter((__u64)ssl, (__u64)buf, (__u64)(long)num, 0, SSLC_FUNC_READ);
}

SEC("uprobe")
int BPF_UPROBE(ssl_write_ex_enter, void *ssl, const void *buf, size_t num, size_t *written)
{
	return call_enter((__u64)ssl, (__u64)buf, num, (__u64)written, SSLC_FUNC_WRITE_EX);
}

SEC("uprobe")
int BPF_UPROBE(ssl_read_ex_enter, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	return call_enter((__u64)ssl, (__u64)buf, num, (__u64)readbytes, SSLC_FUNC_READ_EX);
}

/* The handshake reads and writes the socket too. With read-ahead (nginx sets it) it may
 * even read the first application data, so that the first SSL_read makes no system call at
 * all: bind the socket here already. */
SEC("uprobe")
int BPF_UPROBE(ssl_handshake_enter, void *ssl)
{
	return call_enter((__u64)ssl, 0, 0, 0, SSLC_FUNC_HANDSHAKE);
}

SEC("uretprobe")
int BPF_URETPROBE(ssl_handshake_exit)
{
	struct call_args *c = thread_call(false);

	if (c && c->active && c->func == SSLC_FUNC_HANDSHAKE)
		c->active = 0;
	return 0;
}

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
 * object moved), during a call of func. fd: sk's descriptor if known, else -1. */
static __always_inline void session_bind(struct session_key *key, struct session *s,
					 struct sock *sk, int fd, __u8 func)
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
	n.call_state = func == SSLC_FUNC_HANDSHAKE ? CALL_DONE : CALL_ACTIVE;
	n.conn_id = __sync_fetch_and_add(&next_conn_id, 1);
	bpf_map_update_elem(&sessions, key, &n, BPF_ANY);
	struct sock_owner owner = {.key = *key, .conn_id = n.conn_id};
	bpf_map_update_elem(&socks, &n.sk, &owner, BPF_ANY);
	count(SSLC_CNT_SESSIONS, 1);
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
static __always_inline void session_bind_fd(struct session_key *key, int fd, __u8 func)
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
	session_bind(key, s, sk, fd, func);
}

/* The socket hook's bind: sk, the socket the call's first send or receive went through. */
static __always_inline void session_bind_sock(struct session_key *key, struct sock *sk, __u8 func)
{
	struct session *s = bpf_map_lookup_elem(&sessions, key);

	if (s && s->sk == (__u64)sk && s->state != SESSION_UNBOUND)
		return; /* the usual case: nothing changed */
	if (!sock_is_tcp(sk)) {
		count(SSLC_CNT_NOT_TCP, 1);
		return;
	}
	session_bind(key, s, sk, -1, func);
}

#define PROT_EXEC 0x4

/* A process maps a libssl it may be the first to use (a container's copy, a dlopen()ed
 * wheel): tell the agent at once, so it probes the file before the first SSL call. */
static __always_inline void check_new_library(struct file *file)
{
	char name[8] = {};
	struct lib_key key = {};
	struct sslc_event *e;
	__u8 one = 1;

	/* processes of other network namespaces are not mirrored: their libraries are not probed
	 * (see agent/discovery.h) */
	if (cfg_netns) {
		struct task_struct *task = bpf_get_current_task_btf();

		if (BPF_CORE_READ(task, nsproxy, net_ns, ns.inum) != cfg_netns)
			return;
	}
	bpf_probe_read_kernel_str(name, sizeof(name),
				  BPF_CORE_READ(file, f_path.dentry, d_name.name));
	if (name[0] != 'l' || name[1] != 'i' || name[2] != 'b' || name[3] != 's' ||
	    name[4] != 's' || name[5] != 'l')
		return;
	key.dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	key.ino = BPF_CORE_READ(file, f_inode, i_ino);
	if (bpf_map_lookup_elem(&known_libs, &key))
		return;
	bpf_map_update_elem(&known_libs, &key, &one, BPF_ANY);
	e = reserve_small();
	if (!e)
		return; /* the periodic rescan finds it */
	fill_header(e, SSLC_EVENT_LIBRARY, 0, &(struct sslc_conn){});
	e->off = key.dev;
	e->len = key.ino;
	bpf_ringbuf_submit(e, wake_flags());
	count(SSLC_CNT_NEW_LIBRARIES, 1);
}

/* The socket hooks (the default): the call's first send or receive names its socket, and
 * mmap() is seen when it takes the address space's lock for writing. None of them runs for
 * other system calls. */
static __always_inline void sock_op(struct sock *sk, int ret, int flags, __u8 dir)
{
	struct call_args *c = thread_call(false);

	if (inflight_watches)
		inflight_op(sk, ret, flags, dir, c && c->active);
	if (!c || !c->active || c->sock_seen)
		return;
	c->sock_seen = 1;
	struct session_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .ssl = c->ssl};
	session_bind_sock(&key, sk, c->func);
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

/* An executable mapping of a file by mmap(2): its arguments from the task's saved user
 * registers (the same values the syscall hook reads). */
static __always_inline void check_mmap(struct pt_regs *regs)
{
	if (!(PT_REGS_PARM3_CORE_SYSCALL(regs) & PROT_EXEC))
		return;
	struct file *file = fd_to_file((int)PT_REGS_PARM5_CORE_SYSCALL(regs));
	if (file)
		check_new_library(file);
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
	session_bind_fd(&key, (int)PT_REGS_PARM1_CORE_SYSCALL(regs), c->func);
	return 0;
}

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
	}
	dir =
	    (func == SSLC_FUNC_WRITE || func == SSLC_FUNC_WRITE_EX) ? SSLC_DIR_SEND : SSLC_DIR_RECV;
	count(SSLC_CNT_CALLS, 1);
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

static __always_inline int call_exit(long ret, __u8 func)
{
	struct call_args *c = thread_call(false);
	struct loop_ctx lc = {};
	struct session *s;
	__u64 n = 0, num;

	if (!c || !c->active)
		return 0;
	if (c->func != func)
		return 0; /* a nested call: the outer one reports */
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
