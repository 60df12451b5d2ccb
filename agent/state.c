/* Published exclusions: see state.h. */
#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The directory, ours and private, or a negative errno. */
static int open_dir(const char *dir, bool create)
{
	struct stat st;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT && create) {
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

int state_publish(const char *dir, const char *text)
{
	return state_publish_kind(dir, "excluded", text);
}

/* Removes the files of agents that are gone without removing theirs (killed), once per
 * process: the directory is ours (open_dir checked it), the names are agent-PID.*. */
static void sweep_dead(int dfd)
{
	static bool swept;
	struct dirent *ent;
	int fd;
	DIR *d;

	if (swept)
		return;
	swept = true;
	fd = dup(dfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((ent = readdir(d))) {
		int pid;

		if (sscanf(ent->d_name, "agent-%d.", &pid) == 1 && pid > 0 && pid != getpid() &&
		    kill(pid, 0) < 0 && errno == ESRCH)
			unlinkat(dfd, ent->d_name, 0);
	}
	closedir(d);
}

int state_publish_kind(const char *dir, const char *kind, const char *text)
{
	char name[64], tmp[64];
	size_t len = text ? strlen(text) : 0;
	int dfd, fd, ret = 0;

	snprintf(name, sizeof(name), "agent-%d.%s", (int)getpid(), kind);
	snprintf(tmp, sizeof(tmp), "agent-%d.%s.new", (int)getpid(), kind);
	dfd = open_dir(dir, len > 0);
	if (dfd < 0)
		return dfd == -ENOENT && !len ? 0 : dfd;
	sweep_dead(dfd);
	if (!len) {
		if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
			ret = -errno;
		close(dfd);
		return ret;
	}
	unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		close(dfd);
		return ret;
	}
	if (write(fd, text, len) != (ssize_t)len)
		ret = errno ? -errno : -EIO;
	close(fd);
	if (!ret && renameat(dfd, tmp, dfd, name) < 0)
		ret = -errno;
	if (ret)
		unlinkat(dfd, tmp, 0);
	close(dfd);
	return ret;
}

/* Calls each(ctx, pid, f) for the file agent-PID.KIND of every agent still running. Returns
 * how many there were. */
static int each_agent_file(const char *dir, const char *kind,
			   void (*each)(void *ctx, int pid, FILE *f), void *ctx)
{
	int dfd = open_dir(dir, false), n = 0;
	size_t klen = strlen(kind);
	struct dirent *ent;
	DIR *d;

	if (dfd < 0)
		return 0;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	while ((ent = readdir(d))) {
		int pid, fd, end = 0;
		FILE *f;

		if (sscanf(ent->d_name, "agent-%d.%n", &pid, &end) != 1 || pid <= 0 ||
		    strncmp(ent->d_name + end, kind, klen) || ent->d_name[end + (int)klen] ||
		    (kill(pid, 0) < 0 && errno == ESRCH))
			continue; /* not one, or its agent is gone */
		fd = openat(dfd, ent->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		f = fd >= 0 ? fdopen(fd, "r") : NULL;
		if (!f) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		each(ctx, pid, f);
		fclose(f);
		n++;
	}
	closedir(d);
	return n;
}

struct print_ctx {
	FILE *out;
};

static void print_one(void *ctx, int pid, FILE *f)
{
	struct print_ctx *p = ctx;
	char line[512];

	fprintf(p->out, "\nagent %d keeps out of its mirror:\n", pid);
	while (fgets(line, sizeof(line), f))
		fprintf(p->out, "  %s", line);
}

int state_print_all(const char *dir, FILE *out)
{
	struct print_ctx p = {out};

	return each_agent_file(dir, "excluded", print_one, &p);
}

struct procs_ctx {
	state_proc_fn fn;
	void *ctx;
};

static void procs_one(void *ctx, int agent, FILE *f)
{
	struct procs_ctx *p = ctx;
	unsigned long long v[4];
	char line[256];
	int pid;

	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%d %llu %llu %llu %llu", &pid, &v[0], &v[1], &v[2], &v[3]) != 5)
			continue;
		struct sslc_proc_stat st = {.sessions = v[0],
					    .attributed = v[1],
					    .unattributed_bytes = v[2],
					    .conflicts = v[3]};
		p->fn(p->ctx, agent, pid, &st);
	}
}

int state_read_procs(const char *dir, state_proc_fn fn, void *ctx)
{
	struct procs_ctx p = {fn, ctx};

	return each_agent_file(dir, "processes", procs_one, &p);
}
