/* output_pcap_open: the pcap file is private (0600) even when it existed with another mode, a
 * FIFO or a device given as -w keeps its own mode (it is not ours to change), and what is written
 * is a pcap with the frame in it. output_reopen: log rotation. Rotation of its own: by size
 * (no file past the limit, every frame in order in exactly one file), by time (aligned, no
 * empty files), completed names, the files kept, an earlier run's file, and failures. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test_tmpdir.h"
#include "output.h"

static char dir[] = "/tmp/sslc-output-pcap-XXXXXX";

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void test_regular_file_made_private(void **state)
{
	char path[256], err[256] = "";
	uint8_t frame[60] = {0}, buf[256];
	struct output *o;
	ssize_t n;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/old.pcap", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
	assert_int_equal(output_pcap_open(path, NULL, &o, err, sizeof(err)), 0);
	assert_int_equal(mode_of(path), 0600);
	frame[12] = 0x08; /* an IPv4 EtherType, the rest zeros: the sink does not parse */
	assert_int_equal(output_write(o, frame, sizeof(frame), 1000000000ull), 0);
	output_close(o);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, 24 + 16 + (ssize_t)sizeof(frame)); /* header, record, frame */
	assert_int_equal(buf[0], 0xd4); /* little-endian microsecond magic a1b2c3d4 */
	assert_int_equal(buf[3], 0xa1);
}

static void test_fifo_keeps_its_mode(void **state)
{
	char path[256], err[256] = "";
	struct output *o;
	int rd;

	(void)state;
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0644), 0);
	assert_int_equal(chmod(path, 0644), 0);
	rd =
	    open(path, O_RDONLY | O_NONBLOCK); /* a reader, so opening for writing does not block */
	assert_true(rd >= 0);
	assert_int_equal(output_pcap_open(path, NULL, &o, err, sizeof(err)), 0);
	assert_int_equal(mode_of(path), 0644);
	output_close(o);
	close(rd);
}

/* "-" is standard output: the pcap goes there (a pipe here), it cannot be started again or
 * rotated; a symbolic link is not followed, and the error says so. */
static void test_stdout_and_links(void **state)
{
	const struct output_rotation rot = {.max_bytes = 1 << 20};
	char path[256], err[256] = "", msg[400];
	uint8_t frame[60] = {0}, buf[256];
	int fds[2], saved;
	struct output *o;

	(void)state;
	frame[12] = 0x08;
	assert_int_equal(pipe(fds), 0);
	saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fds[1], STDOUT_FILENO), STDOUT_FILENO);
	assert_int_equal(output_pcap_open("-", NULL, &o, err, sizeof(err)), 0);
	assert_int_equal(output_write(o, frame, sizeof(frame), 1000000000ull), 0);
	assert_int_equal(output_reopen(o, msg, sizeof(msg)), -ENOTSUP);
	assert_string_equal(msg, "-w -: standard output cannot be started again");
	output_close(o);
	assert_int_equal(output_pcap_open("-", &rot, &o, err, sizeof(err)), -EINVAL);
	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);
	close(fds[1]);
	assert_int_equal(read(fds[0], buf, sizeof(buf)), 24 + 16 + (ssize_t)sizeof(frame));
	assert_int_equal(buf[0], 0xd4);
	close(fds[0]);
	assert_int_equal(access("-", F_OK), -1); /* no file named "-" */

	snprintf(path, sizeof(path), "%s/link.pcap", dir);
	assert_int_equal(symlink("/dev/null", path), 0);
	assert_int_equal(output_pcap_open(path, NULL, &o, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "a symbolic link, which is not followed"));
	assert_int_equal(unlink(path), 0);
}

static void test_missing_directory_is_an_error(void **state)
{
	char path[256], err[256] = "";
	struct output *o = (struct output *)1;

	(void)state;
	snprintf(path, sizeof(path), "%s/no/such/dir.pcap", dir);
	assert_true(output_pcap_open(path, NULL, &o, err, sizeof(err)) < 0);
	assert_null(o);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "No such file"));
}

static long size_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (long)st.st_size;
}

/* SIGHUP after log rotation: a file still in place goes on; one moved away gets every frame
 * written before the reopen and a new file under the name the rest; when the new file cannot
 * be made, the frames go on into the old one. */
static void test_reopen_after_rotation(void **state)
{
	char path[256], moved[300], err[256] = "", msg[400];
	uint8_t frame[60] = {0};
	const long rec = 16 + (long)sizeof(frame);
	struct output *o;

	(void)state;
	frame[12] = 0x08;
	snprintf(path, sizeof(path), "%s/rot.pcap", dir);
	snprintf(moved, sizeof(moved), "%s.1", path);
	assert_int_equal(output_pcap_open(path, NULL, &o, err, sizeof(err)), 0);
	assert_int_equal(output_write(o, frame, sizeof(frame), 1000000000ull), 0);
	assert_int_equal(output_reopen(o, msg, sizeof(msg)), 0); /* not moved: nothing done */
	assert_non_null(strstr(msg, "still there"));
	assert_int_equal(output_write(o, frame, sizeof(frame), 1000000000ull), 0);

	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(output_write(o, frame, sizeof(frame), 1000000000ull), 0);
	assert_int_equal(output_reopen(o, msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "started a new file"));
	assert_int_equal(size_of(moved), 24 + 3 * rec); /* complete: flushed before the switch */
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(output_write(o, frame, sizeof(frame), 1000000000ull), 0);

	/* moved again, and a directory where the new file would go */
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_true(output_reopen(o, msg, sizeof(msg)) < 0);
	assert_non_null(strstr(msg, "Is a directory"));
	assert_int_equal(output_write(o, frame, sizeof(frame), 1000000000ull), 0);
	output_close(o);
	assert_int_equal(size_of(moved), 24 + 2 * rec); /* the frames went on into it */
	assert_int_equal(rmdir(path), 0);
}

/* A write that fails (here: past RLIMIT_FSIZE, as a full disk would) must leave a pcap every
 * reader can read to its end: the file goes back to its last complete frame, the frames of the
 * failed flush count as dropped, never as written, and the next flush that succeeds goes on
 * from there. */
static void test_failed_write_cut_back(void **state)
{
	char path[256], err[256] = "";
	uint8_t frame[60] = {0}, buf[4096];
	const long rec = 16 + (long)sizeof(frame);
	struct output_stats st;
	struct rlimit old, lim;
	struct output *o;
	ssize_t n;
	int fd;

	(void)state;
	frame[12] = 0x08;
	signal(SIGXFSZ, SIG_IGN); /* EFBIG instead */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	snprintf(path, sizeof(path), "%s/full.pcap", dir);
	assert_int_equal(output_pcap_open(path, NULL, &o, err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(output_write(o, frame, sizeof(frame), 1000000000ull), 0);
	usleep(210 * 1000); /* the sink flushes at most every 200 ms */
	assert_int_equal(output_flush(o), 0);
	assert_int_equal(size_of(path), 24 + 3 * rec);

	lim = old;
	lim.rlim_cur = (rlim_t)(24 + 4 * rec + 10); /* one more frame and 10 bytes fit */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(output_write(o, frame, sizeof(frame), 1000000000ull), 0);
	usleep(210 * 1000);
	assert_true(output_flush(o) < 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_true(output_failing(o));
	assert_non_null(strstr(output_last_error(o), "File too large"));
	assert_int_equal(size_of(path), 24 + 3 * rec); /* cut back */
	output_get_stats(o, &st);
	assert_int_equal(st.frames, 3);
	assert_int_equal(st.dropped, 5);

	for (int i = 0; i < 2; i++)
		assert_int_equal(output_write(o, frame, sizeof(frame), 1000000000ull), 0);
	usleep(210 * 1000);
	assert_int_equal(output_flush(o), 0);
	assert_false(output_failing(o));
	output_get_stats(o, &st);
	output_close(o);
	assert_int_equal(st.frames, 5);
	assert_int_equal(st.dropped, 5);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, 24 + 5 * rec);
	for (long off = 24; off < n; off += rec) /* every record whole: caplen 60 */
		assert_int_equal(buf[off + 8] | buf[off + 9] << 8, (int)sizeof(frame));
}

/* --- rotation ------------------------------------------------------------------------------ */

#define MAX_FILES 16

/* tls.STAMP[-N].pcap in the order they were written (STAMP, then N; none is 0), tls.pcap
 * after them; any other name by strcmp */
static int cmp_str(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	int c;

	if (strlen(x) < 21 || strlen(y) < 21 || strncmp(x, "tls.2", 5) || strncmp(y, "tls.2", 5))
		return strcmp(x, y);
	c = strncmp(x, y, 20);
	if (c)
		return c;
	return (x[20] == '-' ? atoi(x + 21) : 0) - (y[20] == '-' ? atoi(y + 21) : 0);
}

/* The names in dir/sub, sorted; returns how many (freed by free_names). */
static size_t list_dir(const char *sub, char *names[MAX_FILES])
{
	char path[300];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			assert_true(n < MAX_FILES);
			names[n++] = strdup(de->d_name);
		}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	return n;
}

static void free_names(char *names[], size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

/* The seconds of each frame's timestamp in the pcap dir/sub/name, in order; returns how many
 * (the file must be whole: header, then whole records of 60-byte frames). */
static size_t frame_times(const char *sub, const char *name, unsigned times[], size_t max)
{
	char path[600];
	uint8_t buf[8192];
	size_t n = 0;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	len = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(len >= 24);
	assert_int_equal((len - 24) % (16 + 60), 0);
	for (ssize_t off = 24; off < len; off += 16 + 60) {
		assert_true(n < max);
		memcpy(&times[n++], buf + off, 4);
	}
	return n;
}

static void make_subdir(const char *sub, char *path, size_t len, const char *file)
{
	snprintf(path, len, "%s/%s", dir, sub);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, len, "%s/%s/%s", dir, sub, file);
}

static void write_frames(struct output *o, unsigned first, unsigned n)
{
	uint8_t frame[60] = {0};

	frame[12] = 0x08;
	for (unsigned i = first; i < first + n; i++)
		assert_int_equal(output_write(o, frame, sizeof(frame), i * 1000000000ull), 0);
}

static void stamp_of(time_t t, char out[17])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* By size: a file never grows past the limit; when it is full it gets its final name
 * (tls.STAMP.pcap, then tls.STAMP-1.pcap.. in the same second) and the frames go on, in order,
 * in the new tls.pcap. */
static void test_rotate_by_size(void **state)
{
	const struct output_rotation rot = {.max_bytes = 24 + 3 * (16 + 60)}; /* 3 frames */
	char path[300], err[256] = "", msg[1024], *names[MAX_FILES], stamp[17];
	unsigned times[16], expect = 1;
	struct output *o;
	size_t n;
	time_t t0 = time(NULL);

	(void)state;
	make_subdir("size", path, sizeof(path), "tls.pcap");
	assert_int_equal(output_pcap_open(path, &rot, &o, err, sizeof(err)), 0);
	assert_true(output_pcap_rotates(o));
	write_frames(o, 1, 3);
	assert_int_equal(output_rotation_news(o, msg, sizeof(msg)), 0); /* full, not past it */
	write_frames(o, 4, 1);
	assert_int_equal(output_rotation_news(o, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "file complete, now "));
	assert_non_null(strstr(msg, "/size/tls.2"));
	write_frames(o, 5, 6); /* two more files complete, the 10th frame in tls.pcap */
	assert_int_equal(output_rotation_news(o, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "2 files complete, the last now "));
	output_close(o);

	n = list_dir("size", names);
	assert_int_equal(n, 4);
	assert_string_equal(names[3], "tls.pcap");
	/* the same second, or the next: the files' order is that of their names */
	stamp_of(t0, stamp);
	if (strncmp(names[0] + 4, stamp, 16) != 0)
		stamp_of(t0 + 1, stamp);
	assert_int_equal(strncmp(names[0] + 4, stamp, 16), 0);
	for (size_t i = 0; i < n; i++) {
		size_t k = frame_times("size", names[i], times, 16);

		assert_int_equal(k, i < 3 ? 3 : 1);
		for (size_t j = 0; j < k; j++)
			assert_int_equal(times[j], expect++);
		snprintf(path, sizeof(path), "%s/size/%s", dir, names[i]);
		assert_int_equal(mode_of(path), 0600);
	}
	assert_int_equal(expect, 11);
	free_names(names, n);
}

/* keep: the oldest completed files beyond it are removed, those of earlier runs too (only the
 * names rotation makes); an earlier run's tls.pcap with frames is completed under the time of
 * its first frame, not truncated; one without frames is simply started again. */
static void test_rotate_keep_and_earlier_run(void **state)
{
	static const char *const before[] = {
	    "tls.20200101T000000Z.pcap",   "tls.20200101T000001Z.pcap",
	    "tls.20200101T000001Z-1.pcap", "tls.20200101T000000Z.pcap.bak",
	    "other.20200101T000000Z.pcap", "tls.2020.pcap",
	    "tls.20200101T000000Z-x.pcap", "tls.20200101T00000Z.pcap",
	};
	const struct output_rotation rot = {.max_bytes = 24 + 3 * (16 + 60), .keep = 2};
	char path[300], file[400], err[256] = "", msg[1024], *names[MAX_FILES];
	unsigned times[16];
	struct output_stats st;
	struct output *o;
	size_t n;

	(void)state;
	make_subdir("keep", path, sizeof(path), "tls.pcap");
	for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++) {
		snprintf(file, sizeof(file), "%s/keep/%s", dir, before[i]);
		close(open(file, O_WRONLY | O_CREAT, 0600));
	}
	/* the earlier run: one frame at 2020-09-13 12:26:40 UTC */
	assert_int_equal(output_pcap_open(path, NULL, &o, err, sizeof(err)), 0);
	write_frames(o, 1600000000u, 1);
	output_close(o);

	assert_int_equal(output_pcap_open(path, &rot, &o, err, sizeof(err)), 0);
	assert_int_equal(output_rotation_news(o, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "now "));
	assert_non_null(strstr(
	    msg, "/keep/tls.20200913T122640Z.pcap; 2 old files removed (2 kept, 100 bytes)"));
	n = list_dir("keep", names);
	assert_int_equal(n, 8); /* the 5 that are not rotation's, 2 kept, tls.pcap */
	assert_string_equal(names[0], "other.20200101T000000Z.pcap");
	assert_string_equal(names[1], "tls.2020.pcap");
	assert_string_equal(names[2], "tls.20200101T000000Z-x.pcap");
	assert_string_equal(names[3], "tls.20200101T000000Z.pcap.bak");
	assert_string_equal(names[4], "tls.20200101T000001Z-1.pcap"); /* after ...01Z.pcap */
	assert_string_equal(names[5], "tls.20200101T00000Z.pcap");
	assert_string_equal(names[6], "tls.20200913T122640Z.pcap");
	assert_string_equal(names[7], "tls.pcap");
	assert_int_equal(frame_times("keep", names[6], times, 16), 1);
	assert_int_equal(times[0], 1600000000u);
	assert_int_equal(frame_times("keep", "tls.pcap", times, 16), 0);
	free_names(names, n);

	write_frames(o, 1, 4); /* one more complete: the 2 newest stay */
	assert_int_equal(output_rotation_news(o, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "1 old file removed (2 kept, 352 bytes)"));
	output_get_stats(o, &st);
	assert_int_equal(st.files_completed, 2);
	output_close(o);
	n = list_dir("keep", names);
	assert_int_equal(n, 8);
	assert_string_equal(names[4], "tls.20200101T00000Z.pcap");
	assert_string_equal(names[5], "tls.20200913T122640Z.pcap");
	assert_int_equal(strncmp(names[6], "tls.20", 6), 0);
	assert_string_equal(names[7], "tls.pcap");
	assert_int_equal(frame_times("keep", names[6], times, 16), 3);
	assert_int_equal(frame_times("keep", "tls.pcap", times, 16), 1);
	free_names(names, n);

	/* a tls.pcap without frames is not completed: started again */
	assert_int_equal(output_pcap_open(path, NULL, &o, err, sizeof(err)), 0);
	output_close(o);
	assert_int_equal(output_pcap_open(path, &rot, &o, err, sizeof(err)), 0);
	assert_int_equal(output_rotation_news(o, msg, sizeof(msg)), 0);
	output_close(o);
}

/* keep counts only what rotation made: names dated after tomorrow, other users' files and
 * links are left alone, whatever their names say (issue 21: three planted files dated 2099
 * made --rotate-keep 3 delete every real capture). */
static void test_rotate_keep_leaves_others(void **state)
{
	static const char *const future[] = {
	    "tls.20990101T000000Z.pcap", "tls.20990101T000001Z.pcap", "tls.20990101T000002Z.pcap"};
	const struct output_rotation rot = {.max_bytes = 24 + 3 * (16 + 60), .keep = 1};
	char path[300], file[400], target[400], err[256] = "", msg[1024], *names[MAX_FILES];
	struct output *o;
	size_t n;

	(void)state;
	make_subdir("keep2", path, sizeof(path), "tls.pcap");
	for (size_t i = 0; i < 3; i++) {
		snprintf(file, sizeof(file), "%s/keep2/%s", dir, future[i]);
		close(open(file, O_WRONLY | O_CREAT, 0600));
	}
	snprintf(file, sizeof(file), "%s/keep2/tls.20000101T000000Z.pcap", dir);
	close(open(file, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(chown(file, 12345, 12345), 0); /* another user's (the tests run as root) */
	snprintf(target, sizeof(target), "%s/keep2/target", dir);
	close(open(target, O_WRONLY | O_CREAT, 0600));
	snprintf(file, sizeof(file), "%s/keep2/tls.20000101T000001Z.pcap", dir);
	assert_int_equal(symlink(target, file), 0);

	assert_int_equal(output_pcap_open(path, &rot, &o, err, sizeof(err)), 0);
	write_frames(o, 1600000000u, 7); /* two complete files and one frame */
	assert_int_equal(output_rotation_news(o, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "1 old file removed (1 kept"));
	output_close(o);
	n = list_dir("keep2", names);
	assert_int_equal(n, 8); /* 5 planted, the target, 1 kept, tls.pcap */
	assert_string_equal(names[0], "target");
	assert_string_equal(names[1], "tls.20000101T000000Z.pcap");
	assert_string_equal(names[2], "tls.20000101T000001Z.pcap");
	assert_int_equal(strncmp(names[3], "tls.20", 6), 0); /* ours, the newer one */
	assert_int_not_equal(strncmp(names[3], "tls.2099", 8), 0);
	assert_string_equal(names[4], future[0]);
	assert_string_equal(names[7], "tls.pcap");
	free_names(names, n);
	assert_int_equal(access(target, F_OK), 0);
}

/* keep_bytes: the oldest completed files are removed while they add up to more than it. */
static void test_rotate_keep_bytes(void **state)
{
	const struct output_rotation rot = {.max_bytes = 252, .keep_bytes = 600}; /* 3 frames */
	char path[300], err[256] = "", msg[1024], *names[MAX_FILES];
	unsigned times[16];
	struct output *o;
	size_t n;

	(void)state;
	make_subdir("bytes", path, sizeof(path), "tls.pcap");
	assert_int_equal(output_pcap_open(path, &rot, &o, err, sizeof(err)), 0);
	write_frames(o, 1, 7); /* two files of 252 bytes complete: 504, within the limit */
	assert_int_equal(output_rotation_news(o, msg, sizeof(msg)), -1);
	assert_null(strstr(msg, "removed"));
	write_frames(o, 8, 3); /* a third: 756, so the oldest goes */
	assert_int_equal(output_rotation_news(o, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "1 old file removed (2 kept, 504 bytes)"));
	output_close(o);
	n = list_dir("bytes", names);
	assert_int_equal(n, 3);
	assert_int_equal(frame_times("bytes", names[0], times, 16), 3);
	assert_int_equal(times[0], 4); /* frames 1-3 went with the oldest file */
	assert_int_equal(frame_times("bytes", names[1], times, 16), 3);
	assert_int_equal(frame_times("bytes", "tls.pcap", times, 16), 1);
	free_names(names, n);
}

/* By time: at each multiple of the interval a file that holds frames is completed (named after
 * when it began); an empty one is not, it becomes the file of the new interval. */
static void test_rotate_by_time(void **state)
{
	const struct output_rotation rot = {.interval_s = 1};
	char path[300], err[256] = "", msg[1024], *names[MAX_FILES], stamp[17], later[17];
	struct output_stats st;
	struct output *o;
	size_t n;
	time_t t0 = time(NULL), t1;

	(void)state;
	make_subdir("time", path, sizeof(path), "tls.pcap");
	assert_int_equal(output_pcap_open(path, &rot, &o, err, sizeof(err)), 0);
	write_frames(o, 1, 2);
	usleep(1100 * 1000);
	assert_int_equal(output_flush(o), 0);
	assert_int_equal(output_rotation_news(o, msg, sizeof(msg)), -1);
	output_get_stats(o, &st);
	assert_int_equal(st.files_completed, 1);
	assert_int_equal(st.frames, 2);

	usleep(1100 * 1000); /* nothing written: no empty file completed */
	t1 = time(NULL);
	assert_int_equal(output_flush(o), 0);
	assert_int_equal(output_rotation_news(o, msg, sizeof(msg)), 0);
	write_frames(o, 3, 1);
	usleep(1100 * 1000);
	assert_int_equal(output_flush(o), 0);
	assert_int_equal(output_rotation_news(o, msg, sizeof(msg)), -1);
	output_get_stats(o, &st);
	assert_int_equal(st.files_completed, 2);
	output_close(o);

	n = list_dir("time", names);
	assert_int_equal(n, 3);
	stamp_of(t0, stamp); /* the first began at the open (in t0's second or the next) */
	stamp_of(t0 + 1, later);
	assert_true(strncmp(names[0] + 4, stamp, 16) == 0 || strncmp(names[0] + 4, later, 16) == 0);
	stamp_of(t1, stamp); /* the second at the interval the empty file was carried into */
	stamp_of(t1 + 1, later);
	assert_true(strncmp(names[1] + 4, stamp, 16) == 0 || strncmp(names[1] + 4, later, 16) == 0);
	{
		unsigned times[4];

		assert_int_equal(frame_times("time", names[0], times, 4), 2);
		assert_int_equal(frame_times("time", names[1], times, 4), 1);
		assert_int_equal(times[0], 3);
		assert_int_equal(frame_times("time", "tls.pcap", times, 4), 0);
	}
	free_names(names, n);
}

/* A rotation that cannot be done is reported once and the frames go on into the file being
 * written (here: it was moved away and SIGHUP not sent yet); after SIGHUP rotation goes on.
 * Rotation needs a regular file. */
static void test_rotation_failures(void **state)
{
	const struct output_rotation rot = {.max_bytes = 24 + 3 * (16 + 60)};
	char path[300], moved[400], err[256] = "", msg[1024];
	unsigned times[16];
	struct output *o;

	(void)state;
	make_subdir("fail", path, sizeof(path), "tls.pcap");
	snprintf(moved, sizeof(moved), "%s/fail/moved.pcap", dir);
	assert_int_equal(output_pcap_open(path, &rot, &o, err, sizeof(err)), 0);
	write_frames(o, 1, 3);
	assert_int_equal(rename(path, moved), 0);
	write_frames(o, 4, 2);
	assert_int_equal(output_rotation_news(o, msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "is no longer the file being written"));
	assert_int_equal(output_rotation_news(o, msg, sizeof(msg)), 0); /* once, not per frame */
	assert_int_equal(output_reopen(o, msg, sizeof(msg)), 1);	/* SIGHUP */
	write_frames(o, 6, 4); /* 3, then 1 more: a rotation */
	assert_int_equal(output_rotation_news(o, msg, sizeof(msg)), -1);
	output_close(o);
	assert_int_equal(frame_times("fail", "moved.pcap", times, 16), 5);
	assert_int_equal(frame_times("fail", "tls.pcap", times, 16), 1);
	assert_int_equal(times[0], 9);

	/* open refuses what cannot rotate */
	snprintf(path, sizeof(path), "%s/fail/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(output_pcap_open(path, &rot, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
}

static int setup(void **state)
{
	(void)state;
	return test_tmpdir_make(dir);
}

static int teardown(void **state)
{
	(void)state;
	return test_tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_regular_file_made_private),
	    cmocka_unit_test(test_fifo_keeps_its_mode),
	    cmocka_unit_test(test_missing_directory_is_an_error),
	    cmocka_unit_test(test_stdout_and_links),
	    cmocka_unit_test(test_reopen_after_rotation),
	    cmocka_unit_test(test_failed_write_cut_back),
	    cmocka_unit_test(test_rotate_by_size),
	    cmocka_unit_test(test_rotate_keep_and_earlier_run),
	    cmocka_unit_test(test_rotate_keep_leaves_others),
	    cmocka_unit_test(test_rotate_keep_bytes),
	    cmocka_unit_test(test_rotate_by_time),
	    cmocka_unit_test(test_rotation_failures),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
