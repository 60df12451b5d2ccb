/* Where a mirrored connection runs, as --print, --dump-dir and the mirror name it (filled by
 * netns.c). */
#ifndef SSLC_LABELS_H
#define SSLC_LABELS_H

#include <stdbool.h>
#include <stdint.h>

struct ns_labels {
	uint32_t netns;	       /* network namespace inode */
	uint16_t vlan;	       /* 0: untagged (the agent's own namespace: --vlan, if given) */
	bool own;	       /* the agent's own namespace */
	const char *cgroup;    /* cgroup v2 path, "" when unknown */
	const char *container; /* "docker:0123456789ab", "systemd:nginx.service", "" */
};

#endif
