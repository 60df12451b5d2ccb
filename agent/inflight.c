/* SSL calls in progress when the probes are attached: see inflight.h and, for what the BPF
 * side does with the watches, bpf/capture_inflight.h. */
#include "inflight.h"
#include "libfind.h"
#include "log.h"
#include "u64map.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SWEEP_NS 1000000000ULL /* forget ended threads once a second */
#define NO_EPOCH UINT32_MAX    /* a watch made after the attach: nothing it sees is early */

struct inflight {
	struct capture *cap;
	const char *proc;
	bool follow;
	bool active; /* the BPF side looks the watches up */
	uint64_t last_sweep_ns;
	struct u64map logged; /* pids whose first in-flight gap was logged (value: non-NULL) */
};

int inflight_new(struct capture *cap, const char *proc_root, bool follow, struct inflight **out)
{
	struct inflight *in = calloc(1, sizeof(*in));

	if (!in)
		return -ENOMEM;
	in->cap = cap;
	in->proc = proc_root;
	in->follow = follow;
	*out = in;
	return 0;
}

void inflight_free(struct inflight *in)
{
	if (!in)
		return;
	u64map_free(&in->logged);
	free(in);
}

/* The direction of a blocked system call that moves socket data, or -1. */
static int syscall_dir(long nr)
{
	switch (nr) {
#ifdef SYS_read
	case SYS_read:
#endif
	case SYS_readv:
	case SYS_recvfrom:
	case SYS_recvmsg:
		return SSLC_DIR_RECV;
#ifdef SYS_write
	case SYS_write:
#endif
	case SYS_writev:
	case SYS_sendto:
	case SYS_sendmsg:
		return SSLC_DIR_SEND;
	default:
		return -1;
	}
}

/* The system call a thread is blocked in (/proc/PID/task/TID/syscall: "NR ARG1 ..."), with
 * its first argument; false when it runs, or is blocked elsewhere. */
static bool blocked_syscall(const char *path, long *nr, long *arg1)
{
	char line[256];
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return false;
	ok = fgets(line, sizeof(line), f) && sscanf(line, "%ld %li", nr, arg1) == 2 && *nr >= 0;
	fclose(f);
	return ok;
}

static bool fd_is_socket(const char *proc, long pid, long fd)
{
	char path[96], target[64];
	ssize_t n;

	if (fd < 0 || fd > INT_MAX)
		return false;
	snprintf(path, sizeof(path), "%s/%ld/fd/%ld", proc, pid, fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	return !strncmp(target, "socket:[", 8);
}

/* Watches the threads of pid blocked in a socket read or write. Returns how many are new. */
static int scan_process(struct inflight *in, long pid, uint32_t epoch)
{
	char path[96];
	struct dirent *t;
	DIR *dir;
	int added = 0;

	snprintf(path, sizeof(path), "%s/%ld/task", in->proc, pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((t = readdir(dir))) {
		long tid = strtol(t->d_name, NULL, 10), nr, fd;
		struct sslc_inflight w = {0};
		int d;

		if (tid <= 0)
			continue;
		snprintf(path, sizeof(path), "%s/%ld/task/%ld/syscall", in->proc, pid, tid);
		if (!blocked_syscall(path, &nr, &fd) || (d = syscall_dir(nr)) < 0 ||
		    !fd_is_socket(in->proc, pid, fd))
			continue;
		w.tgid = (uint32_t)pid;
		w.fd = (int32_t)fd;
		w.epoch = epoch;
		w.dir = (uint8_t)d;
		if (!in->follow) {
			added++;
			continue;
		}
		if (capture_inflight_watch(in->cap, (uint32_t)tid, &w) == 0)
			added++;
	}
	closedir(dir);
	return added;
}

static int scan_all(struct inflight *in, uint32_t epoch)
{
	struct dirent *p;
	DIR *dir = opendir(in->proc);
	long self = (long)getpid();
	int added = 0;

	if (!dir)
		return 0;
	while ((p = readdir(dir))) {
		long pid = strtol(p->d_name, NULL, 10);

		if (pid > 0 && pid != self)
			added += scan_process(in, pid, epoch);
	}
	closedir(dir);
	return added;
}

void inflight_before_attach(struct inflight *in)
{
	if (!in->follow)
		return; /* counted after the attach */
	/* on from the start: the records of a watched call that returns before the attach
	 * must be followed too (then the gap is an estimate, the calls being unprobed) */
	capture_inflight_enable(in->cap, true);
	in->active = true;
	scan_all(in, capture_probe_epoch(in->cap));
}

/* ---- which watches stay ---------------------------------------------------------------- */

struct probed_ctx {
	struct capture *cap;
	bool probed;
};

static int on_mapping(void *ctx, const struct tls_mapping *m)
{
	struct probed_ctx *pc = ctx;

	if (capture_file_attached(pc->cap, m->dev, m->ino)) {
		pc->probed = true;
		return 1; /* stop */
	}
	return 0;
}

/* The process maps a probed library, or is a probed executable (--lib). */
static bool process_probed(struct inflight *in, uint32_t pid)
{
	struct probed_ctx pc = {.cap = in->cap};
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%u/exe", in->proc, pid);
	if (stat(path, &st) == 0 && capture_file_attached(in->cap, st.st_dev, st.st_ino))
		return true;
	libfind_scan_pid(in->proc, (pid_t)pid, on_mapping, &pc);
	return pc.probed;
}

struct keep_ctx {
	struct inflight *in;
	struct u64map verdict; /* pid -> (void *)1 probed, (void *)2 not */
	int threads, processes;
};

static bool drop_unprobed(void *ctx, uint32_t tid, const struct sslc_inflight *w)
{
	struct keep_ctx *k = ctx;
	void *v = u64map_get(&k->verdict, w->tgid);

	(void)tid;
	if (!v) {
		v = process_probed(k->in, w->tgid) ? (void *)1 : (void *)2;
		if (u64map_put(&k->verdict, w->tgid, v) == 0 && v == (void *)1)
			k->processes++;
	}
	if (v != (void *)1)
		return true;
	k->threads++;
	return false;
}

/* Without following: the threads found are counted per process the same way. */
static void count_unfollowed(struct inflight *in, struct keep_ctx *k)
{
	struct dirent *p;
	DIR *dir = opendir(in->proc);

	if (!dir)
		return;
	while ((p = readdir(dir))) {
		long pid = strtol(p->d_name, NULL, 10);
		int n;

		if (pid <= 0 || pid == (long)getpid())
			continue;
		n = scan_process(in, pid, NO_EPOCH);
		if (n && process_probed(in, (uint32_t)pid)) {
			k->threads += n;
			k->processes++;
		}
	}
	closedir(dir);
}

void inflight_after_attach(struct inflight *in)
{
	struct keep_ctx k = {.in = in};

	if (!in->follow) {
		count_unfollowed(in, &k);
		if (k.threads)
			log_warn("%d thread%s of %d process%s were in a socket read or write when "
				 "the probes were attached; with the syscall hook an SSL call in "
				 "progress there cannot be followed: what it moves is not mirrored "
				 "and not counted",
				 k.threads, k.threads == 1 ? "" : "s", k.processes,
				 k.processes == 1 ? "" : "es");
		return;
	}
	capture_probe_epoch_advance(in->cap);
	capture_inflight_enable(in->cap, true);
	in->active = true;
	scan_all(in, NO_EPOCH);
	capture_inflight_sweep(in->cap, drop_unprobed, &k);
	u64map_free(&k.verdict);
	if (k.threads)
		log_info(
		    "%d thread%s of %d process%s were in a socket read or write when the probes "
		    "were attached: what an SSL call in progress there moves is reported as a gap "
		    "at the thread's next call",
		    k.threads, k.threads == 1 ? "" : "s", k.processes,
		    k.processes == 1 ? "" : "es");
	in->last_sweep_ns = 0;
}

/* ---- housekeeping ------------------------------------------------------------------------ */

static bool drop_ended(void *ctx, uint32_t tid, const struct sslc_inflight *w)
{
	struct inflight *in = ctx;
	char path[96];

	snprintf(path, sizeof(path), "%s/%u/task/%u", in->proc, w->tgid, tid);
	return access(path, F_OK) != 0;
}

void inflight_tick(struct inflight *in, uint64_t now_ns)
{
	if (!in->active || now_ns - in->last_sweep_ns < SWEEP_NS)
		return;
	in->last_sweep_ns = now_ns;
	if (capture_inflight_sweep(in->cap, drop_ended, in) == 0) {
		capture_inflight_enable(in->cap,
					false); /* the socket hooks skip the lookup again */
		in->active = false;
	}
}

void inflight_gap_seen(struct inflight *in, const struct sslc_event *e)
{
	char comm[sizeof(e->comm) + 1];

	if (!(e->flags & SSLC_F_GAP_INFLIGHT) || u64map_get(&in->logged, e->pid))
		return;
	u64map_put(&in->logged, e->pid, (void *)1);
	memcpy(comm, e->comm, sizeof(e->comm));
	comm[sizeof(e->comm)] = '\0';
	log_info(
	    "process %u (%s): a TLS %s in progress when the probes were attached moved %" PRIu64
	    " bytes%s, reported as a gap of connection %" PRIu64
	    " (further ones of this process are counted, not logged)",
	    e->pid, comm, e->dir == SSLC_DIR_SEND ? "write" : "read", (uint64_t)e->len,
	    e->flags & SSLC_F_GAP_EXACT ? "" : " (estimated)", (uint64_t)e->conn_id);
}
