/* -w FILE: classic pcap (microsecond timestamps, Ethernet) through libpcap. The file is created
 * mode 0600 because it holds plaintext secrets; it is flushed at least every 200 ms when the
 * caller flushes, so tail-style readers and a crash lose little. Frames count as written only
 * once a flush has put them in the file; a flush that fails cuts the file back to its last
 * complete frame (pcapout_discard). SIGHUP's reopen starts a new file after log rotation.
 * With rotation of its own (size, time), a complete file is renamed after the time it was
 * started and a new one begins under the name; the oldest are removed beyond `keep`. */
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

#define PCAP_SNAPLEN	  262144
#define FLUSH_INTERVAL_NS 200000000ULL
#define PCAP_HEADER	  24ULL		 /* the global header */
#define PCAP_RECORD	  16ULL		 /* each record's header */
#define RETRY_NS	  10000000000ULL /* a failed rotation is tried again after this */
#define STAMP_LEN	  16		 /* YYYYmmddTHHMMSSZ */

/* A completed file, for `keep`: its path and what orders it (stamp, then the -N suffix). */
struct kept_file {
	char *path;
	char stamp[STAMP_LEN + 1];
	unsigned n;
	uint64_t size;
};

struct pcap_output {
	struct output base;
	pcap_t *dead;
	pcap_dumper_t *dumper;
	FILE *file;
	uint64_t last_flush_ns;
	/* written since the last flush that succeeded: counted as sent only by the next */
	uint64_t pending, pending_bytes;
	bool seekable; /* a regular file: can be cut back to where it was complete */
	off_t good;    /* its size after the last flush that succeeded */

	/* rotation (rot all zeros: none) */
	struct output_rotation rot;
	char *path;
	uint64_t file_bytes, file_frames; /* in the file after the last flush that succeeded */
	time_t started;			  /* when this file began (UTC), for its final name */
	time_t next_turn;		  /* rot.interval_s: the next multiple */
	uint64_t retry_ns;		  /* after a failure: no new attempt before this */
	struct kept_file *kept;		  /* rot.keep(_bytes): completed files, oldest first */
	size_t n_kept;
	uint64_t kept_bytes; /* their sizes added up */
	/* for output_rotation_news() */
	uint64_t news_completed;
	unsigned news_removed;
	char news_last[PATH_MAX];
	bool news_failed;
	char news_error[PATH_MAX + 200];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void rotate(struct pcap_output *p, time_t started);
static const struct output_ops pcap_ops;

static time_t wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return ts.tv_sec;
}

static int pcapout_write(struct output *base, const uint8_t *frame, size_t len, uint64_t ts_ns)
{
	struct pcap_output *p = (struct pcap_output *)base;
	struct pcap_pkthdr h;

	if (len > PCAP_SNAPLEN) {
		p->base.stats.dropped++;
		return -EMSGSIZE;
	}
	/* a file that holds a frame is complete before this one would take it past max_bytes */
	if (p->rot.max_bytes && p->file_frames + p->pending &&
	    p->file_bytes + p->pending_bytes + PCAP_RECORD * (p->pending + 1) + len >
		p->rot.max_bytes)
		rotate(p, wall_s());
	h.ts.tv_sec = (time_t)(ts_ns / 1000000000ULL);
	h.ts.tv_usec = (suseconds_t)(ts_ns % 1000000000ULL / 1000);
	h.caplen = h.len = (bpf_u_int32)len;
	pcap_dump((u_char *)p->dumper, &h, frame);
	p->pending++;
	p->pending_bytes += len;
	return 0;
}

/* A write failed (disk full, quota, I/O error) since the last good flush: the frames written
 * since may be in the file in part, cut at any byte, which would leave every reader stuck
 * there. The file goes back to where it was complete and they all count as dropped. */
static void pcapout_discard(struct pcap_output *p)
{
	__fpurge(p->file); /* what stdio still holds of them */
	clearerr(p->file);
	if (p->seekable &&
	    (ftruncate(fileno(p->file), p->good) < 0 || fseeko(p->file, p->good, SEEK_SET) < 0)) {
		/* cannot cut it back: from here on it is not a pcap any more */
		snprintf(p->base.last_error + strlen(p->base.last_error),
			 sizeof(p->base.last_error) - strlen(p->base.last_error),
			 "; cannot cut it back to its last complete frame (%s)", strerror(errno));
	}
	p->base.stats.dropped += p->pending;
	p->pending = p->pending_bytes = 0;
}

static int pcapout_flush_now(struct pcap_output *p)
{
	p->last_flush_ns = mono_ns();
	if (pcap_dump_flush(p->dumper) < 0 || ferror(p->file)) {
		int err = errno ? -errno : -EIO;

		p->base.stats.errors++;
		snprintf(p->base.last_error, sizeof(p->base.last_error), "writing %s: %s",
			 p->base.name + 3, strerror(-err));
		pcapout_discard(p);
		p->base.failing = true;
		return err;
	}
	p->base.stats.frames += p->pending;
	p->base.stats.bytes += p->pending_bytes;
	p->file_frames += p->pending;
	p->file_bytes += p->pending_bytes + PCAP_RECORD * p->pending;
	p->pending = p->pending_bytes = 0;
	if (p->seekable)
		p->good = ftello(p->file);
	p->base.failing = false;
	return 0;
}

static time_t next_multiple(time_t now, unsigned interval)
{
	return now - now % interval + interval;
}

/* rot.interval_s: at each multiple, a file that holds frames is complete; an empty one goes on
 * as the file of the new interval. A clock set back starts the count again. */
static void turn_on_time(struct pcap_output *p)
{
	time_t now = wall_s();

	if (now < p->next_turn - (time_t)p->rot.interval_s) {
		p->next_turn = next_multiple(now, p->rot.interval_s);
	} else if (now >= p->next_turn) {
		time_t start = now - now % p->rot.interval_s;

		if (!p->file_frames && !p->pending)
			p->started = start;
		else
			rotate(p, start);
		if (p->started == start) /* done (a failure tries again at the next flush) */
			p->next_turn = next_multiple(now, p->rot.interval_s);
	}
}

static int pcapout_flush(struct output *base)
{
	struct pcap_output *p = (struct pcap_output *)base;

	if (p->rot.interval_s)
		turn_on_time(p);
	if (!p->pending || mono_ns() - p->last_flush_ns < FLUSH_INTERVAL_NS)
		return 0;
	return pcapout_flush_now(p);
}

static int pcapout_sync(struct output *base)
{
	struct pcap_output *p = (struct pcap_output *)base;

	return p->pending ? pcapout_flush_now(p) : 0;
}

static void pcapout_close(struct output *base)
{
	struct pcap_output *p = (struct pcap_output *)base;

	pcapout_flush_now(p);
	pcap_dump_close(p->dumper); /* closes p->file */
	pcap_close(p->dead);
	for (size_t i = 0; i < p->n_kept; i++)
		free(p->kept[i].path);
	free(p->kept);
	free(p->path);
	free(p);
}

static bool is_stdout(const char *path)
{
	return !strcmp(path, "-");
}

static int not_ours(const char *path, const struct stat *st, char *err, size_t err_len)
{
	if (!S_ISREG(st->st_mode) && !S_ISFIFO(st->st_mode) && st->st_uid == geteuid())
		snprintf(err, err_len, "-w %s: neither a regular file, a FIFO nor a device", path);
	else
		snprintf(err, err_len,
			 "-w %s: exists and belongs to uid %u, not to this agent's uid %u: whoever "
			 "made it could read the mirrored secrets through it; remove it or choose "
			 "another name",
			 path, (unsigned)st->st_uid, (unsigned)geteuid());
	return -EPERM;
}

/* Opens -w's file without letting another user aim it: a new file is created (O_EXCL), an
 * existing one is reused only when it is a regular file of ours with no other name (a hard
 * link to another file, which protected_hardlinks=0 lets anyone make, would be truncated) or a
 * FIFO of ours; a character device (/dev/null) is written as it is. A symbolic link is never
 * followed. Returns the descriptor or a negative errno with the message in err. */
static int open_private(const char *path, struct stat *st, char *err, size_t err_len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	int ret;

	if (fd >= 0)
		return fstat(fd, st) == 0 ? fd : (ret = -errno, close(fd), ret);
	/* an existing name: looked at without opening it for writing first (a FIFO would block
	 * until someone reads it), then opened and checked to be what was looked at */
	if (errno == EEXIST)
		fd = open(path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && fstat(fd, st) == 0 && !S_ISLNK(st->st_mode)) {
		struct stat now;
		int wfd;

		if (!S_ISCHR(st->st_mode) && st->st_uid != geteuid()) {
			close(fd);
			return not_ours(path, st, err, err_len);
		}
		wfd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		close(fd);
		fd = wfd;
		if (fd >= 0 &&
		    (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino)) {
			close(fd);
			snprintf(err, err_len, "-w %s: replaced while it was being opened", path);
			return -EAGAIN;
		}
	} else if (fd >= 0) {
		close(fd);
		fd = -1;
		errno = ELOOP;
	}
	if (fd < 0) {
		ret = -errno;
		if (errno == ELOOP)
			snprintf(err, err_len,
				 "-w %s: a symbolic link, which is not followed (the file holds "
				 "secrets)",
				 path);
		else
			snprintf(err, err_len, "-w %s: %s", path, strerror(errno));
		return ret;
	}
	if (S_ISCHR(st->st_mode))
		return fd;
	if ((!S_ISREG(st->st_mode) && !S_ISFIFO(st->st_mode)) || st->st_uid != geteuid()) {
		close(fd);
		return not_ours(path, st, err, err_len);
	}
	if (S_ISREG(st->st_mode) && st->st_nlink != 1) {
		snprintf(err, err_len,
			 "-w %s: exists with %u names (hard links): truncating it would truncate "
			 "another file; remove it or choose another name",
			 path, (unsigned)st->st_nlink);
		close(fd);
		return -EPERM;
	}
	if (S_ISREG(st->st_mode) && (ftruncate(fd, 0) < 0 || fchmod(fd, 0600) < 0)) {
		ret = -errno;
		snprintf(err, err_len, "-w %s: cannot empty it and make it private: %s", path,
			 strerror(errno));
		close(fd);
		return ret;
	}
	return fd;
}

/* Creates path (or reuses one of ours: open_private), private, and starts a pcap in it (the
 * global header is written at the next flush). "-" is standard output, as it is. */
static int open_dumper(const char *path, pcap_t *dead, FILE **file, pcap_dumper_t **dumper,
		       bool *seekable, char *err, size_t err_len)
{
	struct stat st;
	int fd, ret;

	if (is_stdout(path)) {
		fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
		if (fd < 0 || fstat(fd, &st) < 0) {
			ret = -errno;
			snprintf(err, err_len, "-w -: no standard output");
			if (fd >= 0)
				close(fd);
			return ret;
		}
	} else if ((fd = open_private(path, &st, err, err_len)) < 0) {
		return fd;
	}
	*seekable = S_ISREG(st.st_mode);
	*file = fdopen(fd, "wb");
	if (!*file) {
		ret = -errno;
		snprintf(err, err_len, "-w %s: %s", path, strerror(errno));
		close(fd);
		return ret;
	}
	setvbuf(*file, NULL, _IOFBF, 1 << 20);
	*dumper = pcap_dump_fopen(dead, *file);
	if (!*dumper) {
		snprintf(err, err_len, "-w %s: %s", path, pcap_geterr(dead));
		fclose(*file);
		return -EIO;
	}
	return 0;
}

/* After the file was moved away (log rotation): a new one under the same name. */
static int pcapout_reopen(struct output *base, char *err, size_t err_len)
{
	struct pcap_output *p = (struct pcap_output *)base;
	const char *path = p->base.name + 3;
	struct stat now, ours;
	pcap_dumper_t *dumper;
	bool seekable;
	FILE *file;
	int ret;

	if (is_stdout(path)) {
		snprintf(err, err_len, "-w -: standard output cannot be started again");
		return -ENOTSUP;
	}
	if (stat(path, &now) == 0 && fstat(fileno(p->file), &ours) == 0 &&
	    now.st_dev == ours.st_dev && now.st_ino == ours.st_ino)
		return 0; /* still there: starting again would throw its frames away */
	if ((ret = open_dumper(path, p->dead, &file, &dumper, &seekable, err, err_len)) < 0)
		return ret;		   /* the frames go on into the file we have */
	if (pcap_dump_flush(dumper) < 0) { /* the new file's global header, or stay */
		ret = errno ? -errno : -EIO;
		snprintf(err, err_len, "-w %s: %s", path, strerror(-ret));
		pcap_dump_close(dumper);
		return ret;
	}
	pcapout_flush_now(p);
	pcap_dump_close(p->dumper); /* closes p->file */
	p->dumper = dumper;
	p->file = file;
	p->seekable = seekable;
	p->good = seekable ? ftello(file) : 0;
	p->file_bytes = PCAP_HEADER;
	p->file_frames = 0;
	p->started = wall_s();
	p->retry_ns = 0;
	return 1;
}

/* --- rotation ------------------------------------------------------------------------------ */

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
	p->retry_ns = mono_ns() + RETRY_NS;
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
static void rotate(struct pcap_output *p, time_t started)
{
	char final[PATH_MAX] = "", err[320], stamp[STAMP_LEN + 1];
	struct stat now, ours;
	pcap_dumper_t *dumper;
	bool seekable;
	unsigned n;
	FILE *file;
	int ret;

	if (p->retry_ns && mono_ns() < p->retry_ns)
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
	ret = open_dumper(p->path, p->dead, &file, &dumper, &seekable, err, sizeof(err));
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

static int pcapout_news(struct output *base, char *msg, size_t len)
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

	return o && o->ops == &pcap_ops && (p->rot.max_bytes || p->rot.interval_s);
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

static int setup_rotation(struct pcap_output *p, const struct output_rotation *rot, char *err,
			  size_t err_len)
{
	char final[PATH_MAX] = "", stamp[STAMP_LEN + 1];
	struct stat st;
	unsigned n;
	time_t first;
	int ret;

	p->rot = *rot;
	if (is_stdout(p->path) || (lstat(p->path, &st) == 0 && !S_ISREG(st.st_mode))) {
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

static const struct output_ops pcap_ops = {
    .write = pcapout_write,
    .flush = pcapout_flush,
    .close = pcapout_close,
    .reopen = pcapout_reopen,
    .news = pcapout_news,
    .sync = pcapout_sync,
};

int output_pcap_open(const char *path, const struct output_rotation *rot, struct output **out,
		     char *err, size_t err_len)
{
	struct pcap_output *p;
	int ret;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, PCAP_SNAPLEN,
						       PCAP_TSTAMP_PRECISION_MICRO);
	p->path = strdup(path);
	if (!p->dead || !p->path) {
		if (p->dead)
			pcap_close(p->dead);
		free(p->path);
		free(p);
		return -ENOMEM;
	}
	if ((rot && (rot->max_bytes || rot->interval_s || rot->keep || rot->keep_bytes) &&
	     (ret = setup_rotation(p, rot, err, err_len)) < 0) ||
	    (ret = open_dumper(path, p->dead, &p->file, &p->dumper, &p->seekable, err, err_len)) <
		0) {
		for (size_t i = 0; i < p->n_kept; i++)
			free(p->kept[i].path);
		free(p->kept);
		pcap_close(p->dead);
		free(p->path);
		free(p);
		return ret;
	}
	p->base.ops = &pcap_ops;
	snprintf(p->base.name, sizeof(p->base.name), "-w %s", path);
	p->last_flush_ns = mono_ns();
	p->started = wall_s();
	if (p->rot.interval_s)
		p->next_turn = next_multiple(p->started, p->rot.interval_s);
	p->file_bytes = PCAP_HEADER;
	if (pcapout_flush_now(p) < 0) { /* the global header, right away */
		snprintf(err, err_len, "%s", p->base.last_error);
		pcapout_close(&p->base);
		return -EIO;
	}
	*out = &p->base;
	return 0;
}
