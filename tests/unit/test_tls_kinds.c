/* The TLS libraries other than OpenSSL (issue 25): which library a file is by its functions,
 * and GnuTLS's receive probe site (agent/probesite.h), on hand-made code and on this
 * machine's libraries (scripts/install-deps.sh test installs GnuTLS and NSS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "libfind.h"
#include "probesite.h"
#include "sslcollector/event.h"

#define LIBDIR "/usr/lib/x86_64-linux-gnu/"

static void test_kinds(void **state)
{
	char why[256];

	(void)state;
	assert_int_equal(libfind_tls_kind(LIBDIR "libssl.so.3", why, sizeof(why)),
			 TLS_KIND_OPENSSL);
	assert_int_equal(libfind_tls_kind(LIBDIR "libgnutls.so.30", why, sizeof(why)),
			 TLS_KIND_GNUTLS);
	assert_int_equal(libfind_tls_kind(LIBDIR "libssl3.so", why, sizeof(why)), TLS_KIND_NSS);
	assert_int_equal(libfind_tls_kind(LIBDIR "libnspr4.so", why, sizeof(why)), TLS_KIND_NSPR);
	/* GnuTLS's OpenSSL compatibility layer exports SSL_read: not what we probe for GnuTLS,
	 * and never reached by discovery (its name is not a TLS library's) */
	assert_int_equal(libfind_tls_kind(LIBDIR "libcrypto.so.3", why, sizeof(why)), -ENOENT);
	assert_int_equal(libfind_tls_kind(LIBDIR "libnss3.so", why, sizeof(why)), -ENOENT);
	assert_int_equal(libfind_check_elf(LIBDIR "libgnutls.so.30", why, sizeof(why)), 0);
	assert_string_equal(libfind_kind_name(TLS_KIND_GNUTLS), "GnuTLS");
	assert_int_equal(libfind_kind_lib(TLS_KIND_NSPR), SSLC_LIB_NSS);
	assert_int_equal(libfind_kind_lib(TLS_KIND_NSS), SSLC_LIB_NSS);
	assert_int_equal(libfind_kind_lib(TLS_KIND_GNUTLS), SSLC_LIB_GNUTLS);
	assert_int_equal(libfind_kind_lib(TLS_KIND_OPENSSL), SSLC_LIB_OPENSSL);
}

/* gnutls_record_recv_seq and gnutls_record_recv of GnuTLS 3.7.9 (Debian 12), at their
 * addresses: both end in the internal function at 0x3e8b0. */
static const uint8_t recv_seq[] = {
    0x44, 0x8b, 0x8f, 0x70, 0x07, 0x00, 0x00, /* mov 0x770(%rdi),%r9d */
    0x49, 0x89, 0xc8,			      /* mov %rcx,%r8 */
    0x48, 0x89, 0xd1,			      /* mov %rdx,%rcx */
    0x48, 0x89, 0xf2,			      /* mov %rsi,%rdx */
    0xbe, 0x17, 0x00, 0x00, 0x00,	      /* mov $0x17,%esi */
    0xe9, 0xb6, 0xed, 0xff, 0xff,	      /* jmp 3e8b0 */
};
#define RECV_SEQ_AT 0x3fae0ULL
#define TARGET	    0x3e8b0ULL

static void test_gnutls_decoding(void **state)
{
	uint8_t jmp_at_0[] = {0xe9, 0, 0, 0, 0};
	uint8_t call[] = {0x90, 0xe8, 0, 0, 0, 0};
	int32_t rel;

	(void)state;
	assert_int_equal(probesite_gnutls_recv_target(recv_seq, sizeof(recv_seq), RECV_SEQ_AT),
			 (int64_t)TARGET);
	/* no type argument set before the jump: not the layout we know */
	assert_int_equal(probesite_gnutls_recv_target(recv_seq + 21, 5, RECV_SEQ_AT + 21), -1);
	/* the type set, no jump after it */
	assert_int_equal(probesite_gnutls_recv_target(recv_seq, 21, RECV_SEQ_AT), -1);
	/* another type (alerts: 0x15) */
	uint8_t other[sizeof(recv_seq)];
	memcpy(other, recv_seq, sizeof(other));
	other[17] = 0x15;
	assert_int_equal(probesite_gnutls_recv_target(other, sizeof(other), RECV_SEQ_AT), -1);
	/* branches: a jmp or a call to the target counts */
	rel = (int32_t)(TARGET - (0x1000 + 5));
	memcpy(jmp_at_0 + 1, &rel, 4);
	assert_true(probesite_branches_to(jmp_at_0, sizeof(jmp_at_0), 0x1000, TARGET));
	assert_false(probesite_branches_to(jmp_at_0, sizeof(jmp_at_0), 0x1000, TARGET + 1));
	rel = (int32_t)(TARGET - (0x2001 + 5));
	memcpy(call + 2, &rel, 4);
	assert_true(probesite_branches_to(call, sizeof(call), 0x2000, TARGET));
	assert_false(probesite_branches_to(call, 5, 0x2000, TARGET)); /* cut short */
}

static void test_gnutls_site(void **state)
{
	struct probe_sites s;
	char why[256];
	uint8_t code[2];
	int fd;

	(void)state;
	/* not GnuTLS: nothing found, no error */
	assert_int_equal(probesite_find_gnutls(LIBDIR "libssl.so.3", &s, why, sizeof(why)), 0);
	assert_int_equal(s.read_internal, 0);
	assert_int_equal(
	    probesite_find_gnutls("/nonexistent/libgnutls.so.30", &s, why, sizeof(why)), -ENOENT);
#if defined(__x86_64__)
	/* Debian 12's GnuTLS 3.7.9 (no kTLS): _gnutls_recv_int, which begins with push %r15 */
	assert_int_equal(probesite_find_gnutls(LIBDIR "libgnutls.so.30", &s, why, sizeof(why)), 0);
	assert_true(s.read_internal != 0);
	assert_int_equal(s.write_internal, 0);
	assert_string_equal(s.why, "");
	fd = open(LIBDIR "libgnutls.so.30", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, code, 2, (off_t)s.read_internal), 2);
	close(fd);
	assert_true(probesite_cheap_entry(code, 2) == 0);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kinds),
	    cmocka_unit_test(test_gnutls_decoding),
	    cmocka_unit_test(test_gnutls_site),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
