/* --list: the processes that have an OpenSSL library mapped, and whether they would be
 * mirrored (and if not, why not). Reads /proc only; loads nothing into the kernel. */
#include "agent.h"
#include "libfind.h"
#include "log.h"
#include "state.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint32_t own_netns(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) == 0 ? (uint32_t)st.st_ino : 0;
}

struct list_ctx {
	const struct sslc_options *o;
	unsigned long netns;
	size_t n;
};

static int list_mapping(void *ctx, const struct tls_mapping *m)
{
	struct list_ctx *l = ctx;
	char why[256] = "", status[300];
	bool pid_ok = l->o->n_pids == 0;

	for (size_t i = 0; i < l->o->n_pids; i++)
		pid_ok |= l->o->pids[i] == m->pid;
	if (libfind_check_elf(m->open_path, why, sizeof(why)) < 0)
		snprintf(status, sizeof(status), "no: %s", why);
	else if (m->pid == getpid())
		snprintf(status, sizeof(status), "no: sslcollector itself");
	else if (!pid_ok)
		snprintf(status, sizeof(status), "no: not selected by -p");
	else if (libfind_netns("/proc", m->pid) != l->netns)
		snprintf(status, sizeof(status),
			 "no: other network namespace (run sslcollector inside it)");
	else
		snprintf(status, sizeof(status), "yes: connections on %s", l->o->iface);
	printf("%-8d %-16s %-48s %s%s\n", (int)m->pid, m->comm, m->path, status,
	       m->deleted ? " (library replaced on disk since it was loaded)" : "");
	l->n++;
	return 0;
}

int agent_list(const struct sslc_options *o)
{
	struct list_ctx l = {.o = o, .netns = own_netns()};
	int ret;

	printf("%-8s %-16s %-48s %s\n", "PID", "COMMAND", "TLS LIBRARY", "MIRRORED");
	ret = libfind_scan_all("/proc", list_mapping, &l);
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
		printf("(no process has an OpenSSL library mapped)\n");
	state_print_all(SSLC_STATE_DIR, stdout);
	if (geteuid() != 0)
		fprintf(stderr, "sslcollector: note: run as root to see every process\n");
	return 0;
}
