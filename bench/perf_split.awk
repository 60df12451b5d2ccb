# Reads `perf script -F comm,ip,sym,dso` (call-graph samples of one command) and prints, per
# category, the CPU time per request in microseconds: the sample's stack decides its category
# (the innermost capture path wins over "other kernel"). -v hz=SAMPLE_HZ -v req=REQUESTS
# -v label=NAME; prints "label category us" lines for bench/profile.sh to put side by side.
function flush_sample() {
	if (!in_sample)
		return
	if (cat == "")
		cat = top_kernel ? "other kernel (TCP, epoll, softirq, ...)" : \
		      top_ssl ? "OpenSSL (libssl, libcrypto)" : "nginx, libc, other user space"
	n[cat]++
	total++
	in_sample = 0
}
/^[^ \t]/ { flush_sample(); in_sample = 1; cat = ""; depth = 0; next }
/^[ \t]+[0-9a-f]+ / {
	depth++
	if (depth == 1) {
		top_kernel = ($0 ~ /\[kernel\.kallsyms\]|bpf_prog_/)
		top_ssl = ($0 ~ /libssl|libcrypto/)
	}
	if (cat != "")
		next
	if ($0 ~ / asm_exc_int3 | asm_exc_debug | uprobe_notify_resume /)
		cat = "uprobe entry: int3 trap, entry BPF programs"
	else if ($0 ~ / __x64_sys_uretprobe /)
		cat = "uretprobe: trampoline, exit BPF programs (copy)"
	else if ($0 ~ / syscall_trace_enter /)
		cat = "syscall tracepoint sys_enter (incl. BPF)"
	else if ($0 ~ / bpf_trace_run3 | call_trace_sock_recv_length | __mmap_lock_do_trace_start_locking /)
		cat = "socket hooks: sock_*_length, mmap_lock (BPF)"
	next
}
END {
	flush_sample()
	for (c in n)
		printf "%s\t%s\t%.2f\n", label, c, n[c] / hz * 1e6 / req
	printf "%s\t%s\t%.2f\n", label, "total", total / hz * 1e6 / req
}
