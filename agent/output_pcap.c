/* -w FILE: classic pcap (microsecond timestamps, Ethernet) through libpcap. The file is created
 * mode 0600 because it holds plaintext secrets; it is flushed at least every 200 ms when the
 * caller flushes, so tail-style readers and a crash lose little. Frames count as written only
 * once a flush has put them in the file; a flush that fails cuts the file back to its last
 * complete frame (pcapout_discard). SIGHUP's reopen starts a new file after log rotation. */
#include "output_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
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
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int pcapout_write(struct output *base, const uint8_t *frame, size_t len, uint64_t ts_ns)
{
	struct pcap_output *p = (struct pcap_output *)base;
	struct pcap_pkthdr h;

	if (len > PCAP_SNAPLEN) {
		p->base.stats.dropped++;
		return -EMSGSIZE;
	}
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
	p->pending = p->pending_bytes = 0;
	if (p->seekable)
		p->good = ftello(p->file);
	p->base.failing = false;
	return 0;
}

static int pcapout_flush(struct output *base)
{
	struct pcap_output *p = (struct pcap_output *)base;

	if (!p->pending || mono_ns() - p->last_flush_ns < FLUSH_INTERVAL_NS)
		return 0;
	return pcapout_flush_now(p);
}

static void pcapout_close(struct output *base)
{
	struct pcap_output *p = (struct pcap_output *)base;

	pcapout_flush_now(p);
	pcap_dump_close(p->dumper); /* closes p->file */
	pcap_close(p->dead);
	free(p);
}

/* Creates (or truncates) path, private, and starts a pcap in it (the global header is written
 * at the next flush). */
static int open_dumper(const char *path, pcap_t *dead, FILE **file, pcap_dumper_t **dumper,
		       bool *seekable, char *err, size_t err_len)
{
	struct stat st;
	int fd, ret;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "-w %s: %s", path, strerror(errno));
		return ret;
	}
	/* an existing file keeps its mode through O_TRUNC: make it private too (only a regular
	 * file: a FIFO or a device such as /dev/null is not ours to change) */
	if (fstat(fd, &st) < 0 || (S_ISREG(st.st_mode) && fchmod(fd, 0600) < 0)) {
		ret = -errno;
		snprintf(err, err_len, "-w %s: cannot make it private (chmod 0600): %s", path,
			 strerror(errno));
		close(fd);
		return ret;
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
	return 1;
}

static const struct output_ops pcap_ops = {
    .write = pcapout_write,
    .flush = pcapout_flush,
    .close = pcapout_close,
    .reopen = pcapout_reopen,
};

int output_pcap_open(const char *path, struct output **out, char *err, size_t err_len)
{
	struct pcap_output *p;
	int ret;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, PCAP_SNAPLEN,
						       PCAP_TSTAMP_PRECISION_MICRO);
	if (!p->dead) {
		free(p);
		return -ENOMEM;
	}
	if ((ret = open_dumper(path, p->dead, &p->file, &p->dumper, &p->seekable, err, err_len)) <
	    0) {
		pcap_close(p->dead);
		free(p);
		return ret;
	}
	p->base.ops = &pcap_ops;
	snprintf(p->base.name, sizeof(p->base.name), "-w %s", path);
	p->last_flush_ns = mono_ns();
	if (pcapout_flush_now(p) < 0) { /* the global header, right away */
		snprintf(err, err_len, "%s", p->base.last_error);
		pcapout_close(&p->base);
		return -EIO;
	}
	*out = &p->base;
	return 0;
}
