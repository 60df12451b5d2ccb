/* The other ends of local connections that ended (localpair.h). */
#include "localpair.h"
#include "fnv1a.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct localpair_ended {
	uint64_t key;	   /* in lp->ended, 0 once matched */
	uint64_t until_ns; /* wall clock: forgotten after this */
	bool was_client;   /* the role of the end that was mirrored */
};

uint64_t localpair_key(const struct sslc_conn *c)
{
	size_t alen = c->family == AF_INET ? 4 : 16;
	const uint8_t *a = c->local_addr, *b = c->remote_addr;
	uint16_t pa = c->local_port, pb = c->remote_port;
	int cmp = memcmp(a, b, alen);
	uint64_t h = FNV1A_OFFSET;

	if (cmp > 0 || (cmp == 0 && pa > pb)) {
		const uint8_t *t = a;
		uint16_t tp = pa;

		a = b;
		b = t;
		pa = pb;
		pb = tp;
	}
	h = fnv1a(h, &c->netns, sizeof(c->netns));
	h = fnv1a(h, &c->family, 1);
	h = fnv1a(h, a, alen);
	h = fnv1a(h, &pa, 2);
	h = fnv1a(h, b, alen);
	h = fnv1a(h, &pb, 2);
	return h ? h : 1;
}

void localpair_expire(struct localpair *lp, uint64_t wall)
{
	while (lp->head < lp->len) {
		struct localpair_ended *x = lp->queue[lp->head];

		if (wall < x->until_ns)
			break;
		if (x->key && u64map_get(&lp->ended, x->key) == x)
			u64map_del(&lp->ended, x->key);
		free(x);
		lp->head++;
	}
	if (lp->head == lp->len)
		lp->head = lp->len = 0;
}

void localpair_ended(struct localpair *lp, uint64_t key, bool was_client, uint64_t wall)
{
	struct localpair_ended *x;

	localpair_expire(lp, wall);
	if (lp->len == lp->cap) {
		if (lp->head) { /* room at the front */
			memmove(lp->queue, lp->queue + lp->head,
				(lp->len - lp->head) * sizeof(*lp->queue));
			lp->len -= lp->head;
			lp->head = 0;
		} else {
			size_t cap = lp->cap ? lp->cap * 2 : 64;
			struct localpair_ended **q = realloc(lp->queue, cap * sizeof(*q));

			if (!q)
				return;
			lp->queue = q;
			lp->cap = cap;
		}
	}
	x = malloc(sizeof(*x));
	if (!x)
		return;
	x->key = key;
	x->until_ns = wall + LOCALPAIR_ENDED_NS;
	x->was_client = was_client;
	if (u64map_put(&lp->ended, x->key, x)) {
		free(x);
		return;
	}
	lp->queue[lp->len++] = x;
}

bool localpair_other_end(struct localpair *lp, uint64_t key, bool local_is_client, uint64_t wall)
{
	struct localpair_ended *x = u64map_get(&lp->ended, key);

	if (!x || wall >= x->until_ns || x->was_client == local_is_client)
		return false;
	u64map_del(&lp->ended, key);
	x->key = 0; /* freed when it expires from the queue */
	return true;
}

void localpair_free(struct localpair *lp)
{
	localpair_expire(lp, UINT64_MAX);
	free(lp->queue);
	u64map_free(&lp->ended);
	memset(lp, 0, sizeof(*lp));
}
