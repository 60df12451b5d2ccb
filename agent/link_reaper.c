/* BPF links destroyed by a thread of their own (link_reaper.h). */
#include "link_reaper.h"

#include <bpf/libbpf.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

/* Several at once: their waits for the kernel overlap (one grace period serves them all),
 * so that a hundred containers' libraries are let go in seconds, not a minute. */
#define REAPER_THREADS 8

struct link_reaper {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t threads[REAPER_THREADS];
	size_t started;
	bool stop;
	struct bpf_link **q;
	size_t len, cap, busy; /* busy: taken by the thread, being destroyed */
};

struct link_reaper *link_reaper_new(void)
{
	struct link_reaper *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	return r;
}

static void *reap(void *arg)
{
	struct link_reaper *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->len && !r->stop)
			pthread_cond_wait(&r->wake, &r->lock);
		if (!r->len)
			break; /* stop, and nothing left */
		struct bpf_link *l = r->q[--r->len];

		r->busy++;
		pthread_mutex_unlock(&r->lock);
		bpf_link__destroy(l);
		pthread_mutex_lock(&r->lock);
		r->busy--;
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

void link_reaper_add(struct link_reaper *r, struct bpf_link *link)
{
	if (!link)
		return;
	if (!r) {
		bpf_link__destroy(link);
		return;
	}
	pthread_mutex_lock(&r->lock);
	while (!r->stop && r->started < REAPER_THREADS &&
	       pthread_create(&r->threads[r->started], NULL, reap, r) == 0)
		r->started++;
	if (r->started && r->len == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct bpf_link **q = realloc(r->q, cap * sizeof(*q));

		if (q) {
			r->q = q;
			r->cap = cap;
		}
	}
	if (!r->started || r->len == r->cap) {
		pthread_mutex_unlock(&r->lock);
		bpf_link__destroy(link); /* no thread, or no room: the slow way */
		return;
	}
	r->q[r->len++] = link;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
}

size_t link_reaper_pending(struct link_reaper *r)
{
	size_t n;

	if (!r)
		return 0;
	pthread_mutex_lock(&r->lock);
	n = r->len + r->busy;
	pthread_mutex_unlock(&r->lock);
	return n;
}

void link_reaper_free(struct link_reaper *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_broadcast(&r->wake);
	pthread_mutex_unlock(&r->lock);
	for (size_t i = 0; i < r->started; i++)
		pthread_join(r->threads[i], NULL);
	for (size_t i = 0; i < r->len; i++) /* never started */
		bpf_link__destroy(r->q[i]);
	free(r->q);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
