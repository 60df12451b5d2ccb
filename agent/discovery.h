/* Which TLS libraries to probe: every libssl mapped by a running process of our network
 * namespace (found in /proc), and every such process's executable that has OpenSSL linked in
 * with its symbols (statically linked programs: the upstream Node.js, vendor daemons); new
 * ones as such processes map or exec() them (reported by the BPF side); the --lib files.
 * Each file (device and inode) is examined once whatever the outcome, so that the periodic
 * rescan costs a hash lookup per process and file. A file only processes of other network
 * namespaces use is not probed: their connections are never mirrored (-I names addresses of
 * our namespace), and a probe would cost them a trap per call for nothing (containers with
 * their own copy of libssl, a load generator in a test namespace). */
#ifndef SSLC_DISCOVERY_H
#define SSLC_DISCOVERY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "capture.h"
#include "sslcollector/config.h"

struct discovery;

/* ns: the network namespaces mirrored (netns.h); NULL: every process counts. */
struct netns;
int discovery_new(struct capture *cap, const struct netns *ns, struct discovery **out);
void discovery_free(struct discovery *d); /* accepts NULL */

/* Probes the --lib files. 0, or the exit status to stop with (the error is logged). */
int discovery_attach_extra_libs(struct discovery *d, const struct sslc_options *o);
/* Probes the system's GnuTLS, NSS and NSPR (libgnutls.so.30, libssl3.so, libnspr4.so next
 * to the C library the agent runs with) from the start, whoever maps them, as the agent's own
 * mapping does for the system libssl: short-lived programs (wget, git, tstclnt) are then
 * mirrored from their first call instead of racing the agent's look at their new mapping.
 * They are never forgotten. Files that are absent or cannot be probed are logged and left. */
void discovery_attach_system_libs(struct discovery *d);
/* Libraries the kernel refused to probe (not permitted). */
size_t discovery_denied(const struct discovery *d);
/* Scans every process now. */
void discovery_scan_all(struct discovery *d, uint64_t now_ns);
/* A process mapped a libssl not probed yet, or (exec) exec()ed a program not examined yet:
 * look at its libraries and executable now and shortly after. */
void discovery_library_mapped(struct discovery *d, pid_t pid, bool exec, uint64_t now_ns);
/* Due rescans, and a full scan every so often. */
void discovery_run(struct discovery *d, uint64_t now_ns);
/* Milliseconds until discovery_run() has work, or -1 (epoll_wait's timeout). */
int discovery_timeout_ms(const struct discovery *d, uint64_t now_ns);

/* Probed files whose probes were removed since no process mapped them any more. */
size_t discovery_detached(const struct discovery *d);

#endif
