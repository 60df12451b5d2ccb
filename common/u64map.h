/* A small open-addressing hash map from 64-bit keys (connection ids) to pointers. */
#ifndef SSLC_U64MAP_H
#define SSLC_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct u64map {
	uint64_t *keys;
	void **vals; /* NULL: empty slot */
	size_t cap;  /* power of two */
	size_t len;
	size_t tombs;
};

void *u64map_get(const struct u64map *m, uint64_t key);
/* Inserts or replaces; val must not be NULL. 0 or -ENOMEM. */
int u64map_put(struct u64map *m, uint64_t key, void *val);
/* Removes and returns the value, or NULL. */
void *u64map_del(struct u64map *m, uint64_t key);
/* Iteration: for (size_t i = 0; i < m->cap; i++) if (u64map_live(m, i)) ... m->vals[i] */
int u64map_live(const struct u64map *m, size_t slot);
void u64map_free(struct u64map *m);
/* u64map_free, after free() of every value (values malloc()ed one by one). */
void u64map_free_values(struct u64map *m);

#endif
