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

int state_print_all(const char *dir, FILE *out)
{
	int dfd = open_dir(dir, false), n = 0;
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
		char line[512];
		int pid, fd, end = 0;
		FILE *f;

		if (sscanf(ent->d_name, "agent-%d.excluded%n", &pid, &end) != 1 ||
		    ent->d_name[end] || pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
			continue; /* not one, or its agent is gone */
		fd = openat(dfd, ent->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		f = fd >= 0 ? fdopen(fd, "r") : NULL;
		if (!f) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		fprintf(out, "%sagent %d keeps out of its mirror:\n", n ? "\n" : "\n", pid);
		while (fgets(line, sizeof(line), f))
			fprintf(out, "  %s", line);
		fclose(f);
		n++;
	}
	closedir(d);
	return n;
}

int state_read_procs(const char *dir, state_proc_fn fn, void *ctx)
{
	int dfd = open_dir(dir, false), n = 0;
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
		struct sslc_proc_stat st;
		unsigned long long v[4];
		int agent, pid, fd, end = 0;
		char line[256];
		FILE *f;

		if (sscanf(ent->d_name, "agent-%d.processes%n", &agent, &end) != 1 ||
		    ent->d_name[end] || agent <= 0 || (kill(agent, 0) < 0 && errno == ESRCH))
			continue;
		fd = openat(dfd, ent->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		f = fd >= 0 ? fdopen(fd, "r") : NULL;
		if (!f) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "%d %llu %llu %llu %llu", &pid, &v[0], &v[1], &v[2],
				   &v[3]) != 5)
				continue;
			st = (struct sslc_proc_stat){.sessions = v[0],
						     .attributed = v[1],
						     .unattributed_bytes = v[2],
						     .conflicts = v[3]};
			fn(ctx, agent, pid, &st);
		}
		fclose(f);
		n++;
	}
	closedir(d);
	return n;
}
