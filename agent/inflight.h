/* SSL calls in progress when the probes are attached. A thread blocked in SSL_read (in the
 * read() of OpenSSL's socket BIO: an idle keep-alive connection of a blocking server) when a
 * library's probes are attached returns through no return probe, and what that call reads
 * would be missing from the mirror without a trace. The agent finds the threads blocked in a
 * socket read or write (from /proc/PID/task/TID/syscall) before and after attaching, hands
 * them to the BPF side (bpf/capture_inflight.h), which follows the TLS records they move until
 * their next SSL call and reports them as a gap of that connection, before that call's data.
 * This file: the scans, the pruning, and one log line per process whose call was reported. */
#ifndef SSLC_INFLIGHT_H
#define SSLC_INFLIGHT_H

#include "capture.h"

#include <stdbool.h>
#include <stdint.h>

struct inflight;

/* follow: the socket hooks are in use (with the syscall hook the records cannot be followed:
 * the threads found are only counted and reported). */
int inflight_new(struct capture *cap, const char *proc_root, bool follow, struct inflight **out);
void inflight_free(struct inflight *in); /* accepts NULL */
/* Before the first probes are attached: watches every thread blocked in a socket operation. */
void inflight_before_attach(struct inflight *in);
/* After probes were attached: advances the probe epoch, watches the threads blocked now, keeps
 * only the watches of processes that map a probed file, logs what it found. */
void inflight_after_attach(struct inflight *in);
/* Housekeeping (every tick): forgets threads that ended; stops the lookups when none is left. */
void inflight_tick(struct inflight *in, uint64_t now_ns);
/* A GAP event with SSLC_F_GAP_INFLIGHT: the first of each process is logged. */
void inflight_gap_seen(struct inflight *in, const struct sslc_event *e);

#endif
