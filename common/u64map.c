/* Open addressing with linear probing and tombstones; grows at 50% load. */
#include "u64map.h"

#include <errno.h>
#include <stdlib.h>

static char tombstone;
#define TOMB ((void *)&tombstone)

static size_t slot_of(uint64_t key, size_t cap)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (size_t)key & (cap - 1);
}

int u64map_live(const struct u64map *m, size_t slot)
{
	return m->vals[slot] && m->vals[slot] != TOMB;
}

void *u64map_get(const struct u64map *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (!m->vals[i])
			return NULL;
		if (m->vals[i] != TOMB && m->keys[i] == key)
			return m->vals[i];
	}
}

static int grow(struct u64map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	struct u64map n = {.cap = cap};

	if ((m->len + 1) * 4 < m->cap) /* mostly tombstones: rehash at the same size */
		n.cap = cap = m->cap;
	n.keys = malloc(cap * sizeof(*n.keys));
	n.vals = calloc(cap, sizeof(*n.vals));
	if (!n.keys || !n.vals) {
		free(n.keys);
		free(n.vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!u64map_live(m, i))
			continue;
		size_t j = slot_of(m->keys[i], cap);
		while (n.vals[j])
			j = (j + 1) & (cap - 1);
		n.keys[j] = m->keys[i];
		n.vals[j] = m->vals[i];
		n.len++;
	}
	free(m->keys);
	free(m->vals);
	*m = n;
	return 0;
}

int u64map_put(struct u64map *m, uint64_t key, void *val)
{
	size_t tomb = SIZE_MAX;

	if ((m->len + m->tombs + 1) * 2 > m->cap && grow(m))
		return -ENOMEM;
	for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (!m->vals[i]) {
			if (tomb != SIZE_MAX) {
				i = tomb;
				m->tombs--;
			}
			m->keys[i] = key;
			m->vals[i] = val;
			m->len++;
			return 0;
		}
		if (m->vals[i] == TOMB) {
			if (tomb == SIZE_MAX)
				tomb = i;
		} else if (m->keys[i] == key) {
			m->vals[i] = val;
			return 0;
		}
	}
}

void *u64map_del(struct u64map *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (!m->vals[i])
			return NULL;
		if (m->vals[i] != TOMB && m->keys[i] == key) {
			void *v = m->vals[i];

			m->vals[i] = TOMB;
			m->len--;
			m->tombs++;
			return v;
		}
	}
}

void u64map_free(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	*m = (struct u64map){0};
}

void u64map_free_values(struct u64map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (u64map_live(m, i))
			free(m->vals[i]);
	u64map_free(m);
}
