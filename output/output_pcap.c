/* -w FILE: classic pcap (microsecond timestamps, Ethernet) through libpcap. The file is created
 * mode 0600 because it holds plaintext secrets; it is flushed at least every 200 ms when the
 * caller flushes, so tail-style readers and a crash lose little. Frames count as written only
 * once a flush has put them in the file; a flush that fails cuts the file back to its last
 * complete frame (pcapout_discard). SIGHUP's reopen starts a new file after log rotation.
 * With rotation of its own (size, time), a complete file is renamed after the time it was
 * started and a new one begins under the name; the oldest are removed beyond `keep`. */
#include "output_pcap_impl.h"

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
		pcapout_rotate(p, wall_s());
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

int pcapout_flush_now(struct pcap_output *p)
{
	p->last_flush_ns = pcapout_mono_ns();
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
			pcapout_rotate(p, start);
		if (p->started == start) /* done (a failure tries again at the next flush) */
			p->next_turn = next_multiple(now, p->rot.interval_s);
	}
}

static int pcapout_flush(struct output *base)
{
	struct pcap_output *p = (struct pcap_output *)base;

	if (p->rot.interval_s)
		turn_on_time(p);
	if (!p->pending || pcapout_mono_ns() - p->last_flush_ns < FLUSH_INTERVAL_NS)
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

bool pcapout_is_stdout(const char *path)
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
int pcapout_open_dumper(const char *path, pcap_t *dead, FILE **file, pcap_dumper_t **dumper,
			bool *seekable, char *err, size_t err_len)
{
	struct stat st;
	int fd, ret;

	if (pcapout_is_stdout(path)) {
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

	if (pcapout_is_stdout(path)) {
		snprintf(err, err_len, "-w -: standard output cannot be started again");
		return -ENOTSUP;
	}
	if (stat(path, &now) == 0 && fstat(fileno(p->file), &ours) == 0 &&
	    now.st_dev == ours.st_dev && now.st_ino == ours.st_ino)
		return 0; /* still there: starting again would throw its frames away */
	if ((ret = pcapout_open_dumper(path, p->dead, &file, &dumper, &seekable, err, err_len)) < 0)
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

const struct output_ops output_pcap_ops = {
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
	     (ret = pcapout_setup_rotation(p, rot, err, err_len)) < 0) ||
	    (ret = pcapout_open_dumper(path, p->dead, &p->file, &p->dumper, &p->seekable, err,
				       err_len)) < 0) {
		for (size_t i = 0; i < p->n_kept; i++)
			free(p->kept[i].path);
		free(p->kept);
		pcap_close(p->dead);
		free(p->path);
		free(p);
		return ret;
	}
	p->base.ops = &output_pcap_ops;
	snprintf(p->base.name, sizeof(p->base.name), "-w %s", path);
	p->last_flush_ns = pcapout_mono_ns();
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
