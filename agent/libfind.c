/* TLS library discovery in /proc/PID/maps: libraries, and each process's executable. The ELF
 * checks are in libfind_elf.c. */
#include "libfind.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

bool libfind_is_tls_library(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	/* libssl.so, libssl.so.3, libssl.so.1.1, libssl-abc123.so.3 (Python wheels), NSS's
	 * libssl3.so; libgnutls.so.30 (not libgnutls-openssl, -dane, xx); libnspr4.so */
	if (!strstr(base, ".so"))
		return false;
	return !strncmp(base, "libssl", 6) || !strncmp(base, "libgnutls.so", 12) ||
	       !strncmp(base, "libnspr4.so", 11);
}

static void read_comm(const char *proc_root, pid_t pid, char *comm, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(comm, len, "?");
	snprintf(path, sizeof(path), "%s/%d/comm", proc_root, (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(comm, (int)len, f))
		comm[strcspn(comm, "\n")] = '\0';
	fclose(f);
}

unsigned long libfind_netns(const char *proc_root, pid_t pid)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%d/ns/net", proc_root, (int)pid);
	return stat(path, &st) == 0 ? (unsigned long)st.st_ino : 0;
}

/* The executable of a process as its maps lines name it (" (deleted)" cut), "" if none. */
static void read_exe(const char *proc_root, pid_t pid, char *exe, size_t len, bool *deleted)
{
	char path[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%d/exe", proc_root, (int)pid);
	n = readlink(path, exe, len - 1);
	exe[n > 0 ? n : 0] = '\0';
	*deleted = n > 10 && !strcmp(exe + n - 10, " (deleted)");
	if (*deleted)
		exe[n - 10] = '\0';
}

/* a deleted file is still reachable through map_files (libraries) or exe; otherwise go
 * through the process's root so that containers' own files are found */
static void set_open_path(struct tls_mapping *m, const char *proc_root, unsigned long start,
			  unsigned long end)
{
	if (m->deleted && m->executable)
		snprintf(m->open_path, sizeof(m->open_path), "%s/%d/exe", proc_root, (int)m->pid);
	else if (m->deleted)
		snprintf(m->open_path, sizeof(m->open_path), "%s/%d/map_files/%lx-%lx", proc_root,
			 (int)m->pid, start, end);
	else if (snprintf(m->open_path, sizeof(m->open_path), "%s/%d/root%s", proc_root,
			  (int)m->pid, m->path) >= (int)sizeof(m->open_path))
		m->open_path[0] = '\0'; /* too long to open: nothing is */
}

int libfind_scan_pid(const char *proc_root, pid_t pid, libfind_fn fn, void *ctx)
{
	struct tls_mapping m = {.pid = pid};
	char path[PATH_MAX], exe[PATH_MAX], *line = NULL;
	size_t cap = 0, n_seen = 0;
	struct {
		dev_t dev;
		ino_t ino;
	} seen[16], exe_id = {0};
	bool exe_deleted, exe_found = false;
	int ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d/maps", proc_root, (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	read_comm(proc_root, pid, m.comm, sizeof(m.comm));
	read_exe(proc_root, pid, exe, sizeof(exe), &exe_deleted);
	while (getline(&line, &cap, f) > 0) {
		unsigned long start, end, inode;
		unsigned int major, minor;
		int pos = 0;

		/* 7f..-7f.. r-xp 00000000 fe:01 1234 /usr/lib/x86_64-linux-gnu/libssl.so.3 */
		if (sscanf(line, "%lx-%lx %*s %*s %x:%x %lu %n", &start, &end, &major, &minor,
			   &inode, &pos) != 5 ||
		    !pos || line[pos] != '/')
			continue;
		char *file = line + pos;
		file[strcspn(file, "\n")] = '\0';
		bool deleted = false;
		size_t flen = strlen(file);
		if (flen > 10 && !strcmp(file + flen - 10, " (deleted)")) {
			file[flen - 10] = '\0';
			deleted = true;
		}
		dev_t dev = makedev(major, minor);
		if (!exe_found && exe[0] && !strcmp(file, exe)) {
			exe_found =
			    true; /* the device and inode the kernel probes, as for libraries */
			exe_id.dev = dev;
			exe_id.ino = (ino_t)inode;
		}
		if (!libfind_is_tls_library(file))
			continue;
		bool dup = false;
		for (size_t i = 0; i < n_seen && !dup; i++)
			dup = seen[i].dev == dev && seen[i].ino == (ino_t)inode;
		if (dup)
			continue;
		if (n_seen < sizeof(seen) / sizeof(seen[0])) {
			seen[n_seen].dev = dev;
			seen[n_seen].ino = (ino_t)inode;
			n_seen++;
		}
		m.dev = dev;
		m.ino = (ino_t)inode;
		m.deleted = deleted;
		snprintf(m.path, sizeof(m.path), "%s", file);
		set_open_path(&m, proc_root, start, end);
		ret = fn(ctx, &m);
		if (ret)
			break;
	}
	free(line);
	fclose(f);
	for (size_t i = 0; i < n_seen && exe_found; i++)
		exe_found = seen[i].dev != exe_id.dev || seen[i].ino != exe_id.ino;
	if (ret || !exe_found)
		return ret;
	m.dev = exe_id.dev;
	m.ino = exe_id.ino;
	m.deleted = exe_deleted;
	m.executable = true;
	snprintf(m.path, sizeof(m.path), "%s", exe);
	set_open_path(&m, proc_root, 0, 0);
	return fn(ctx, &m);
}

int libfind_scan_all(const char *proc_root, libfind_fn fn, void *ctx)
{
	struct dirent *d;
	DIR *dir;
	int ret = 0;

	dir = opendir(proc_root);
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		char *end;
		long pid;

		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		pid = strtol(d->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		ret = libfind_scan_pid(proc_root, (pid_t)pid, fn, ctx);
		if (ret == -ENOENT || ret == -ESRCH || ret == -EACCES)
			ret = 0; /* gone meanwhile, or a kernel thread */
		if (ret)
			break;
	}
	closedir(dir);
	return ret;
}
