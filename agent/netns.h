/* The network namespaces the agent mirrors (--netns all, --netns PATH, --cgroup PATH, or by
 * default its own) and what it knows of each one seen: its 802.1Q VLAN id, which keeps apart the
 * connections of containers that use the same addresses, and the cgroup and container of the
 * processes behind its connections. Namespaces that no process holds any more are forgotten and
 * their VLAN id freed. A namespace is known by its cookie where the kernel has one (its inode
 * number is given to the next namespace made at once, the cookie never), else by its inode. */
#ifndef SSLC_NETNS_H
#define SSLC_NETNS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "capture.h"
#include "labels.h"
#include "metrics.h"
#include "sslcollector/config.h"
#include "sslcollector/event.h"

struct netns;

/* own: the agent's own namespace inode. err: why not (a --netns path that cannot be read). */
int netns_new(const struct sslc_options *o, uint32_t own, struct netns **out, char *err,
	      size_t err_len);
void netns_free(struct netns *n); /* accepts NULL */
/* How the capture filters namespaces (capture_config's netns and netns_set). */
void netns_capture_config(const struct netns *n, struct capture_config *cfg);
/* Pushes the chosen set (--netns PATH, --cgroup) into the capture; then netns_run keeps it
 * current. */
int netns_start(struct netns *n, struct capture *cap);
/* Whether the processes of namespace inum are mirrored (for discovery and --list). */
bool netns_wanted(const struct netns *n, uint32_t inum);
/* The labels of an event's connection; the namespace and the cgroup are registered (and
 * logged) when first seen. Valid until the next netns_run. */
void netns_labels(struct netns *n, const struct sslc_event *e, struct ns_labels *out);
/* The VLAN id of a connection's namespace (0: untagged), as netns_labels gave it. */
uint16_t netns_vlan(const struct netns *n, const struct sslc_conn *c);
/* Periodic work: --cgroup's set re-read every 2 s, namespaces and cgroups gone forgotten
 * (every 5 s). now: CLOCK_MONOTONIC ns. */
void netns_run(struct netns *n, uint64_t now);
void netns_metrics(const struct netns *n, struct metrics_buf *mb);

#endif
