/* output_pcap_open: the pcap file is private (0600) even when it existed with another mode, a
 * FIFO or a device given as -w keeps its own mode (it is not ours to change), and what is written
 * is a pcap with the frame in it. output_reopen: log rotation. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

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
	assert_int_equal(output_pcap_open(path, &o, err, sizeof(err)), 0);
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
	assert_int_equal(output_pcap_open(path, &o, err, sizeof(err)), 0);
	assert_int_equal(mode_of(path), 0644);
	output_close(o);
	close(rd);
}

static void test_missing_directory_is_an_error(void **state)
{
	char path[256], err[256] = "";
	struct output *o = (struct output *)1;

	(void)state;
	snprintf(path, sizeof(path), "%s/no/such/dir.pcap", dir);
	assert_true(output_pcap_open(path, &o, err, sizeof(err)) < 0);
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
	assert_int_equal(output_pcap_open(path, &o, err, sizeof(err)), 0);
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
	assert_int_equal(output_pcap_open(path, &o, err, sizeof(err)), 0);
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

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_regular_file_made_private),
	    cmocka_unit_test(test_fifo_keeps_its_mode),
	    cmocka_unit_test(test_missing_directory_is_an_error),
	    cmocka_unit_test(test_reopen_after_rotation),
	    cmocka_unit_test(test_failed_write_cut_back),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
