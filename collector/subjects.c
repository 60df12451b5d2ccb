/* Per-subject bookkeeping and VLAN ids (see subjects.h). */
#include "subjects.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void subjects_init(struct subjects *t, bool per_agent, int vlan)
{
	memset(t, 0, sizeof(*t));
	t->vlan_per_agent = per_agent;
	if (per_agent)
		t->vlan_next = vlan > 0 ? vlan : 1;
	else
		t->vlan_fixed = vlan > 0 ? vlan : 0;
}

void subjects_free(struct subjects *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i]);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

struct subject_stats *subjects_get(struct subjects *t, const char *subject, int *err)
{
	struct subject_stats *s;
	char esc[280];

	*err = 0;
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i]->subject, subject))
			return t->v[i];
	if (t->n >= SUBJECTS_MAX && !t->vlan_per_agent)
		return subjects_get(t, "(other)", err);
	if (t->vlan_per_agent && t->vlan_next > 4094) {
		*err = -ENOSPC;
		return NULL;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct subject_stats **v = realloc(t->v, cap * sizeof(*v));

		if (!v) {
			*err = -ENOMEM;
			return NULL;
		}
		t->v = v;
		t->cap = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	snprintf(s->subject, sizeof(s->subject), "%s", subject);
	metrics_escape(subject, esc, sizeof(esc));
	snprintf(s->label, sizeof(s->label), "agent=\"%s\"", esc);
	s->vlan = t->vlan_per_agent ? t->vlan_next++ : t->vlan_fixed;
	t->v[t->n++] = s;
	return s;
}
