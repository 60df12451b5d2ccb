/* discovery.c over the real /proc, with the capture (BPF) replaced by a recorder: programs
 * with OpenSSL linked in are probed without --lib, each file once however many processes run
 * it and however often the scan runs; stripped ones are examined once and never probed; a
 * program started later is found when the BPF side reports its pid; one only processes of
 * another network namespace run is not probed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture.h"
#include "discovery.h"
#include "libfind.h"
#include "netns.h"
#include "test_tmpdir.h"

/* ---- the recorder in place of capture.c ------------------------------------------------- */

#define MAX_FILES 4096

struct file_calls {
	dev_t dev;
	ino_t ino;
	int attached, noted;	 /* capture_attach_file() returning 0; capture_note_library() */
	int detached, forgotten; /* capture_detach_file(); capture_forget_library() */
	bool alias;
	dev_t of_dev; /* an alias: of this file */
	ino_t of_ino;
};

struct capture {
	struct file_calls files[MAX_FILES];
	size_t n;
};

static struct capture cap;

static struct file_calls *calls_of(dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < cap.n; i++)
		if (cap.files[i].dev == dev && cap.files[i].ino == ino)
			return &cap.files[i];
	assert_true(cap.n < MAX_FILES);
	cap.files[cap.n] = (struct file_calls){.dev = dev, .ino = ino};
	return &cap.files[cap.n++];
}

int capture_attach_file(struct capture *c, const char *path, dev_t dev, ino_t ino, char *why,
			size_t why_len)
{
	struct file_calls *f = calls_of(dev, ino);

	(void)c;
	(void)path;
	if (f->attached)
		return 1;
	f->attached++;
	f->noted++;
	snprintf(why, why_len, "at the recorder");
	return 0;
}

bool capture_file_attached(const struct capture *c, dev_t dev, ino_t ino)
{
	(void)c;
	for (size_t i = 0; i < cap.n; i++)
		if (cap.files[i].dev == dev && cap.files[i].ino == ino)
			return cap.files[i].attached > 0;
	return false;
}

int capture_alias_file(struct capture *c, dev_t dev0, ino_t ino0, dev_t dev, ino_t ino)
{
	(void)c;
	assert_true(capture_file_attached(c, dev0, ino0));
	calls_of(dev, ino)->attached = 1;
	calls_of(dev, ino)->alias = true;
	calls_of(dev, ino)->of_dev = dev0;
	calls_of(dev, ino)->of_ino = ino0;
	return 0;
}

void capture_note_library(struct capture *c, dev_t dev, ino_t ino)
{
	(void)c;
	calls_of(dev, ino)->noted++;
}

int capture_detach_file(struct capture *c, dev_t dev, ino_t ino)
{
	bool found = false;

	(void)c;
	for (size_t i = 0; i < cap.n; i++) {
		struct file_calls *f = &cap.files[i];

		if (f->attached && ((f->dev == dev && f->ino == ino && !f->alias) ||
				    (f->alias && f->of_dev == dev && f->of_ino == ino))) {
			f->attached = 0;
			f->detached++;
			found |= !f->alias;
		}
	}
	return found ? 0 : -ENOENT;
}

int capture_file_at(const struct capture *c, size_t i, dev_t *dev, ino_t *ino, dev_t *of_dev,
		    ino_t *of_ino)
{
	(void)c;
	for (size_t k = 0; k < cap.n; k++) {
		const struct file_calls *f = &cap.files[k];

		if (!f->attached || i--)
			continue;
		*dev = f->dev;
		*ino = f->ino;
		*of_dev = f->alias ? f->of_dev : f->dev;
		*of_ino = f->alias ? f->of_ino : f->ino;
		return 0;
	}
	return -ENOENT;
}

void capture_forget_library(struct capture *c, dev_t dev, ino_t ino)
{
	(void)c;
	calls_of(dev, ino)->forgotten++;
}

int capture_set_netns(struct capture *c, const uint32_t *inums, size_t n)
{
	(void)c;
	(void)inums;
	(void)n;
	return 0;
}

size_t capture_files_attached(const struct capture *c)
{
	size_t n = 0;

	(void)c;
	for (size_t i = 0; i < cap.n; i++)
		n += cap.files[i].attached && !cap.files[i].alias;
	return n;
}

/* ---- the programs ------------------------------------------------------------------------ */

static char dir[] = "/tmp/sslc-discovery-XXXXXX";
static char copy_path[PATH_MAX], late_path[PATH_MAX], netns_path[PATH_MAX];

struct child {
	pid_t pid;
	int stdin_fd; /* the program runs until it is closed */
};

/* Starts path with its stdin on a pipe; returns once it runs path (exec done). netns: in a
 * network namespace of its own; pid 0 if that is not permitted here. */
static struct child start(const char *path, bool netns)
{
	int in[2], sync[2];
	struct child c = {0};
	char byte;

	/* the write end closes at exec: later children must not keep this one's stdin open */
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(sync, O_CLOEXEC), 0);
	c.pid = fork();
	assert_true(c.pid >= 0);
	if (c.pid == 0) {
		dup2(in[0], 0);
		close(in[1]);
		close(sync[0]);
		if (netns && unshare(CLONE_NEWNET) && unshare(CLONE_NEWUSER | CLONE_NEWNET)) {
			byte = 'n';
			(void)!write(sync[1], &byte, 1);
			_exit(0);
		}
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(sync[1]);
	c.stdin_fd = in[1];
	if (read(sync[0], &byte, 1) == 1) { /* could not enter a namespace */
		waitpid(c.pid, NULL, 0);
		close(c.stdin_fd);
		c.pid = 0;
	}
	close(sync[0]);
	return c;
}

static void stop(struct child *c)
{
	if (!c->pid)
		return;
	close(c->stdin_fd);
	waitpid(c->pid, NULL, 0);
	c->pid = 0;
}

static void copy_file(const char *src, const char *dst)
{
	char cmd[2 * PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, dst);
	assert_int_equal(system(cmd), 0);
}

static struct file_calls *calls_of_path(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return calls_of(st.st_dev, st.st_ino);
}

static unsigned long own_netns(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) == 0 ? (unsigned long)st.st_ino : 0;
}

static int setup(void **state)
{
	(void)state;
	if (test_tmpdir_make(dir))
		return -1;
	snprintf(copy_path, sizeof(copy_path), "%s/copy_tls", dir);
	snprintf(late_path, sizeof(late_path), "%s/late_tls", dir);
	snprintf(netns_path, sizeof(netns_path), "%s/netns_tls", dir);
	copy_file(SSLC_STATIC_TLS, copy_path);
	copy_file(SSLC_STATIC_TLS, late_path);
	copy_file(SSLC_STATIC_TLS, netns_path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return test_tmpdir_remove(dir);
}

static void test_executables_found_once(void **state)
{
	struct child a1 = start(SSLC_STATIC_TLS, false), a2 = start(SSLC_STATIC_TLS, false),
		     b = start(copy_path, false), s = start(SSLC_STATIC_TLS "_stripped", false),
		     other = start(netns_path, true);
	struct sslc_options o = {.vlan = -1};
	struct discovery *d;
	struct netns *ns;
	char err[256];

	(void)state;
	assert_int_equal(netns_new(&o, (uint32_t)own_netns(), &ns, err, sizeof(err)), 0);
	assert_int_equal(discovery_new(&cap, ns, &d), 0);
	discovery_scan_all(d, 1);
	/* two processes of one program: probed once; a copy is another file, probed too */
	assert_int_equal(calls_of_path(SSLC_STATIC_TLS)->attached, 1);
	assert_int_equal(calls_of_path(copy_path)->attached, 1);
	/* stripped: examined, remembered (and the BPF side told), not probed */
	assert_int_equal(calls_of_path(SSLC_STATIC_TLS "_stripped")->attached, 0);
	assert_int_equal(calls_of_path(SSLC_STATIC_TLS "_stripped")->noted, 1);
	/* only a process of another network namespace runs it: not looked at */
	if (other.pid) {
		assert_int_equal(calls_of_path(netns_path)->attached, 0);
		assert_int_equal(calls_of_path(netns_path)->noted, 0);
	}

	/* the periodic rescans examine nothing twice, whatever the file (every process of the
	 * host is scanned: its libraries and executables too) */
	discovery_run(d, 1 + 16 * 1000000000ULL);
	discovery_scan_all(d, 2 + 32 * 1000000000ULL);
	for (size_t i = 0; i < cap.n; i++) {
		assert_true(cap.files[i].attached <= 1);
		assert_true(cap.files[i].noted <= 1);
	}

	/* a program started now, reported by the BPF side at its exec() */
	struct child late = start(late_path, false);
	assert_int_equal(calls_of_path(late_path)->attached, 0);
	discovery_library_mapped(d, late.pid, true, 3 + 32 * 1000000000ULL);
	assert_int_equal(calls_of_path(late_path)->attached, 1);

	/* the only process of the copy and the only one of the stripped program end: at the next
	 * full scan the copy's probes are removed and the rejection is dropped (a new file may
	 * reuse its inode); the program two processes still run keeps its probes. Run again, the
	 * copy is probed again. */
	stop(&b);
	stop(&s);
	discovery_scan_all(d, 4 + 48 * 1000000000ULL);
	assert_int_equal(calls_of_path(copy_path)->attached, 0);
	assert_int_equal(calls_of_path(copy_path)->detached, 1);
	assert_int_equal(calls_of_path(SSLC_STATIC_TLS)->attached, 1);
	assert_int_equal(calls_of_path(SSLC_STATIC_TLS)->detached, 0);
	assert_true(calls_of_path(SSLC_STATIC_TLS "_stripped")->forgotten >= 1);
	/* at least the copy: other programs of the host (it is the real /proc) may end too */
	assert_true(discovery_detached(d) >= 1);
	b = start(copy_path, false);
	discovery_scan_all(d, 5 + 64 * 1000000000ULL);
	assert_int_equal(calls_of_path(copy_path)->attached, 1);

	discovery_free(d);
	netns_free(ns);
	/* the agent holds the texts it looks for, in another form: no OpenSSL in itself */
	char why[256];
	assert_int_equal(libfind_check_executable("/proc/self/exe", why, sizeof(why)),
			 LIBFIND_NO_OPENSSL);
	stop(&late);
	stop(&other);
	stop(&s);
	stop(&b);
	stop(&a2);
	stop(&a1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_executables_found_once),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
