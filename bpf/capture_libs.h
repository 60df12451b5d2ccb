// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Part of capture.bpf.c: library mapping: a process maps a TLS library the agent does
 * not know yet (known_libs), so the agent probes it before its first call */
#ifndef SSLC_CAPTURE_LIBS_H
#define SSLC_CAPTURE_LIBS_H

#define PROT_EXEC 0x4

static __always_inline bool name_starts(const char *name, const char *prefix, int n)
{
	for (int i = 0; i < n; i++)
		if (name[i] != prefix[i])
			return false;
	return true;
}

/* A TLS library's file name (agent/libfind.c says exactly which): libssl* (OpenSSL, and
 * NSS's libssl3), libgnutls.so*, libnspr4* (NSS's I/O functions). */
static __always_inline bool lib_name_tls(const char *name)
{
	return name_starts(name, "libssl", 6) || name_starts(name, "libgnutls.so", 12) ||
	       name_starts(name, "libnspr4", 8);
}

/* A process maps a libssl it may be the first to use (a container's copy, a dlopen()ed
 * wheel), or runs an executable (exec) that may carry OpenSSL inside (upstream Node.js):
 * tell the agent at once, once per file, so it probes the file before the first SSL call. */
static __always_inline void check_new_library(struct file *file, bool exec)
{
	char name[16] = {};
	struct sslc_lib_key key = {};
	struct sslc_event *e;
	__u8 one = 1;

	/* processes of other network namespaces are not mirrored: their libraries are not probed
	 * (see agent/discovery.h) */
	if (cfg_netns || cfg_netns_set) {
		struct task_struct *task = bpf_get_current_task_btf();

		if (!netns_wanted(BPF_CORE_READ(task, nsproxy, net_ns, ns.inum)))
			return;
	}
	if (!exec) {
		bpf_probe_read_kernel_str(name, sizeof(name),
					  BPF_CORE_READ(file, f_path.dentry, d_name.name));
		if (!lib_name_tls(name))
			return;
	}
	key.dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	key.ino = BPF_CORE_READ(file, f_inode, i_ino);
	if (bpf_map_lookup_elem(&known_libs, &key))
		return;
	bpf_map_update_elem(&known_libs, &key, &one, BPF_ANY);
	e = reserve_small();
	if (!e)
		return; /* the periodic rescan finds it */
	fill_header(e, SSLC_EVENT_LIBRARY, 0, &(struct sslc_conn){});
	e->flags = exec ? SSLC_F_LIB_EXEC : 0;
	e->off = key.dev;
	e->len = key.ino;
	bpf_ringbuf_submit(e, wake_flags());
	count(SSLC_CNT_NEW_LIBRARIES, 1);
}

/* An executable mapping of a file by mmap(2): its arguments from the task's saved user
 * registers (the same values the syscall hook reads). */
static __always_inline void check_mmap(struct pt_regs *regs)
{
	if (!(PT_REGS_PARM3_CORE_SYSCALL(regs) & PROT_EXEC))
		return;
	struct file *file = fd_to_file((int)PT_REGS_PARM5_CORE_SYSCALL(regs));
	if (file)
		check_new_library(file, false);
}

/* A new program: its executable may have OpenSSL linked in. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct file *file = BPF_CORE_READ(bprm, file);
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	bpf_map_delete_elem(&nss_layers, &tgid); /* the old program's NSS, if any */
	if (file && pid_wanted(bpf_get_current_pid_tgid() >> 32))
		check_new_library(file, true);
	return 0;
}

#endif
