/* Where to put the read/write probes of one OpenSSL file so that they cost little.
 *
 * A uprobe replaces an instruction with a breakpoint. When the kernel can emulate the
 * instruction it replaced (push, call, jmp, jcc, nop on x86-64), a hit is one trap; otherwise
 * the kernel single-steps a copy of it, a second trap that costs ten times more on virtual
 * machines (measured by bench/uprobe_floor.py: about 22 us against 1-2 us per hit). OpenSSL
 * 1.1.1 and 3.x's SSL_read, SSL_read_ex, SSL_write and SSL_write_ex all begin with
 * `sub $N,%rsp` and forward to one internal function per direction,
 *
 *   int ssl_read_internal(SSL *s, void *buf, size_t num, size_t *readbytes);
 *   int ssl_write_internal(SSL *s, const void *buf, size_t num, size_t *written);
 *
 * which begin with `push`. Probing those (with the _ex programs: success is a return > 0,
 * the byte count is in the fourth argument) captures all four functions at the cost of one
 * cheap trap per call and no nesting. They are not exported: each is found as the target of
 * the call that SSL_read_ex (SSL_write_ex) begins with, and accepted only when SSL_read
 * (SSL_write) calls the same address and its first instruction is one the kernel emulates.
 * Anything else (another layout, another architecture) keeps the probes on the exported
 * functions.
 *
 * The BPF programs read those two signatures, which only the OpenSSL releases that have them
 * can confirm: 1.1.1, 3.0, 3.1 and 3.2 (ssl/ssl_lib.c). 3.3 added SSL_write_ex2 and a flags
 * argument before `written` (ssl_write_internal(s, buf, num, flags, written)), so the internal
 * functions are used only when the file's version is known to be one of those; else the
 * probes stay on the exported functions (why says so). A libssl tells its version by the
 * symbol versions it defines (every release that added a function added OPENSSL_X.Y.0: 3.3
 * added SSL_write_ex2, so a libssl without OPENSSL_3.3.0 predates it; 3.1 added none, so 3.0
 * and 3.1 both show OPENSSL_3.0.0), an executable with OpenSSL linked in by the version text
 * of its libcrypto (libfind_openssl_version). */
#ifndef SSLC_PROBESITE_H
#define SSLC_PROBESITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libfind.h"

struct probe_sites {
	uint64_t read_internal;	 /* file offset of ssl_read_internal; 0: not found */
	uint64_t write_internal; /* file offset of ssl_write_internal; 0: not found */
	/* Why the internal functions are not used although found ("OpenSSL 3.3.1: internal
	 * functions not used (ssl_write_internal's signature changed in 3.3)"), for the log;
	 * "" otherwise. */
	char why[160];
	struct openssl_version version; /* looked up only when the internal functions are found */
};

/* Fills *out for the ELF file at path. Returns 0 (possibly with both offsets 0) or a negative
 * errno with the reason in why when the file cannot be read. */
int probesite_find(const char *path, struct probe_sites *out, char *why, size_t why_len);

/* GnuTLS: gnutls_record_recv and gnutls_record_recv_seq begin with instructions the kernel
 * single-steps (`sub $8,%rsp`, `mov`), and both end in one internal function,
 *
 *   ssize_t _gnutls_recv_int(gnutls_session_t, content_type_t type, uint8_t *data,
 *                            size_t size, void *seq, unsigned ms);
 *
 * which begins with `push` and which the BPF side probes instead, keeping only calls of type
 * 23 (application data). It is found as the target of the jump that gnutls_record_recv_seq
 * makes right after setting the type argument (`mov $0x17,%esi`), and accepted only when
 * gnutls_record_recv jumps to or calls the same address, the target begins with an emulated
 * instruction, and the library has no kTLS (its gnutls_transport_is_ktls_enabled is
 * `xor %eax,%eax; ret`, or absent): with kTLS, gnutls_record_recv may take another way.
 * read_internal is set so; write_internal stays 0 (gnutls_record_send2 begins with a push). */
int probesite_find_gnutls(const char *path, struct probe_sites *out, char *why, size_t why_len);

/* The file offsets of the function symbols names[0..n) (0: not defined), read in one pass:
 * attaching by offset spares libbpf a walk of the symbol tables per probe, which takes
 * 60 ms for the 20 probes of a 100 MB executable (Node.js). 0 or a negative errno. */
int probesite_symbols(const char *path, const char *const *names, size_t n, uint64_t *offsets);

/* Whether the internal functions' signatures are known for this version (1.1.1, 3.0 to
 * 3.2); if not, why (for probe_sites.why). */
bool probesite_version_ok(const struct openssl_version *v, char *why, size_t why_len);

/* The pieces, on code bytes at virtual address addr (exposed for the unit tests). */

/* The target of a forwarder that begins [endbr64] [sub $imm,%rsp] call rel32; -1 if the code
 * does not begin so. */
int64_t probesite_forward_target(const uint8_t *code, size_t len, uint64_t addr);
/* Whether some call rel32 in code targets target (a scan of every e8 byte). */
bool probesite_calls(const uint8_t *code, size_t len, uint64_t addr, uint64_t target);
/* The target of the first jmp rel32 after `mov $0x17,%esi` in code; -1 if none. */
int64_t probesite_gnutls_recv_target(const uint8_t *code, size_t len, uint64_t addr);
/* Whether some call or jmp rel32 in code targets target. */
bool probesite_branches_to(const uint8_t *code, size_t len, uint64_t addr, uint64_t target);
/* Bytes to skip from a function's start to an entry the kernel emulates without leaving the
 * stack pointer changed (so a return probe still finds the return address): 0 for push, call,
 * jmp; 4 for endbr64 followed by one of those. -1 if neither. */
int probesite_cheap_entry(const uint8_t *code, size_t len);

#endif
