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
 * functions. */
#ifndef SSLC_PROBESITE_H
#define SSLC_PROBESITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct probe_sites {
	uint64_t read_internal;	 /* file offset of ssl_read_internal; 0: not found */
	uint64_t write_internal; /* file offset of ssl_write_internal; 0: not found */
};

/* Fills *out for the ELF file at path. Returns 0 (possibly with both offsets 0) or a negative
 * errno with the reason in why when the file cannot be read. */
int probesite_find(const char *path, struct probe_sites *out, char *why, size_t why_len);

/* The pieces, on code bytes at virtual address addr (exposed for the unit tests). */

/* The target of a forwarder that begins [endbr64] [sub $imm,%rsp] call rel32; -1 if the code
 * does not begin so. */
int64_t probesite_forward_target(const uint8_t *code, size_t len, uint64_t addr);
/* Whether some call rel32 in code targets target (a scan of every e8 byte). */
bool probesite_calls(const uint8_t *code, size_t len, uint64_t addr, uint64_t target);
/* Bytes to skip from a function's start to an entry the kernel emulates without leaving the
 * stack pointer changed (so a return probe still finds the return address): 0 for push, call,
 * jmp; 4 for endbr64 followed by one of those. -1 if neither. */
int probesite_cheap_entry(const uint8_t *code, size_t len);

#endif
