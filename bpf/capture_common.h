// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Part of capture.bpf.c (one BPF object; included once, in order): the agent's settings,
 * the counters, the filters (process, local address, excluded connections), record headers
 * and the system call numbers */
#ifndef SSLC_CAPTURE_COMMON_H
#define SSLC_CAPTURE_COMMON_H

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
const volatile __u8 cfg_netns_set = 0;	      /* only the namespaces in netns_allowed */
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

enum proc_field {
	PROC_SESSIONS = 0,
	PROC_ATTRIBUTED,
	PROC_UNATTRIBUTED_BYTES,
	PROC_CONFLICTS,
};

/* Adds n to one field of the current process's proc_stats. */
static __always_inline void proc_count(enum proc_field f, __u64 n)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct sslc_proc_stat *p = bpf_map_lookup_elem(&proc_stats, &tgid);

	if (!p) {
		struct sslc_proc_stat z = {};

		bpf_map_update_elem(&proc_stats, &tgid, &z, BPF_NOEXIST);
		p = bpf_map_lookup_elem(&proc_stats, &tgid);
		if (!p)
			return;
	}
	switch (f) {
	case PROC_SESSIONS:
		__sync_fetch_and_add(&p->sessions, n);
		break;
	case PROC_ATTRIBUTED:
		__sync_fetch_and_add(&p->attributed, n);
		break;
	case PROC_UNATTRIBUTED_BYTES:
		__sync_fetch_and_add(&p->unattributed_bytes, n);
		break;
	default:
		__sync_fetch_and_add(&p->conflicts, n);
		break;
	}
}

static __always_inline bool pid_wanted(__u32 tgid)
{
	if (tgid == cfg_self_tgid)
		return false;
	if (cfg_pid_filter && !bpf_map_lookup_elem(&pid_filter, &tgid))
		return false;
	return true;
}

/* A network namespace mirrored: the agent's (default), every one, or a chosen set. */
static __always_inline bool netns_wanted(__u32 inum)
{
	if (cfg_netns_set)
		return bpf_map_lookup_elem(&netns_allowed, &inum) != NULL;
	return !cfg_netns || inum == cfg_netns;
}

static __always_inline bool conn_wanted(const struct sslc_conn *c)
{
	struct sslc_addr_key a = {};

	if (!netns_wanted(c->netns))
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

#endif
