/* TLS library and executable discovery on a fake /proc tree, ELF symbol checks on real files, and
 * the listening-port role fallback on fake /proc/net files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "test_tmpdir.h"
#include "libfind.h"
#include "probesite.h"
#include "roles.h"

static char root[] = "/tmp/sslc-fakeproc-XXXXXX";

static void write_file(const char *rel, const char *content)
{
	char path[512], dir[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(dir), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void make_link(const char *target, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(symlink(target, path), 0);
}

static int setup(void **state)
{
	(void)state;
	if (test_tmpdir_make(root))
		return -1;
	/* a host process: libssl mapped in several segments, libcrypto, NSS's libssl3.so, a
	 * library replaced on disk, anonymous mappings */
	write_file("100/comm", "nginx\n");
	write_file("100/maps",
		   "55d0c0000000-55d0c0001000 r--p 00000000 fe:01 1000 /usr/sbin/nginx\n"
		   "7f0000000000-7f0000010000 r--p 00000000 fe:01 2001 "
		   "/usr/lib/x86_64-linux-gnu/libssl.so.3\n"
		   "7f0000010000-7f0000080000 r-xp 00010000 fe:01 2001 "
		   "/usr/lib/x86_64-linux-gnu/libssl.so.3\n"
		   "7f0000080000-7f00000a0000 r--p 00080000 fe:01 2001 "
		   "/usr/lib/x86_64-linux-gnu/libssl.so.3\n"
		   "7f0000100000-7f0000300000 r-xp 00000000 fe:01 2002 "
		   "/usr/lib/x86_64-linux-gnu/libcrypto.so.3\n"
		   "7f0000400000-7f0000410000 r-xp 00000000 fe:01 2003 "
		   "/usr/lib/x86_64-linux-gnu/libssl3.so\n"
		   "7f0000500000-7f0000510000 rw-p 00000000 00:00 0 \n"
		   "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          "
		   "[stack]\n");
	write_file("100/root/usr/lib/x86_64-linux-gnu/libssl.so.3", "not really ELF\n");
	/* a container process: its own libssl (another device), plus one deleted on disk */
	write_file("200/comm", "python3\n");
	write_file("200/maps",
		   "7f1000000000-7f1000090000 r-xp 00000000 00:2d 777 /usr/lib/libssl.so.1.1\n"
		   "7f2000000000-7f2000090000 r-xp 00000000 00:2d 778 "
		   "/opt/app/libssl-1a2b3c.so.3 (deleted)\n");
	/* programs: one with OpenSSL inside (maps name it; it maps no libssl), one replaced on
	 * disk since it started, one whose executable maps do not show (not reported) */
	write_file("300/comm", "node\n");
	write_file("300/maps",
		   "00400000-00401000 r--p 00000000 fe:01 3000 /usr/bin/node\n"
		   "00401000-02000000 r-xp 00001000 fe:01 3000 /usr/bin/node\n"
		   "7f0000000000-7f0000010000 r-xp 00000000 fe:01 3001 /usr/lib/libm.so.6\n");
	make_link("/usr/bin/node", "300/exe");
	write_file("400/comm", "server\n");
	write_file(
	    "400/maps",
	    "55d0c0000000-55d0c0001000 r-xp 00000000 fe:01 4000 /opt/app/server (deleted)\n");
	make_link("/opt/app/server (deleted)", "400/exe");
	write_file("500/comm", "ld.so\n");
	write_file("500/maps", "7f0000000000-7f0000010000 r-xp 00000000 fe:01 5001 /lib/ld.so\n");
	make_link("/usr/bin/other", "500/exe");
	/* not processes */
	write_file("net/tcp", "");
	write_file("self/maps", "garbage\n");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return test_tmpdir_remove(root);
}

struct found {
	struct tls_mapping m[16];
	int n;
};

static int collect(void *ctx, const struct tls_mapping *m)
{
	struct found *f = ctx;

	assert_true(f->n < 16);
	f->m[f->n++] = *m;
	return 0;
}

static void test_is_tls_library(void **state)
{
	(void)state;
	assert_true(libfind_is_tls_library("/usr/lib/x86_64-linux-gnu/libssl.so.3"));
	assert_true(libfind_is_tls_library("/usr/lib/libssl.so.1.1"));
	assert_true(libfind_is_tls_library("libssl.so"));
	assert_true(libfind_is_tls_library("/site-packages/libssl-1a2b3c.so.3"));
	assert_false(libfind_is_tls_library("/usr/lib/x86_64-linux-gnu/libcrypto.so.3"));
	assert_false(libfind_is_tls_library("/usr/lib/libssl_helper.a"));
	assert_false(libfind_is_tls_library("/home/u/libssl.txt"));
	/* GnuTLS, NSS (libssl3 is a libssl by name), NSPR; not GnuTLS's add-on libraries */
	assert_true(libfind_is_tls_library("/usr/lib/x86_64-linux-gnu/libgnutls.so.30.34.3"));
	assert_true(libfind_is_tls_library("/usr/lib64/libgnutls.so.30"));
	assert_true(libfind_is_tls_library("/usr/lib/x86_64-linux-gnu/libssl3.so"));
	assert_true(libfind_is_tls_library("/usr/lib/x86_64-linux-gnu/libnspr4.so"));
	assert_false(libfind_is_tls_library("/usr/lib/x86_64-linux-gnu/libgnutls-openssl.so.27"));
	assert_false(libfind_is_tls_library("/usr/lib/x86_64-linux-gnu/libgnutls-dane.so.0"));
	assert_false(libfind_is_tls_library("/usr/lib/x86_64-linux-gnu/libgnutlsxx.so.30"));
	assert_false(libfind_is_tls_library("/usr/lib/x86_64-linux-gnu/libnss3.so"));
}

static void test_scan_one_process(void **state)
{
	struct found f = {0};
	char want[512];

	(void)state;
	assert_int_equal(libfind_scan_pid(root, 100, collect, &f), 0);
	/* libssl.so.3 once although mapped three times; NSS's libssl3.so is reported too (the
	 * ELF check, not the name, tells it is not OpenSSL); libcrypto is not */
	assert_int_equal(f.n, 2);
	assert_string_equal(f.m[0].path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
	assert_string_equal(f.m[0].comm, "nginx");
	assert_int_equal(f.m[0].pid, 100);
	assert_int_equal(f.m[0].dev, makedev(0xfe, 0x01));
	assert_int_equal(f.m[0].ino, 2001);
	assert_false(f.m[0].deleted);
	snprintf(want, sizeof(want), "%s/100/root/usr/lib/x86_64-linux-gnu/libssl.so.3", root);
	assert_string_equal(f.m[0].open_path, want);
	assert_string_equal(f.m[1].path, "/usr/lib/x86_64-linux-gnu/libssl3.so");
	assert_int_equal(f.m[1].ino, 2003);
	assert_false(f.m[0].executable || f.m[1].executable);
}

static void test_scan_executables(void **state)
{
	struct found f = {0};
	char want[512];

	(void)state;
	/* the executable, once although mapped twice, after the libraries (none here), with the
	 * device and inode of its maps lines (the file the kernel probes) */
	assert_int_equal(libfind_scan_pid(root, 300, collect, &f), 0);
	assert_int_equal(f.n, 1);
	assert_true(f.m[0].executable);
	assert_string_equal(f.m[0].path, "/usr/bin/node");
	assert_string_equal(f.m[0].comm, "node");
	assert_int_equal(f.m[0].dev, makedev(0xfe, 0x01));
	assert_int_equal(f.m[0].ino, 3000);
	assert_false(f.m[0].deleted);
	snprintf(want, sizeof(want), "%s/300/root/usr/bin/node", root);
	assert_string_equal(f.m[0].open_path, want);
	/* replaced on disk: opened through /proc/PID/exe */
	f.n = 0;
	assert_int_equal(libfind_scan_pid(root, 400, collect, &f), 0);
	assert_int_equal(f.n, 1);
	assert_true(f.m[0].executable && f.m[0].deleted);
	assert_string_equal(f.m[0].path, "/opt/app/server");
	assert_int_equal(f.m[0].ino, 4000);
	snprintf(want, sizeof(want), "%s/400/exe", root);
	assert_string_equal(f.m[0].open_path, want);
	/* an executable that no maps line names (no device and inode to probe): not reported;
	 * nor for processes without exe (100, kernel threads) */
	f.n = 0;
	assert_int_equal(libfind_scan_pid(root, 500, collect, &f), 0);
	assert_int_equal(f.n, 0);
}

static void test_scan_container_and_deleted(void **state)
{
	struct found f = {0};
	char want[512];

	(void)state;
	assert_int_equal(libfind_scan_pid(root, 200, collect, &f), 0);
	assert_int_equal(f.n, 2);
	assert_string_equal(f.m[0].path, "/usr/lib/libssl.so.1.1");
	assert_int_equal(f.m[0].dev, makedev(0x00, 0x2d));
	snprintf(want, sizeof(want), "%s/200/root/usr/lib/libssl.so.1.1", root);
	assert_string_equal(f.m[0].open_path, want);
	/* deleted: reached through map_files, path without the marker */
	assert_true(f.m[1].deleted);
	assert_string_equal(f.m[1].path, "/opt/app/libssl-1a2b3c.so.3");
	snprintf(want, sizeof(want), "%s/200/map_files/7f2000000000-7f2000090000", root);
	assert_string_equal(f.m[1].open_path, want);
}

static void test_scan_all_and_missing(void **state)
{
	struct found f = {0};

	(void)state;
	assert_int_equal(libfind_scan_all(root, collect, &f), 0);
	/* 2 from pid 100, 2 from pid 200, the executables of 300 and 400; net/, self/ ignored */
	assert_int_equal(f.n, 6);
	assert_int_equal(libfind_scan_pid(root, 999, collect, &f), -ENOENT);
}

static int stop_at_first(void *ctx, const struct tls_mapping *m)
{
	(void)m;
	(*(int *)ctx)++;
	return 42;
}

static void test_callback_stops_scan(void **state)
{
	int calls = 0;

	(void)state;
	assert_int_equal(libfind_scan_all(root, stop_at_first, &calls), 42);
	assert_int_equal(calls, 1);
}

static void test_check_elf(void **state)
{
	char why[256];
	char path[512];

	(void)state;
	/* the real OpenSSL library of this machine (a dependency of the build) */
	assert_int_equal(
	    libfind_check_elf("/usr/lib/x86_64-linux-gnu/libssl.so.3", why, sizeof(why)), 0);
	/* an ELF file without the functions */
	assert_int_equal(
	    libfind_check_elf("/usr/lib/x86_64-linux-gnu/libcrypto.so.3", why, sizeof(why)),
	    -ENOENT);
	assert_non_null(strstr(why, "not a TLS library we know"));
	/* not ELF at all */
	snprintf(path, sizeof(path), "%s/100/root/usr/lib/x86_64-linux-gnu/libssl.so.3", root);
	assert_int_equal(libfind_check_elf(path, why, sizeof(why)), -ENOEXEC);
	assert_string_equal(why, "not an ELF file");
	assert_int_equal(libfind_check_elf("/nonexistent/libssl.so", why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "cannot open"));
}

static void test_listen_ports(void **state)
{
	struct listen_ports lp;
	char dir[512];

	(void)state;
	write_file(
	    "pnet/tcp",
	    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   "
	    "uid  timeout inode\n"
	    "   0: 00000000:01BB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     "
	    "0        0 1 1 0000000000000000 100 0 0 10 0\n"
	    "   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     "
	    "0        0 2 1 0000000000000000 100 0 0 10 0\n"
	    "   2: 0200000A:C350 0100000A:01BB 01 00000000:00000000 00:00000000 00000000     "
	    "0        0 3 1 0000000000000000 20 4 30 10 -1\n");
	write_file(
	    "pnet/tcp6",
	    "  sl  local_address                         remote_address                        "
	    "st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	    "   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 "
	    "0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0 100 0 0 10 0\n");
	snprintf(dir, sizeof(dir), "%s/pnet", root);
	assert_int_equal(listen_ports_load(&lp, dir), 0);
	assert_true(listen_ports_has(&lp, 443));
	assert_true(listen_ports_has(&lp, 8080));
	assert_true(listen_ports_has(&lp, 80));
	assert_false(listen_ports_has(&lp, 50000)); /* established, not listening */
	assert_false(listen_ports_has(&lp, 22));
	snprintf(dir, sizeof(dir), "%s/nonexistent", root);
	assert_true(listen_ports_load(&lp, dir) < 0);
}

/* OpenSSL 3.0's SSL_read_ex at 0x1000: sub $0x8,%rsp; call ssl_read_internal (0x800) */
static const uint8_t read_ex[] = {0x48, 0x83, 0xec, 0x08, 0xe8, 0xf7, 0xf7,
				  0xff, 0xff, 0x31, 0xd2, 0x85, 0xc0};

static void test_probesite_decoding(void **state)
{
	(void)state;
	/* the forwarder's call target, with and without endbr64, imm8 and imm32 frames */
	assert_int_equal(probesite_forward_target(read_ex, sizeof(read_ex), 0x1000), 0x800);
	const uint8_t cet[] = {0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x81, 0xec, 0x00,
			       0x01, 0x00, 0x00, 0xe8, 0x10, 0x00, 0x00, 0x00};
	assert_int_equal(probesite_forward_target(cet, sizeof(cet), 0x1000), 0x1000 + 16 + 0x10);
	const uint8_t direct_call[] = {0xe8, 0x00, 0x01, 0x00, 0x00};
	assert_int_equal(probesite_forward_target(direct_call, 5, 0x2000), 0x2105);
	/* not a forwarder: a push first, a call too short, nothing */
	const uint8_t push_first[] = {0x55, 0xe8, 0, 0, 0, 0};
	assert_int_equal(probesite_forward_target(push_first, sizeof(push_first), 0), -1);
	assert_int_equal(probesite_forward_target(read_ex, 7, 0x1000), -1);
	assert_int_equal(probesite_forward_target(read_ex, 0, 0x1000), -1);

	/* a call somewhere in SSL_read to the same target; not to another */
	const uint8_t plain[] = {0x48, 0x83, 0xec, 0x18, 0x48, 0x89, 0xe1,
				 0xe8, 0xf4, 0xf7, 0xff, 0xff, 0x85, 0xc0};
	assert_true(probesite_calls(plain, sizeof(plain), 0x1000, 0x800));
	assert_false(probesite_calls(plain, sizeof(plain), 0x1000, 0x900));
	assert_false(probesite_calls(plain, 11, 0x1000, 0x800)); /* the call cut off */

	/* entries the kernel emulates: push (with and without REX), call, jmp; after endbr64 */
	const uint8_t push_r14[] = {0x41, 0x56}, push_rbx[] = {0x53},
		      sub_rsp[] = {0x48, 0x83, 0xec, 0x18};
	const uint8_t cet_push[] = {0xf3, 0x0f, 0x1e, 0xfa, 0x55},
		      cet_sub[] = {0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x83, 0xec, 0x18};
	assert_int_equal(probesite_cheap_entry(push_r14, 2), 0);
	assert_int_equal(probesite_cheap_entry(push_rbx, 1), 0);
	assert_int_equal(probesite_cheap_entry(direct_call, 5), 0);
	assert_int_equal(probesite_cheap_entry(cet_push, 5), 4);
	assert_int_equal(probesite_cheap_entry(sub_rsp, 4), -1);
	assert_int_equal(probesite_cheap_entry(cet_sub, 8), -1);
	assert_int_equal(probesite_cheap_entry(push_r14, 1), -1); /* REX alone */
}

static void test_probesite_files(void **state)
{
	struct probe_sites s;
	char why[256], path[PATH_MAX];

	(void)state;
	/* not ELF; missing */
	snprintf(path, sizeof(path), "%s/notelf", root);
	write_file("notelf", "hello\n");
	assert_int_equal(probesite_find(path, &s, why, sizeof(why)), -ENOEXEC);
	assert_int_equal(probesite_find("/nonexistent/libssl.so.3", &s, why, sizeof(why)), -ENOENT);
	/* an ELF file without OpenSSL: found, nothing to redirect */
	assert_int_equal(probesite_find("/bin/sh", &s, why, sizeof(why)), 0);
	assert_int_equal(s.read_internal, 0);
	assert_int_equal(s.write_internal, 0);
#if defined(__x86_64__)
	/* Debian 12's OpenSSL 3.0: both internal functions found, distinct */
	const char *libssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
	if (access(libssl, R_OK) == 0) {
		assert_int_equal(probesite_find(libssl, &s, why, sizeof(why)), 0);
		assert_true(s.read_internal != 0);
		assert_true(s.write_internal != 0);
		assert_true(s.read_internal != s.write_internal);
	}
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_is_tls_library),
	    cmocka_unit_test(test_scan_one_process),
	    cmocka_unit_test(test_scan_container_and_deleted),
	    cmocka_unit_test(test_scan_executables),
	    cmocka_unit_test(test_scan_all_and_missing),
	    cmocka_unit_test(test_callback_stops_scan),
	    cmocka_unit_test(test_check_elf),
	    cmocka_unit_test(test_listen_ports),
	    cmocka_unit_test(test_probesite_decoding),
	    cmocka_unit_test(test_probesite_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
