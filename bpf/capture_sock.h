/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* A TCP socket (from a socket tracepoint, or behind a file descriptor of the current task) and
 * its addresses, ports and network namespace: CO-RE reads, valid for any kernel with BTF.
 * Included by capture.bpf.c only. */
#ifndef SSLC_CAPTURE_SOCK_H
#define SSLC_CAPTURE_SOCK_H

#define AF_INET	    2
#define AF_INET6    10
#define IPPROTO_TCP 6
#define SOCK_STREAM 1
#define S_IFMT	    00170000
#define S_IFSOCK    0140000

static __always_inline void read_conn(struct sock *sk, struct sslc_conn *c)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	c->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (!c->local_port) /* a closed socket gave its port back; the port it sent from stays */
		c->local_port = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	c->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	c->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (bpf_core_field_exists(((struct net *)0)->net_cookie))
		c->netns_cookie = BPF_CORE_READ(sk, __sk_common.skc_net.net, net_cookie);
	if (family == AF_INET) {
		c->family = AF_INET;
		bpf_core_read(c->local_addr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(c->remote_addr, 4, &sk->__sk_common.skc_daddr);
		return;
	}
	bpf_core_read(c->local_addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	bpf_core_read(c->remote_addr, 16, &sk->__sk_common.skc_v6_daddr);
	c->family = AF_INET6;
	/* an IPv4 peer of a dual-stack socket: ::ffff:a.b.c.d on both ends */
	__u32 *l = (__u32 *)c->local_addr, *r = (__u32 *)c->remote_addr;
	if (l[0] == 0 && l[1] == 0 && l[2] == bpf_htonl(0xffff) && r[0] == 0 && r[1] == 0 &&
	    r[2] == bpf_htonl(0xffff)) {
		c->family = AF_INET;
		l[0] = l[3];
		r[0] = r[3];
		l[1] = l[2] = l[3] = 0;
		r[1] = r[2] = r[3] = 0;
	}
}

/* A TCP socket over IPv4 or IPv6. */
static __always_inline bool sock_is_tcp(struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	return BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP &&
	       BPF_CORE_READ(sk, sk_type) == SOCK_STREAM &&
	       (family == AF_INET || family == AF_INET6);
}

/* fd -> struct file of the current task, or NULL. */
static __always_inline struct file *fd_to_file(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file = NULL;

	if (fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]))
		return NULL;
	return file;
}

/* fd -> struct sock of the current task, or NULL when fd is not a TCP socket. */
static __always_inline struct sock *fd_to_tcp_sock(int fd)
{
	struct file *file = fd_to_file(fd);
	struct socket *sock;
	struct sock *sk;

	if (!file)
		return NULL;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return NULL;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || !sock_is_tcp(sk))
		return NULL;
	return sk;
}

#endif
