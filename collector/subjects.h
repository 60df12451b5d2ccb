/* The agents the collector has seen, by certificate subject: their counters (per-agent metric
 * series) and, with --vlan-per-agent, the VLAN id each keeps while the collector runs. */
#ifndef SSLC_COLLECTOR_SUBJECTS_H
#define SSLC_COLLECTOR_SUBJECTS_H

#include "collector_stats.h"

#include <stdbool.h>
#include <stddef.h>

#define SUBJECTS_MAX 65536 /* beyond this, new subjects share one "(other)" entry */

struct subjects {
	struct subject_stats **v;
	size_t n, cap;
	bool vlan_per_agent;
	int vlan_fixed; /* --vlan without --vlan-per-agent: every frame; 0: none */
	int vlan_next;	/* next id to give with --vlan-per-agent */
};

/* vlan: the --vlan option (-1: none). With per_agent, ids start there (or at 1). */
void subjects_init(struct subjects *t, bool per_agent, int vlan);
void subjects_free(struct subjects *t);
/* The entry of this subject, made on first sight. NULL with -ENOSPC when --vlan-per-agent has
 * no id left (4094 subjects), -ENOMEM when out of memory. */
struct subject_stats *subjects_get(struct subjects *t, const char *subject, int *err);

#endif
