/* OpenSSL inside ELF files: executables with OpenSSL linked in (with and without symbols),
 * the OpenSSL version of a file (symbol versions, version texts), and the probe sites' rule
 * that the internal functions are used only for the releases whose signatures we know. On
 * texts, on this machine's OpenSSL and on programs built against it (static_tls.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <openssl/opensslv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libfind.h"
#include "probesite.h"
#include "test_tmpdir.h"

static const char *const libssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
static const char *const libcrypto = "/usr/lib/x86_64-linux-gnu/libcrypto.so.3";
static const char *const static_tls = SSLC_STATIC_TLS;
static const char *const stripped_tls = SSLC_STATIC_TLS "_stripped";
static char dir[] = "/tmp/sslc-opensslfiles-XXXXXX";

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

static bool text_version(const char *s, struct openssl_version *v)
{
	return libfind_version_from_text(s, strlen(s), v);
}

static void test_version_text(void **state)
{
	struct openssl_version v;

	(void)state;
	assert_true(text_version("OpenSSL 3.0.13 30 Jan 2024", &v));
	assert_int_equal(v.major, 3);
	assert_int_equal(v.minor, 0);
	assert_int_equal(v.patch, 13);
	assert_false(v.or_later);
	assert_string_equal(v.text, "3.0.13");
	/* 1.1.1's two spaces and letter; FIPS builds; quictls; dev builds' date */
	assert_true(text_version("OpenSSL 1.1.1w  11 Sep 2023", &v));
	assert_string_equal(v.text, "1.1.1w");
	assert_int_equal(v.patch, 1);
	assert_true(text_version("OpenSSL 1.1.1k  FIPS 25 Mar 2021", &v));
	assert_string_equal(v.text, "1.1.1k");
	assert_true(text_version("OpenSSL 3.0.15+quic 3 Sep 2024", &v));
	assert_string_equal(v.text, "3.0.15+quic");
	assert_true(text_version("OpenSSL 3.4.0-dev  xx XXX xxxx", &v));
	assert_int_equal(v.minor, 4);
	/* ends at the text's NUL in read-only data */
	assert_true(libfind_version_from_text("OpenSSL 3.3.1 4 Jun 2024\0next", 29, &v));
	assert_int_equal(v.minor, 3);
	/* other texts that begin so are not versions */
	assert_false(text_version("OpenSSL X25519 implementation", &v));
	assert_false(text_version("OpenSSL 3.0 or later is required", &v));
	assert_false(text_version("OpenSSL 3.0.13", &v));
	assert_false(text_version("OpenSSL 3.0.13 is what 2024 had", &v));
	assert_false(text_version("OpenSSL 3.0.13 30 Jan 20", &v)); /* cut */
	assert_false(text_version("OpenSSL 3.0.13 30 Jan 2024 and more", &v));
	assert_false(text_version("LibreSSL 3.8.2", &v));
}

static void test_version_symbol_versions(void **state)
{
	const char *v3[] = {"OPENSSL_3.0.0"}, *v11[] = {"OPENSSL_1_1_0", "OPENSSL_1_1_1"},
		   *v33[] = {"OPENSSL_3.3.0", "OPENSSL_3.0.0", "GLIBC_2.2.5", "OPENSSL_3.2.0"},
		   *letter[] = {"OPENSSL_1_1_1a", "OPENSSL_1_1_0"},
		   *none[] = {"GLIBC_2.34", "LIBSSL"};
	struct openssl_version v;

	(void)state;
	assert_true(libfind_version_from_symbol_versions(v3, 1, &v));
	assert_int_equal(v.major, 3);
	assert_int_equal(v.minor, 0);
	assert_true(v.or_later);
	assert_non_null(strstr(v.text, "OPENSSL_3.0.0"));
	assert_true(libfind_version_from_symbol_versions(v11, 2, &v));
	assert_int_equal(v.major, 1);
	assert_int_equal(v.minor, 1);
	assert_int_equal(v.patch, 1);
	/* the highest wins, whatever the order; other names are ignored */
	assert_true(libfind_version_from_symbol_versions(v33, 4, &v));
	assert_int_equal(v.minor, 3);
	assert_true(libfind_version_from_symbol_versions(letter, 2, &v));
	assert_int_equal(v.patch, 1);
	assert_false(libfind_version_from_symbol_versions(none, 2, &v));
	assert_false(libfind_version_from_symbol_versions(none, 0, &v));
}

static void scan(const char *buf, size_t len, struct openssl_inside *in)
{
	memset(in, 0, sizeof(*in));
	libfind_scan_buffer(buf, len, in);
}

static void test_scan_buffer(void **state)
{
	static const char lib[] = "xx\0../ssl/ssl_lib.c\0yy", boring[] = "ssl/ssl_lib.cc\0",
			  reason[] = "\0unsafe legacy renegotiation disabled\0",
			  param[] = "provider-name\0openssl-version\0\0\0003.0.19\0",
			  both[] = "openssl-version\0003.0.2\0OpenSSL X25519 implementation\0"
				   "OpenSSL 3.0.19 27 Jan 2026\0",
			  crypto[] = "OpenSSL 3.0.19 27 Jan 2026\0../crypto/mem.c\0";
	struct openssl_inside in;

	(void)state;
	scan(lib, sizeof(lib), &in);
	assert_true(in.libssl);
	assert_int_equal(in.version.major, 0);
	scan(boring, sizeof(boring), &in); /* BoringSSL's file: another library */
	assert_false(in.libssl);
	scan(reason, sizeof(reason), &in); /* a build without file names */
	assert_true(in.libssl);
	/* OpenSSL 3's providers' parameter, after padding */
	scan(param, sizeof(param), &in);
	assert_false(in.libssl);
	assert_false(in.version_text);
	assert_string_equal(in.version.text, "3.0.19");
	/* the full version text wins over the parameter */
	scan(both, sizeof(both), &in);
	assert_true(in.version_text);
	assert_string_equal(in.version.text, "3.0.19");
	/* libcrypto alone: a version, not TLS */
	scan(crypto, sizeof(crypto), &in);
	assert_false(in.libssl);
	assert_int_equal(in.version.patch, 19);
}

static void test_version_rule(void **state)
{
	static const struct {
		unsigned major, minor, patch;
		bool ok;
		const char *why;
	} cases[] = {
	    {1, 1, 1, true, ""},
	    {3, 0, 13, true, ""},
	    {3, 1, 4, true, ""},
	    {3, 2, 1, true, ""},
	    {3, 3, 1, false,
	     "OpenSSL 3.3.1: internal functions not used (ssl_write_internal's signature changed "
	     "in 3.3)"},
	    {3, 5, 0, false, "signature changed in 3.3"},
	    {4, 0, 0, false, "signature changed in 3.3"},
	    {1, 1, 0, false, "known in 1.1.1 and 3.0 to 3.2"},
	    {1, 0, 2, false, "known in 1.1.1 and 3.0 to 3.2"},
	    {0, 0, 0, false, "OpenSSL version unknown: internal functions not used"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct openssl_version v = {
		    .major = cases[i].major, .minor = cases[i].minor, .patch = cases[i].patch};
		char why[160] = "";

		snprintf(v.text, sizeof(v.text), "%u.%u.%u", v.major, v.minor, v.patch);
		assert_int_equal(probesite_version_ok(&v, why, sizeof(why)), cases[i].ok);
		if (cases[i].ok)
			assert_string_equal(why, "");
		else
			assert_non_null(strstr(why, cases[i].why));
	}
}

/* This machine's OpenSSL: its libssl says 3.0 by its symbol versions (Debian 12 ships 3.0) */
static void test_system_openssl(void **state)
{
	struct openssl_version v;
	struct probe_sites s;
	char why[256];

	(void)state;
	assert_int_equal(libfind_openssl_version(libssl, &v), 0);
	assert_int_equal(v.major, OPENSSL_VERSION_MAJOR);
	assert_true(v.or_later);
	/* libcrypto carries the version text but no TLS: an executable like it is no TLS user */
	assert_int_equal(libfind_check_executable(libcrypto, why, sizeof(why)), LIBFIND_NO_OPENSSL);
	assert_int_equal(libfind_check_executable("/bin/sh", why, sizeof(why)), LIBFIND_NO_OPENSSL);
	assert_int_equal(libfind_check_executable("/nonexistent/x", why, sizeof(why)), -ENOENT);
	assert_int_equal(libfind_openssl_version("/bin/sh", &v), 0);
	assert_int_equal(v.major, 0);
#if defined(__x86_64__)
	assert_int_equal(probesite_find(libssl, &s, why, sizeof(why)), 0);
	assert_true(s.read_internal && s.write_internal);
	assert_string_equal(s.why, "");
#endif
	(void)s;
}

/* Node.js from nodesource, where installed: OpenSSL inside, its symbols exported */
static void test_node(void **state)
{
	struct openssl_version v;
	char why[256];

	(void)state;
	if (access("/usr/bin/node", R_OK) != 0)
		skip();
	assert_int_equal(libfind_check_executable("/usr/bin/node", why, sizeof(why)),
			 LIBFIND_OPENSSL);
	/* the version text, exact: what node itself says */
	assert_int_equal(libfind_openssl_version("/usr/bin/node", &v), 0);
	assert_false(v.or_later);
	FILE *p = popen("/usr/bin/node -p process.versions.openssl", "r");
	char says[64] = "";
	assert_non_null(p);
	assert_non_null(fgets(says, sizeof(says), p));
	pclose(p);
	says[strcspn(says, "\n")] = '\0';
	assert_string_equal(v.text, says);
}

static void test_static_executables(void **state)
{
	struct openssl_version v;
	struct probe_sites s;
	char why[256];

	(void)state;
	/* linked in with its symbols (in .symtab: a static program has no .dynsym) */
	assert_int_equal(libfind_check_executable(static_tls, why, sizeof(why)), LIBFIND_OPENSSL);
	assert_int_equal(libfind_check_elf(static_tls, why, sizeof(why)), 0);
	/* the version of the headers it was built with, from its libcrypto */
	assert_int_equal(libfind_openssl_version(static_tls, &v), 0);
	assert_int_equal(v.major, OPENSSL_VERSION_MAJOR);
	assert_int_equal(v.minor, OPENSSL_VERSION_MINOR);
	assert_int_equal(v.patch, OPENSSL_VERSION_PATCH);
	assert_false(v.or_later);
#if defined(__x86_64__)
	assert_int_equal(probesite_find(static_tls, &s, why, sizeof(why)), 0);
	assert_true(s.read_internal && s.write_internal);
	assert_string_equal(s.why, "");
#endif
	/* stripped: not probed, but named with its version */
	assert_int_equal(libfind_check_elf(stripped_tls, why, sizeof(why)), -ENOENT);
	assert_int_equal(libfind_check_executable(stripped_tls, why, sizeof(why)),
			 LIBFIND_OPENSSL_STRIPPED);
	char want[128];
	snprintf(want, sizeof(want), "OpenSSL %d.%d.%d linked in without symbols (stripped)",
		 OPENSSL_VERSION_MAJOR, OPENSSL_VERSION_MINOR, OPENSSL_VERSION_PATCH);
	assert_string_equal(why, want);
	(void)s;
}

/* A copy of src with every occurrence of from (and its NUL) replaced by to, as long. */
static void patched_copy(const char *src, const char *dst, const char *from, const char *to)
{
	size_t n = strlen(from) + 1, len, hits = 0;
	FILE *f = fopen(src, "rb");
	char *buf;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = (size_t)ftell(f);
	rewind(f);
	buf = malloc(len);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, len, f), len);
	fclose(f);
	for (char *p = buf; (p = memmem(p, len - (size_t)(p - buf), from, n)); p += n, hits++)
		memcpy(p, to, n);
	assert_true(hits > 0);
	f = fopen(dst, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
	free(buf);
}

/* The same code under a 3.3 version: the layout alone would pass, the version must not */
static void test_newer_version_falls_back(void **state)
{
	char path[PATH_MAX], why[256], from[32], to[32];
	struct probe_sites s;

	(void)state;
#if !defined(__x86_64__)
	skip();
#endif
	snprintf(path, sizeof(path), "%s/libssl.so.3", dir);
	patched_copy(libssl, path, "OPENSSL_3.0.0", "OPENSSL_3.3.0");
	assert_int_equal(probesite_find(path, &s, why, sizeof(why)), 0);
	assert_int_equal(s.read_internal, 0);
	assert_int_equal(s.write_internal, 0);
	assert_string_equal(s.why, "OpenSSL 3.3.0 or later (symbol version OPENSSL_3.3.0): "
				   "internal functions not used (ssl_write_internal's signature "
				   "changed in 3.3)");
	/* an executable: its libcrypto's version */
	snprintf(path, sizeof(path), "%s/static_tls", dir);
	snprintf(from, sizeof(from), "%d.%d.%d", OPENSSL_VERSION_MAJOR, OPENSSL_VERSION_MINOR,
		 OPENSSL_VERSION_PATCH);
	snprintf(to, sizeof(to), "%s", from);
	to[2] = '4'; /* 3.0.19 -> 3.4.19 */
	patched_copy(static_tls, path, from, to);
	assert_int_equal(probesite_find(path, &s, why, sizeof(why)), 0);
	assert_int_equal(s.write_internal, 0);
	assert_non_null(strstr(s.why, "signature changed in 3.3"));
	/* no version to be found (its one trace renamed): not used either */
	snprintf(path, sizeof(path), "%s/static_tls_noversion", dir);
	patched_copy(static_tls, path, "openssl-version", "openssl-xersion");
	assert_int_equal(probesite_find(path, &s, why, sizeof(why)), 0);
	assert_int_equal(s.read_internal, 0);
	assert_string_equal(s.why, "OpenSSL version unknown: internal functions not used");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version_text),
	    cmocka_unit_test(test_version_symbol_versions),
	    cmocka_unit_test(test_scan_buffer),
	    cmocka_unit_test(test_version_rule),
	    cmocka_unit_test(test_system_openssl),
	    cmocka_unit_test(test_node),
	    cmocka_unit_test(test_static_executables),
	    cmocka_unit_test(test_newer_version_falls_back),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
