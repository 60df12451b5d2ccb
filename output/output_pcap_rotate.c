/* -w FILE with rotation of its own (--rotate-size, --rotate-time): a complete file is renamed
 * after the time it was started and a new one begins under the name; beyond --rotate-keep
 * (or --rotate-keep-size) the oldest completed files of ours are removed. */
#include "output_pcap_impl.h"

#include "output_impl.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The final name of path when started at `started`, the n-th taken: dir/stem.STAMP[-n].ext */
static int final_name(const char *path, time_t started, unsigned n, char *out, size_t len,
		      char stamp[STAMP_LEN + 1])
{
	const char *base = strrchr(path, '/'), *ext;
	char suffix[16] = "";
	struct tm tm;
	int w;

	base = base ? base + 1 : path;
	ext = strrchr(base, '.');
	if (!ext || ext == base)
		ext = base + strlen(base);
	if (!gmtime_r(&started, &tm) ||
	    strftime(stamp, STAMP_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) != STAMP_LEN)
		return -EOVERFLOW;
	if (n)
		snprintf(suffix, sizeof(suffix), "-%u", n);
	w = snprintf(out, len, "%.*s.%s%s%s", (int)(ext - path), path, stamp, suffix, ext);
	return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
}

/* Renames path to its final name without replacing a file: the first free of STAMP, STAMP-1.. */
static int complete_file(const char *path, time_t started, char *out, size_t len,
			 char stamp[STAMP_LEN + 1], unsigned *n_out)
{
	for (unsigned n = 0; n < 1000; n++) {
		int ret = final_name(path, started, n, out, len, stamp);

		if (ret < 0)
			return ret;
		if (renameat2(AT_FDCWD, path, AT_FDCWD, out, RENAME_NOREPLACE) == 0) {
			*n_out = n;
			return 0;
		}
		if (errno == EINVAL || errno == ENOSYS) { /* a file system without it */
			if (access(out, F_OK) == 0)
				continue;
			if (rename(path, out) == 0) {
				*n_out = n;
				return 0;
			}
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static int kept_cmp(const void *a, const void *b)
{
	const struct kept_file *x = a, *y = b;
	int c = strcmp(x->stamp, y->stamp);

	return c ? c : (x->n > y->n) - (x->n < y->n);
}

static int remember(struct pcap_output *p, const char *path, const char *stamp, unsigned n)
{
	struct kept_file *k = realloc(p->kept, (p->n_kept + 1) * sizeof(*k));
	struct stat st;

	if (!k)
		return -ENOMEM;
	p->kept = k;
	k += p->n_kept;
	if (!(k->path = strdup(path)))
		return -ENOMEM;
	snprintf(k->stamp, sizeof(k->stamp), "%s", stamp);
	k->n = n;
	k->size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
	p->kept_bytes += k->size;
	p->n_kept++;
	qsort(p->kept, p->n_kept, sizeof(*p->kept), kept_cmp);
	return 0;
}

static void rotation_failed(struct pcap_output *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void rotation_failed(struct pcap_output *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->news_error, sizeof(p->news_error), fmt, ap);
	va_end(ap);
	p->news_failed = true;
	p->retry_ns = pcapout_mono_ns() + RETRY_NS;
}

/* Made by us: a regular file of ours (or of the user the collector becomes). */
static bool ours(const struct pcap_output *p, const struct stat *st)
{
	return S_ISREG(st->st_mode) &&
	       (st->st_uid == geteuid() ||
		(p->rot.owner_uid && st->st_uid == (uid_t)p->rot.owner_uid));
}

static bool keeps(const struct pcap_output *p)
{
	return p->rot.keep || p->rot.keep_bytes;
}

/* Beyond rot.keep completed files, or while they add up to more than rot.keep_bytes, the
 * oldest are removed. */
static void prune(struct pcap_output *p)
{
	size_t drop = 0;
	uint64_t total = p->kept_bytes;

	while (drop < p->n_kept && ((p->rot.keep && p->n_kept - drop > p->rot.keep) ||
				    (p->rot.keep_bytes && total > p->rot.keep_bytes)))
		total -= p->kept[drop++].size;
	if (!drop)
		return;
	p->kept_bytes = total;
	for (size_t i = 0; i < drop; i++) {
		struct stat st;

		/* still the file we counted, not one put in its place since */
		if (lstat(p->kept[i].path, &st) == 0 && !ours(p, &st))
			rotation_failed(p, "%s: not removed: no longer a regular file of ours",
					p->kept[i].path);
		else if (unlink(p->kept[i].path) == 0)
			p->news_removed++;
		else if (errno != ENOENT)
			rotation_failed(p, "cannot remove the old file %s: %s", p->kept[i].path,
					strerror(errno));
		free(p->kept[i].path);
	}
	memmove(p->kept, p->kept + drop, (p->n_kept - drop) * sizeof(*p->kept));
	p->n_kept -= drop;
}

/* One completed file more: counted, reported, kept (and the oldest removed). */
static void completed(struct pcap_output *p, const char *final, const char *stamp, unsigned n)
{
	p->base.stats.files_completed++;
	p->news_completed++;
	snprintf(p->news_last, sizeof(p->news_last), "%s", final);
	if (!keeps(p))
		return;
	if (remember(p, final, stamp, n) < 0)
		rotation_failed(p, "out of memory: %s will not be removed", final);
	prune(p);
}

/* The file is complete: renamed to its final name, a new one started under the name. On any
 * failure the frames go on into the file being written, and no attempt is made for RETRY_NS. */
void pcapout_rotate(struct pcap_output *p, time_t started)
{
	char final[PATH_MAX] = "", err[320], stamp[STAMP_LEN + 1];
	struct stat now, ours;
	pcap_dumper_t *dumper;
	bool seekable;
	unsigned n;
	FILE *file;
	int ret;

	if (p->retry_ns && pcapout_mono_ns() < p->retry_ns)
		return;
	pcapout_flush_now(p); /* the old file complete, before its rename */
	if (stat(p->path, &now) < 0 || fstat(fileno(p->file), &ours) < 0 ||
	    now.st_dev != ours.st_dev || now.st_ino != ours.st_ino) {
		rotation_failed(p,
				"%s is no longer the file being written (moved or replaced), so it "
				"is not renamed; SIGHUP starts a new file under the name",
				p->path);
		return;
	}
	if ((ret = complete_file(p->path, p->started, final, sizeof(final), stamp, &n)) < 0) {
		rotation_failed(p, "cannot rename %s to %s: %s", p->path, final, strerror(-ret));
		return;
	}
	ret = pcapout_open_dumper(p->path, p->dead, &file, &dumper, &seekable, err, sizeof(err));
	if (ret == 0 && pcap_dump_flush(dumper) < 0) { /* the new file's global header */
		ret = errno ? -errno : -EIO;
		snprintf(err, sizeof(err), "-w %s: %s", p->path, strerror(-ret));
		pcap_dump_close(dumper);
	}
	if (ret < 0) { /* back under its name, and on */
		if (renameat2(AT_FDCWD, final, AT_FDCWD, p->path, RENAME_NOREPLACE) < 0 &&
		    rename(final, p->path) < 0)
			rotation_failed(p,
					"%s; cannot start a new file, so the frames go on into %s",
					err, final);
		else
			rotation_failed(p,
					"%s; cannot start a new file, so the frames go on into "
					"the one being written",
					err);
		return;
	}
	pcap_dump_close(p->dumper); /* flushed above; closes p->file */
	p->dumper = dumper;
	p->file = file;
	p->seekable = seekable;
	p->good = ftello(file);
	p->file_bytes = PCAP_HEADER;
	p->file_frames = 0;
	p->started = started;
	p->retry_ns = 0;
	completed(p, final, stamp, n);
}

int pcapout_news(struct output *base, char *msg, size_t len)
{
	struct pcap_output *p = (struct pcap_output *)base;
	char removed[160] = "";

	if (p->news_failed) {
		p->news_failed = false;
		snprintf(msg, len, "%s: %s", p->base.name, p->news_error);
		return 1;
	}
	if (!p->news_completed)
		return 0;
	if (p->news_removed)
		snprintf(removed, sizeof(removed),
			 "; %u old file%s removed (%zu kept, %" PRIu64 " bytes)", p->news_removed,
			 p->news_removed == 1 ? "" : "s", p->n_kept, p->kept_bytes);
	if (p->news_completed == 1)
		snprintf(msg, len, "%s: file complete, now %s%s", p->base.name, p->news_last,
			 removed);
	else
		snprintf(msg, len, "%s: %" PRIu64 " files complete, the last now %s%s",
			 p->base.name, p->news_completed, p->news_last, removed);
	p->news_completed = 0;
	p->news_removed = 0;
	return -1;
}

bool output_pcap_rotates(const struct output *o)
{
	const struct pcap_output *p = (const struct pcap_output *)o;

	return o && o->ops == &output_pcap_ops && (p->rot.max_bytes || p->rot.interval_s);
}

int output_pcap_can_rotate(const struct output *o, char *err, size_t err_len)
{
	const struct pcap_output *p = (const struct pcap_output *)o;
	const char *slash;
	char dir[PATH_MAX];
	struct stat d, f;

	if (!output_pcap_rotates(o))
		return 0;
	slash = strrchr(p->path, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - p->path) + 1 : 1,
		 slash ? p->path : ".");
	if (access(dir, W_OK | X_OK) < 0) {
		int e = errno;

		snprintf(err, err_len, "%s: uid %u cannot create files in %s: %s", o->name,
			 (unsigned)geteuid(), dir, strerror(e));
		return -e;
	}
	/* a sticky directory (/tmp): only the file's or the directory's owner may rename it */
	if (geteuid() != 0 && stat(dir, &d) == 0 && (d.st_mode & S_ISVTX) &&
	    fstat(fileno(p->file), &f) == 0 && f.st_uid != geteuid() && d.st_uid != geteuid()) {
		snprintf(err, err_len,
			 "%s: uid %u cannot rename it: %s is sticky and the file belongs to uid %u",
			 o->name, (unsigned)geteuid(), dir, (unsigned)f.st_uid);
		return -EPERM;
	}
	return 0;
}

/* A completed file of this name: dir/stem.YYYYmmddTHHMMSSZ[-N].ext, its stamp and N. */
static bool is_final_name(const char *name, const char *stem, size_t stem_len, const char *ext,
			  char stamp[STAMP_LEN + 1], unsigned *n)
{
	static const char shape[] = "dddddddd"
				    "Tdddddd"
				    "Z";
	const char *s = name;
	char *end;

	if (strncmp(s, stem, stem_len) != 0 || s[stem_len] != '.')
		return false;
	s += stem_len + 1;
	for (size_t i = 0; i < STAMP_LEN; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
			return false;
	memcpy(stamp, s, STAMP_LEN);
	stamp[STAMP_LEN] = '\0';
	s += STAMP_LEN;
	*n = 0;
	if (*s == '-') {
		if (!isdigit((unsigned char)s[1]))
			return false;
		*n = (unsigned)strtoul(s + 1, &end, 10);
		s = end;
	}
	return strcmp(s, ext) == 0;
}

/* rot.keep(_bytes): the completed files already there (earlier runs) count too, if they are
 * ours and not dated after tomorrow (a name we cannot have made yet). */
static int scan_kept(struct pcap_output *p, char *err, size_t err_len)
{
	const char *slash = strrchr(p->path, '/'), *base = slash ? slash + 1 : p->path;
	const char *ext = strrchr(base, '.');
	char dir[PATH_MAX], full[PATH_MAX + 256], stamp[STAMP_LEN + 1];
	struct dirent *de;
	unsigned n;
	DIR *d;

	if (!ext || ext == base)
		ext = base + strlen(base);
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - p->path) + 1 : 1,
		 slash ? p->path : ".");
	if (!(d = opendir(dir))) {
		snprintf(err, err_len, "-w %s: cannot list %s for the completed files: %s", p->path,
			 dir, strerror(errno));
		return -errno;
	}
	time_t tomorrow = time(NULL) + 86400;
	char latest[STAMP_LEN + 1] = "";
	struct tm tm;
	struct stat st;

	if (gmtime_r(&tomorrow, &tm))
		strftime(latest, sizeof(latest), "%Y%m%dT%H%M%SZ", &tm);
	while ((de = readdir(d))) {
		if (!is_final_name(de->d_name, base, (size_t)(ext - base), ext, stamp, &n))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !ours(p, &st) ||
		    strcmp(stamp, latest) > 0)
			continue;
		snprintf(full, sizeof(full), "%.*s%s", slash ? (int)(slash - p->path) + 1 : 0,
			 p->path, de->d_name);
		if (remember(p, full, stamp, n) < 0) {
			closedir(d);
			snprintf(err, err_len, "-w %s: out of memory", p->path);
			return -ENOMEM;
		}
	}
	closedir(d);
	return 0;
}

/* The time of the first frame of an earlier run's pcap at path: 0, or -ENOENT when path is not
 * such a file (absent, not a pcap, no frame). */
static int first_frame_time(const char *path, time_t *t)
{
	uint8_t h[PCAP_HEADER + PCAP_RECORD];
	uint32_t magic;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0)
		return -ENOENT;
	got = read(fd, h, sizeof(h));
	close(fd);
	if (got != (ssize_t)sizeof(h))
		return -ENOENT;
	memcpy(&magic, h, 4);
	if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) /* ours: this host's byte order */
		return -ENOENT;
	memcpy(&magic, h + PCAP_HEADER, 4);
	*t = (time_t)magic;
	return 0;
}

int pcapout_setup_rotation(struct pcap_output *p, const struct output_rotation *rot, char *err,
			   size_t err_len)
{
	char final[PATH_MAX] = "", stamp[STAMP_LEN + 1];
	struct stat st;
	unsigned n;
	time_t first;
	int ret;

	p->rot = *rot;
	if (pcapout_is_stdout(p->path) || (lstat(p->path, &st) == 0 && !S_ISREG(st.st_mode))) {
		snprintf(err, err_len, "-w %s: not a regular file, so it cannot be rotated",
			 p->path);
		return -EINVAL;
	}
	if (keeps(p) && (ret = scan_kept(p, err, err_len)) < 0)
		return ret;
	/* an earlier run's file holds frames: completed, not truncated */
	if (first_frame_time(p->path, &first) == 0) {
		if ((ret = complete_file(p->path, first, final, sizeof(final), stamp, &n)) < 0) {
			snprintf(
			    err, err_len,
			    "-w %s: holds an earlier run's frames and cannot be renamed to %s: "
			    "%s",
			    p->path, final, strerror(-ret));
			return ret;
		}
		completed(p, final, stamp, n);
	}
	prune(p);
	return 0;
}
