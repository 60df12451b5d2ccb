/* The probes of each TLS library: which BPF program goes on which function of a library file
 * (OpenSSL's libssl or an executable with it linked in, GnuTLS, NSS's libssl3 and NSPR), and
 * when. capture.c attaches them; probesite.h finds the internal functions. */
#ifndef SSLC_PROBETABLE_H
#define SSLC_PROBETABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "libfind.h"

/* When a probe is placed; see probesite.h for the internal functions. */
enum probe_when {
	ALWAYS,
	NO_READ_INTERNAL,  /* only when the internal read function was not found */
	NO_WRITE_INTERNAL, /* only when the internal write function was not found */
	READ_INTERNAL,	   /* at the internal read function, when found */
	WRITE_INTERNAL,	   /* at the internal write function, when found */
	NO_DO_HANDSHAKE,   /* only when SSL_do_handshake could not be probed */
};

/* One probe: a program on a symbol; required probes decide whether a file is that library. */
struct probe_def {
	const char *symbol; /* for the internal functions: a name for messages only */
	bool retprobe;
	bool required;
	enum probe_when when;
	size_t prog_offset; /* offset of the bpf_program pointer in struct capture_bpf */
};

/* The most probes one file gets (the links a probed file holds). */
#define PROBES_MAX 20

/* The probes of a library kind (enum tls_kind); *n: how many. NULL for TLS_KIND_NONE. */
const struct probe_def *probetable_for(int kind, size_t *n);
/* Every probe program (each once), for the skeleton's autoattach; *n: how many. */
const size_t *probetable_programs(size_t *n);

#endif
