/* Which TLS libraries to probe: every libssl mapped by a running process of our network
 * namespace (found in /proc), new ones as such processes map them (reported by the BPF side),
 * the --lib files, and other sslcollector instances to leave alone. A library only processes
 * of other network namespaces use is not probed: their connections are never mirrored (-I
 * names addresses of our namespace), and a probe would cost them a trap per call for nothing
 * (containers with their own copy of libssl, a load generator in a test namespace). */
#ifndef SSLC_DISCOVERY_H
#define SSLC_DISCOVERY_H

#include <stdint.h>
#include <sys/types.h>

#include "capture.h"
#include "sslcollector/config.h"

struct discovery;

/* netns: the inode of the network namespace we mirror; 0: every process counts. */
int discovery_new(struct capture *cap, uint32_t netns, struct discovery **out);
void discovery_free(struct discovery *d); /* accepts NULL */

/* Probes the --lib files. 0, or the exit status to stop with (the error is logged). */
int discovery_attach_extra_libs(struct discovery *d, const struct sslc_options *o);
/* Scans every process now. */
/* Libraries the kernel refused to probe (not permitted). */
size_t discovery_denied(const struct discovery *d);
void discovery_scan_all(struct discovery *d, uint64_t now_ns);
/* A process mapped a libssl not probed yet: look at it now and shortly after. */
void discovery_library_mapped(struct discovery *d, pid_t pid, uint64_t now_ns);
/* Due rescans, and a full scan every so often. */
void discovery_run(struct discovery *d, uint64_t now_ns);
/* Milliseconds until discovery_run() has work, or -1 (epoll_wait's timeout). */
int discovery_timeout_ms(const struct discovery *d, uint64_t now_ns);

#endif
