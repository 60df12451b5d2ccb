/* TLS library discovery: /proc scans (libraries and executables), rescans of processes that
 * map a new libssl or run a new program, --lib. */
#include "discovery.h"
#include "fnv1a.h"
#include "libfind.h"
#include "log.h"
#include "netns.h"
#include "u64map.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_PENDING_SCANS 1024
#define FULL_RESCAN_NS	  (15 * 1000000000ULL)

/* A process that mapped a libssl we do not know: the mapping shows in /proc a moment later. */
struct pending_scan {
	pid_t pid;
	int tries;
	uint64_t due_ns;
};

struct discovery {
	struct capture *cap;
	struct pending_scan pending[MAX_PENDING_SCANS];
	size_t n_pending;
	/* Files examined and not probed (not OpenSSL, stripped, refused), by device and inode:
	 * each file is looked at once, so that a rescan costs a hash lookup per process. */
	struct u64map rejected; /* file key -> struct rejected */
	/* Of the full scan under way: the files processes map (file key -> &seen_mark); after it,
	 * files nobody maps any more are forgotten: probes removed, rejections dropped (a new
	 * file may reuse the inode). */
	struct u64map seen;
	struct u64map names;  /* probed file's key -> its path, for the log */
	struct u64map pinned; /* --lib files: never forgotten */
	size_t detached;
	uint64_t last_full_scan_ns;
	const struct netns *ns;
	size_t denied;	  /* files the kernel refused to probe (EPERM, EACCES) */
	size_t processes; /* executables seen by the scan under way */
};

int discovery_new(struct capture *cap, const struct netns *ns, struct discovery **out)
{
	struct discovery *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->cap = cap;
	d->ns = ns;
	*out = d;
	return 0;
}

void discovery_free(struct discovery *d)
{
	if (!d)
		return;
	u64map_free_values(&d->rejected);
	u64map_free_values(&d->names);
	u64map_free(&d->seen);
	u64map_free(&d->pinned);
	free(d);
}

/* A 64-bit hash of device and inode: two files colliding (odds about n^2 / 2^65) would
 * leave the second unexamined. */
static uint64_t file_key(dev_t dev, ino_t ino)
{
	uint64_t dv = (uint64_t)dev, in = (uint64_t)ino;

	return fnv1a(fnv1a(FNV1A_OFFSET, &dv, sizeof(dv)), &in, sizeof(in));
}

static bool is_known(const struct discovery *d, dev_t dev, ino_t ino)
{
	return capture_file_attached(d->cap, dev, ino) ||
	       u64map_get(&d->rejected, file_key(dev, ino)) != NULL;
}

static char seen_mark;

/* A file examined and not probed, under its two names (maps' and stat()'s). */
struct rejected {
	dev_t dev[2];
	ino_t ino[2];
};

static void reject_as(struct discovery *d, uint64_t key, const struct rejected *r)
{
	struct rejected *v = malloc(sizeof(*v));

	if (!v)
		return;
	*v = *r;
	free(u64map_del(&d->rejected, key));
	if (u64map_put(&d->rejected, key, v))
		free(v);
}

/* Remembers a file not to probe under both its names (maps', which an mmap() shows, and
 * stat()'s, which an exec() of it shows on an overlay), and tells the BPF side, which then
 * reports neither its mapping nor its exec() again. */
static void reject(struct discovery *d, const struct tls_mapping *m, dev_t dev, ino_t ino)
{
	struct rejected r = {{m->dev, dev}, {m->ino, ino}};

	reject_as(d, file_key(m->dev, m->ino), &r);
	capture_note_library(d->cap, m->dev, m->ino);
	if (dev != m->dev || ino != m->ino) {
		reject_as(d, file_key(dev, ino), &r);
		capture_note_library(d->cap, dev, ino);
	}
}

/* An executable: 0 to probe it (OpenSSL linked in, with its symbols), 1 when it is done with
 * (rejected, or gone). */
static int check_executable(struct discovery *d, const struct tls_mapping *m, dev_t dev, ino_t ino)
{
	char why[256] = "";
	int ret = libfind_check_executable(m->open_path, why, sizeof(why));

	if (ret == LIBFIND_OPENSSL)
		return 0;
	if (ret == -ENOENT || ret == -ESRCH)
		return 1; /* the process is gone: whoever runs the file next is looked at */
	if (ret == LIBFIND_OPENSSL_STRIPPED)
		log_info("not probing %s (executable of %s[%d]): %s: not mirrored", m->path,
			 m->comm, (int)m->pid, why);
	else if (ret < 0)
		log_debug("cannot read %s (executable of %s[%d]): %s", m->path, m->comm,
			  (int)m->pid, why);
	reject(d, m, dev, ino);
	return 1;
}

static int on_mapping(void *ctx, const struct tls_mapping *m)
{
	struct discovery *d = ctx;
	const char *use = m->executable ? "executable of" : "used by";
	char why[256] = "";
	struct stat st;
	dev_t dev = m->dev;
	ino_t ino = m->ino;
	int ret;

	d->processes += m->executable;
	u64map_put(&d->seen, file_key(m->dev, m->ino), &seen_mark);
	if (is_known(d, m->dev, m->ino))
		return 0;
	/* our own executable is never probed (our process is not mirrored) */
	if (m->executable && m->pid == getpid())
		return 0;
	/* A process of another network namespace is no reason to probe a file (a process of
	 * ours that maps it is; the BPF side reports those at once, and the periodic full scan
	 * catches processes that changed namespace after loading the library). The agent's own
	 * mapping counts: the system libssl is then probed from the start, so that short-lived
	 * processes (curl) are captured from their first call. */
	if (d->ns && m->pid != getpid() &&
	    !netns_wanted(d->ns, (uint32_t)libfind_netns("/proc", m->pid)))
		return 0;
	/* the same file reached through another mount shows another device in maps; the
	 * kernel probes the real inode, so compare what stat() says too */
	if (stat(m->open_path, &st) == 0) {
		if (is_known(d, st.st_dev, st.st_ino))
			return 0;
		dev = st.st_dev;
		ino = st.st_ino;
	}
	if (m->executable && check_executable(d, m, dev, ino))
		return 0;
	ret = capture_attach_file(d->cap, m->open_path, m->dev, m->ino, why, sizeof(why));
	if (ret == 0) {
		/* the BPF side names an exec()ed file as stat() does (an overlay's inode) */
		if (dev != m->dev || ino != m->ino) {
			capture_alias_file(d->cap, m->dev, m->ino, dev, ino);
			capture_note_library(d->cap, dev, ino);
		}
		char *name = strdup(m->path);
		if (name && u64map_put(&d->names, file_key(m->dev, m->ino), name))
			free(name);
		if (m->executable)
			log_info("probing %s (executable of %s[%d], OpenSSL linked in; reads and "
				 "writes %s)",
				 m->path, m->comm, (int)m->pid, why);
		else
			log_info("probing %s (in use by %s[%d]; reads and writes %s)", m->path,
				 m->comm, (int)m->pid, why);
		return 0;
	}
	if (ret == 1)
		return 0;
	reject(d, m, dev, ino);
	if (ret == -EPERM || ret == -EACCES)
		d->denied++;
	if (ret == -ENOENT)
		log_debug("not probing %s (%s %s[%d]): %s", m->path, use, m->comm, (int)m->pid,
			  why);
	else
		log_warn("cannot probe %s (%s %s[%d]): %s", m->path, use, m->comm, (int)m->pid,
			 why);
	return 0;
}

size_t discovery_denied(const struct discovery *d)
{
	return d->denied;
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool seen(const struct discovery *d, dev_t dev, ino_t ino)
{
	return u64map_get(&d->seen, file_key(dev, ino)) != NULL;
}

/* After a full scan: the probed files and the rejected ones that no process maps any more. */
static void forget_unused(struct discovery *d)
{
	struct u64map used = {0};
	dev_t dev, of_dev;
	ino_t ino, of_ino;

	for (size_t i = 0; capture_file_at(d->cap, i, &dev, &ino, &of_dev, &of_ino) == 0; i++)
		if (seen(d, dev, ino) || u64map_get(&d->pinned, file_key(of_dev, of_ino)))
			u64map_put(&used, file_key(of_dev, of_ino), &seen_mark);
	for (size_t i = 0; capture_file_at(d->cap, i, &dev, &ino, &of_dev, &of_ino) == 0;) {
		uint64_t key = file_key(dev, ino);

		if (dev != of_dev || ino != of_ino || u64map_get(&used, key)) {
			i++;
			continue;
		}
		char *name = u64map_del(&d->names, key);
		log_info("no process maps %s any more: its probes are removed",
			 name ? name : "a probed file");
		free(name);
		capture_detach_file(d->cap, dev, ino);
		d->detached++;
		i = 0; /* the order changed */
	}
	u64map_free(&used);
	for (size_t i = 0; i < d->rejected.cap; i++) {
		struct rejected *r;

		if (!u64map_live(&d->rejected, i))
			continue;
		r = d->rejected.vals[i];
		if (seen(d, r->dev[0], r->ino[0]) || seen(d, r->dev[1], r->ino[1]))
			continue;
		capture_forget_library(d->cap, r->dev[0], r->ino[0]);
		capture_forget_library(d->cap, r->dev[1], r->ino[1]);
		free(u64map_del(&d->rejected, d->rejected.keys[i]));
	}
}

size_t discovery_detached(const struct discovery *d)
{
	return d->detached;
}

void discovery_scan_all(struct discovery *d, uint64_t now_ns)
{
	size_t files = capture_files_attached(d->cap) + d->rejected.len;
	double start = cpu_ms();
	int ret;

	d->processes = 0;
	u64map_free(&d->seen);
	ret = libfind_scan_all("/proc", on_mapping, d);
	if (ret < 0)
		log_warn("cannot scan /proc for TLS libraries: %s", strerror(-ret));
	else if (d->processes)
		forget_unused(d);
	size_t now_files = capture_files_attached(d->cap) + d->rejected.len;

	log_debug("scanned /proc: %zu processes, %zd files more, %.1f ms of CPU", d->processes,
		  (ssize_t)now_files - (ssize_t)files, cpu_ms() - start);
	d->last_full_scan_ns = now_ns;
}

static void schedule_scan(struct discovery *d, pid_t pid, int tries, uint64_t due_ns)
{
	for (size_t i = 0; i < d->n_pending; i++)
		if (d->pending[i].pid == pid && d->pending[i].tries == tries)
			return;
	if (d->n_pending == MAX_PENDING_SCANS)
		return; /* the periodic full scan catches up */
	d->pending[d->n_pending++] = (struct pending_scan){pid, tries, due_ns};
}

/* A new libssl is reported as the process enters mmap(): the mapping shows in /proc a moment
 * later. Look at once, then again shortly after, until it has been found. */
static const uint64_t rescan_delays_ns[] = {0, 1000000ULL, 10000000ULL, 100000000ULL,
					    1000000000ULL};

static void run_pending_scans(struct discovery *d, uint64_t now)
{
	size_t i = 0;

	while (i < d->n_pending) {
		struct pending_scan p = d->pending[i];

		if (p.due_ns > now) {
			i++;
			continue;
		}
		d->pending[i] = d->pending[--d->n_pending];
		size_t before = capture_files_attached(d->cap) + d->rejected.len;
		if (libfind_scan_pid("/proc", p.pid, on_mapping, d) == -ENOENT)
			continue; /* gone */
		if (capture_files_attached(d->cap) + d->rejected.len != before)
			continue; /* found what it mapped */
		if ((size_t)p.tries + 1 < sizeof(rescan_delays_ns) / sizeof(rescan_delays_ns[0]))
			schedule_scan(d, p.pid, p.tries + 1, now + rescan_delays_ns[p.tries + 1]);
	}
}

/* Milliseconds until the next pending scan is due, or -1 when none is. */
int discovery_timeout_ms(const struct discovery *d, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < d->n_pending; i++)
		if (d->pending[i].due_ns < next)
			next = d->pending[i].due_ns;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

int discovery_attach_extra_libs(struct discovery *d, const struct sslc_options *o)
{
	for (size_t i = 0; i < o->n_libs; i++) {
		const char *path = o->libs[i];
		char why[256] = "";
		struct stat st;
		int ret;

		if (stat(path, &st) < 0) {
			log_error("--lib %s: %s", path, strerror(errno));
			return EXIT_USAGE;
		}
		ret = libfind_check_elf(path, why, sizeof(why));
		if (ret == 0)
			ret = capture_attach_file(d->cap, path, st.st_dev, st.st_ino, why,
						  sizeof(why));
		if (ret < 0) {
			log_error("--lib %s: %s", path, why);
			return ret == -ENOENT || ret == -ENOEXEC ? EXIT_USAGE : EXIT_RUNTIME;
		}
		u64map_put(&d->pinned, file_key(st.st_dev, st.st_ino), &seen_mark);
		log_info("probing %s (--lib; reads and writes %s)", path, why);
	}
	return 0;
}

/* The directory of the C library this process runs with ("/usr/lib/x86_64-linux-gnu"), "" if
 * not found. */
static void libc_dir(char *out, size_t len)
{
	char line[PATH_MAX + 256];
	FILE *f = fopen("/proc/self/maps", "re");

	out[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/'), *slash;

		if (!path || !strstr(path, "/libc.so"))
			continue;
		path[strcspn(path, "\n")] = '\0';
		slash = strrchr(path, '/');
		if (slash && (size_t)(slash - path) < len) {
			memcpy(out, path, (size_t)(slash - path));
			out[slash - path] = '\0';
		}
		break;
	}
	fclose(f);
}

void discovery_attach_system_libs(struct discovery *d)
{
	static const struct {
		const char *file, *what;
	} libs[] = {{"libgnutls.so.30", "GnuTLS"}, {"libssl3.so", "NSS"}, {"libnspr4.so", "NSPR"}};
	char dir[PATH_MAX];

	libc_dir(dir, sizeof(dir));
	if (!dir[0])
		return;
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
		char path[PATH_MAX + 32], why[256] = "";
		struct stat st;
		int ret;

		snprintf(path, sizeof(path), "%s/%s", dir, libs[i].file);
		if (stat(path, &st) < 0)
			continue;
		if (is_known(d, st.st_dev, st.st_ino))
			continue;
		ret = capture_attach_file(d->cap, path, st.st_dev, st.st_ino, why, sizeof(why));
		if (ret < 0) {
			log_warn("cannot probe the system's %s %s: %s", libs[i].what, path, why);
			continue;
		}
		u64map_put(&d->pinned, file_key(st.st_dev, st.st_ino), &seen_mark);
		char *name = strdup(path);
		if (name && u64map_put(&d->names, file_key(st.st_dev, st.st_ino), name))
			free(name);
		log_info("probing %s (the system's %s, from the start; reads and writes %s)", path,
			 libs[i].what, why);
	}
}

void discovery_library_mapped(struct discovery *d, pid_t pid, bool exec, uint64_t now_ns)
{
	log_debug("process %d %s not seen before: looking at it", (int)pid,
		  exec ? "runs a program" : "maps a TLS library");
	schedule_scan(d, pid, 0, now_ns);
	run_pending_scans(d, now_ns);
}

void discovery_run(struct discovery *d, uint64_t now_ns)
{
	if (d->n_pending)
		run_pending_scans(d, now_ns);
	if (now_ns - d->last_full_scan_ns >= FULL_RESCAN_NS)
		discovery_scan_all(d, now_ns);
}
