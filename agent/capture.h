/* The BPF side of the agent: loads bpf/capture.bpf.c, attaches its probes to TLS libraries and
 * delivers the ring buffer's records (include/sslcollector/event.h) to a callback. */
#ifndef SSLC_CAPTURE_H
#define SSLC_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sslcollector/event.h"

struct capture;

struct capture_config {
	uint32_t netns;	 /* network namespace inode to mirror (0: every namespace) */
	bool netns_set;	 /* instead: those set by capture_set_netns */
	bool any_addr;	 /* every local address; else only those set by capture_set_addrs */
	const int *pids; /* only these processes (-p), n_pids == 0: all */
	size_t n_pids;
	uint64_t max_call;   /* bytes captured per SSL call */
	uint64_t ring_bytes; /* ring buffer size, a power of two */
	bool syscall_hook;   /* name sockets with the syscall hook even if the socket hooks work */
};

/* Called for every record, in ring buffer order. size: the record's size in the ring. A
 * negative return stops the current capture_consume() and is returned by it. */
typedef int (*capture_event_fn)(void *ctx, const struct sslc_event *e, size_t size);

/* Loads and verifies the BPF programs and attaches the tracepoints (no library yet).
 * On failure err says what to do (root, BTF, ...). */
/* The BPF side wakes the agent when the data waiting crosses this much (or a quarter of the
 * ring if less), and at every record while half the ring waits; the agent must consume the
 * ring every CAPTURE_POLL_MS milliseconds anyway. */
#define CAPTURE_WAKE_MAX_BYTES (256u << 10)
#define CAPTURE_POLL_MS	       5

int capture_open(const struct capture_config *cfg, capture_event_fn fn, void *ctx,
		 struct capture **out, char *err, size_t err_len);
void capture_close(struct capture *c); /* accepts NULL */
/* The socket an SSL call goes through is named by the socket hooks (tracepoints on sends and
 * receives, and on the lock mmap() takes, for new libraries), or, on kernels without them or
 * when asked, by the syscall hook: one program run by every system call on the machine.
 * true for the latter; why: the reason when not asked for, else "". */
bool capture_syscall_hook(const struct capture *c, const char **why);

/* Probes SSL_read/SSL_write(_ex), SSL_shutdown and SSL_free in an ELF file (a libssl or a
 * static executable). Files already probed (same device and inode) are skipped (returns 1).
 * -ENOENT: the file does not have SSL_read and SSL_write (not OpenSSL). why: a reason. */
int capture_attach_file(struct capture *c, const char *path, dev_t dev, ino_t ino, char *why,
			size_t why_len);
bool capture_file_attached(const struct capture *c, dev_t dev, ino_t ino);
/* Records that (dev, ino) names the probed file (dev0, ino0) too (another mount of it), so
 * that it is not probed twice. */
int capture_alias_file(struct capture *c, dev_t dev0, ino_t ino0, dev_t dev, ino_t ino);
/* Tells the BPF side a libssl file is known (probed or rejected), so mapping it again is not
 * reported as a SSLC_EVENT_LIBRARY. */
void capture_note_library(struct capture *c, dev_t dev, ino_t ino);
size_t capture_files_attached(const struct capture *c);
/* Removes the probes of the probed file (dev, ino) and its other names (capture_alias_file),
 * and tells the BPF side it is not known any more (its next mapping is reported). -ENOENT when
 * not probed. */
int capture_detach_file(struct capture *c, dev_t dev, ino_t ino);
/* The i-th name of a probed file: (dev, ino), and the probed file it names (of_dev, of_ino:
 * itself, or the file an alias stands for). -ENOENT past the last. The order changes with
 * capture_detach_file. */
int capture_file_at(const struct capture *c, size_t i, dev_t *dev, ino_t *ino, dev_t *of_dev,
		    ino_t *of_ino);
/* The BPF side forgets that a libssl file is known (capture_note_library undone). */
void capture_forget_library(struct capture *c, dev_t dev, ino_t ino);

/* Replaces the set of local addresses mirrored when any_addr is false. */
int capture_set_addrs(struct capture *c, const struct sslc_addr_key *addrs, size_t n);
/* Replaces the set of network namespaces mirrored when netns_set is true. */
int capture_set_netns(struct capture *c, const uint32_t *inums, size_t n);
/* The agent's own connections are never mirrored (on: add, else remove). k is one end as
 * that end sees it; a session bound to it from then on is counted, not copied. Safe to call
 * from another thread (the tunnel's): it touches only the map. */
int capture_exclude_conn(struct capture *c, const struct sslc_conn_key *k, bool on);
/* Stops (on) copying the calls of a mirrored connection, e.g. one that carries the agent's own
 * output back to it; its end is still reported. Remove the entry (on false) at that end. */
int capture_cut_conn(struct capture *c, uint64_t conn_id, bool on);

/* SSL calls in progress when probes are attached (bpf/capture_inflight.h): the agent watches
 * the threads then blocked in a socket read or write (agent/inflight.c). watch: 1 if the
 * thread is watched already. The probe epoch counts attaches: the agent records it in a watch
 * made before an attach and advances it after. enable: the socket hooks look the watches up. */
int capture_inflight_watch(struct capture *c, uint32_t tid, const struct sslc_inflight *w);
uint32_t capture_probe_epoch(const struct capture *c);
void capture_probe_epoch_advance(struct capture *c);
void capture_inflight_enable(struct capture *c, bool on);
/* Calls drop for every watch; those it returns true for are removed. Returns how many stay. */
typedef bool (*capture_inflight_fn)(void *ctx, uint32_t tid, const struct sslc_inflight *w);
int capture_inflight_sweep(struct capture *c, capture_inflight_fn drop, void *ctx);

/* The ring buffer's epoll-able fd, readable when records are waiting. */
int capture_fd(const struct capture *c);
/* A record's bytes stay where they are after its callback returns, until the capture calls
 * sync: then whatever still refers to them (the -o batch) must be done with them, because
 * their space goes back to the BPF side. Called every CAPTURE_HOLD_BYTES of records (a quarter
 * of the ring if less) and at
 * the end of every capture_consume() and capture_drain_orphans() that delivered any. */
typedef void (*capture_sync_fn)(void *ctx);
#define CAPTURE_HOLD_BYTES (1u << 20)
void capture_set_sync(struct capture *c, capture_sync_fn fn, void *ctx);
/* Delivers every waiting record. Returns the number delivered or a negative errno. */
int capture_consume(struct capture *c);
/* Delivers CLOSE records that were parked because the ring buffer was full. */
int capture_drain_orphans(struct capture *c);
/* Sums the per-CPU counters (enum sslc_counter). */
int capture_counters(const struct capture *c, uint64_t out[SSLC_CNT__MAX]);
/* Calls fn for each process the capture keeps figures of (struct sslc_proc_stat); those of
 * processes that are gone are forgotten. */
typedef void (*capture_proc_fn)(void *ctx, uint32_t pid, const struct sslc_proc_stat *st);
void capture_proc_stats(struct capture *c, capture_proc_fn fn, void *ctx);

#endif
