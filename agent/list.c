/* --list: the processes that use a TLS library (OpenSSL's libssl, GnuTLS, NSS and its NSPR
 * mapped, or OpenSSL linked into their executable),
 * and whether they would be mirrored (and if not, why not). Reads /proc only; loads nothing
 * into the kernel. Each file is checked once, however many processes use it. */
#include "agent.h"
#include "fnv1a.h"
#include "libfind.h"
#include "log.h"
#include "state.h"
#include "u64map.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netns.h"

static uint32_t own_netns(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) == 0 ? (uint32_t)st.st_ino : 0;
}

/* What a file is, checked once: for a library libfind_check_elf's result, for an executable
 * libfind_check_executable's. */
struct verdict {
	int ret;
	char why[200];
};

struct list_ctx {
	const struct sslc_options *o;
	unsigned long netns;
	struct netns *ns; /* the namespaces mirrored (--netns, --cgroup) */
	size_t n;
	struct u64map verdicts; /* by device, inode and kind */
	struct u64map seen;	/* pid -> struct agent_view: what running agents saw */
};

/* What the running agents published of one process (agent-PID.processes). */
struct agent_view {
	int agent;
	struct sslc_proc_stat st; /* summed over the agents */
};

static void on_proc(void *ctx, int agent, int pid, const struct sslc_proc_stat *st)
{
	struct u64map *m = ctx;
	struct agent_view *v = u64map_get(m, (uint64_t)pid);

	if (!v) {
		v = calloc(1, sizeof(*v));
		if (!v || u64map_put(m, (uint64_t)pid, v)) {
			free(v);
			return;
		}
		v->agent = agent;
	}
	v->st.sessions += st->sessions;
	v->st.attributed += st->attributed;
	v->st.unattributed_bytes += st->unattributed_bytes;
	v->st.conflicts += st->conflicts;
}

/* "; agent 123 mirrored 4 sessions (4 from a memory BIO), ..." for a mirrored process. */
static void agent_says(const struct list_ctx *l, pid_t pid, char *out, size_t len)
{
	struct agent_view *v = u64map_get((struct u64map *)&l->seen, (uint64_t)pid);
	size_t n;

	out[0] = '\0';
	if (!v)
		return;
	n = (size_t)snprintf(out, len, "; agent %d mirrored %llu session%s", v->agent,
			     (unsigned long long)v->st.sessions, v->st.sessions == 1 ? "" : "s");
	if (v->st.attributed && n < len)
		n += (size_t)snprintf(out + n, len - n, " (%llu from a memory BIO)",
				      (unsigned long long)v->st.attributed);
	if (v->st.unattributed_bytes && n < len)
		n += (size_t)snprintf(out + n, len - n,
				      ", %llu bytes not mirrored (socket not known: a memory BIO "
				      "not yet attributed, or a connection older than the agent)",
				      (unsigned long long)v->st.unattributed_bytes);
	if (v->st.conflicts && n < len)
		snprintf(out + n, len - n, ", %llu attribution conflicts (not guessed)",
			 (unsigned long long)v->st.conflicts);
}

/* *out: the file's verdict, checked once and cached, unless the check failed because the
 * process went away meanwhile (the file is reached through it): then the next process that
 * uses the file tells. */
static int check_file(struct list_ctx *l, const struct tls_mapping *m, struct verdict *out)
{
	uint64_t dv = (uint64_t)m->dev, in = (uint64_t)m->ino;
	uint64_t key = fnv1a(fnv1a(FNV1A_OFFSET + m->executable, &dv, sizeof(dv)), &in, sizeof(in));
	struct verdict *v = u64map_get(&l->verdicts, key);

	if (v) {
		*out = *v;
		return 0;
	}
	out->ret = m->executable
		       ? libfind_check_executable(m->open_path, out->why, sizeof(out->why))
		       : libfind_tls_kind(m->open_path, out->why, sizeof(out->why));
	if (out->ret < 0 && access(m->open_path, F_OK) != 0)
		return 0;
	v = malloc(sizeof(*v));
	if (!v)
		return -ENOMEM;
	*v = *out;
	if (u64map_put(&l->verdicts, key, v)) {
		free(v);
		return -ENOMEM;
	}
	return 0;
}

static int list_mapping(void *ctx, const struct tls_mapping *m)
{
	struct list_ctx *l = ctx;
	char status[600], path[PATH_MAX + 16];
	bool pid_ok = l->o->n_pids == 0;
	struct verdict v;

	if (check_file(l, m, &v))
		return -ENOMEM;
	/* a program without OpenSSL inside (or unreadable) is not a TLS user */
	if (m->executable && v.ret != LIBFIND_OPENSSL && v.ret != LIBFIND_OPENSSL_STRIPPED)
		return 0;
	for (size_t i = 0; i < l->o->n_pids; i++)
		pid_ok |= l->o->pids[i] == m->pid;
	if (m->executable && v.ret == LIBFIND_OPENSSL_STRIPPED)
		snprintf(status, sizeof(status), "no: %s: not mirrored", v.why);
	else if (!m->executable && v.ret < 0)
		snprintf(status, sizeof(status), "no: %s", v.why);
	else if (!m->executable && v.ret == TLS_KIND_NSS)
		return 0; /* NSS: its NSPR line tells (libssl3 only says which descriptors) */
	else if (m->pid == getpid())
		snprintf(status, sizeof(status), "no: sslcollector itself");
	else if (!pid_ok)
		snprintf(status, sizeof(status), "no: not selected by -p");
	else if (!netns_wanted(l->ns, (uint32_t)libfind_netns("/proc", m->pid)))
		snprintf(status, sizeof(status),
			 "no: other network namespace %lu (--netns all, or --netns "
			 "/proc/%d/ns/net)",
			 libfind_netns("/proc", m->pid), (int)m->pid);
	else {
		unsigned long ns = libfind_netns("/proc", m->pid);
		char seen[200], where[64] = "";

		agent_says(l, m->pid, seen, sizeof(seen));
		if (ns != l->netns)
			snprintf(where, sizeof(where), " of network namespace %lu", ns);
		snprintf(status, sizeof(status), "yes: %s, connections on %s%s%s",
			 m->executable ? "OpenSSL" : libfind_kind_name(v.ret), l->o->iface, where,
			 seen);
	}
	snprintf(path, sizeof(path), "%s%s", m->path, m->executable ? " (executable)" : "");
	printf("%-8d %-16s %-48s %s%s\n", (int)m->pid, m->comm, path, status,
	       !m->deleted     ? ""
	       : m->executable ? " (program replaced on disk since it was started)"
			       : " (library replaced on disk since it was loaded)");
	l->n++;
	return 0;
}

int agent_list(const struct sslc_options *o)
{
	struct list_ctx l = {.o = o, .netns = own_netns()};
	char err[512];
	int ret;

	if (netns_new(o, (uint32_t)l.netns, &l.ns, err, sizeof(err))) {
		log_error("%s", err);
		return EXIT_USAGE;
	}
	netns_start(l.ns, NULL);

	printf("%-8s %-16s %-48s %s\n", "PID", "COMMAND", "TLS LIBRARY OR EXECUTABLE", "MIRRORED");
	state_read_procs(SSLC_STATE_DIR, on_proc, &l.seen);
	ret = libfind_scan_all("/proc", list_mapping, &l);
	u64map_free_values(&l.verdicts);
	u64map_free_values(&l.seen);
	netns_free(l.ns);
	if (ret < 0) {
		log_error("cannot read /proc: %s", strerror(-ret));
		return EXIT_RUNTIME;
	}
	for (size_t i = 0; i < o->n_libs; i++) {
		char why[256] = "";

		ret = libfind_check_elf(o->libs[i], why, sizeof(why));
		printf("%-8s %-16s %-48s %s%s\n", "-", "(--lib)", o->libs[i],
		       ret ? "no: " : "yes: probed for every process that runs it", why);
	}
	if (!l.n && !o->n_libs)
		printf("(no process uses a TLS library: none maps a libssl, libgnutls or libnspr4, "
		       "or has OpenSSL linked in)\n");
	state_print_all(SSLC_STATE_DIR, stdout);
	if (geteuid() != 0)
		fprintf(stderr, "sslcollector: note: run as root to see every process\n");
	return 0;
}
