/* The agent's own connections kept out of its mirror: see exclusions.h. */
#include "exclusions.h"
#include "log.h"
#include "print.h"
#include "state.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* One end of a TCP connection, as the capture's key (sslc_conn's encoding). */
static bool conn_key(const struct sockaddr_storage *l, const struct sockaddr_storage *r,
		     uint32_t netns, struct sslc_conn_key *k)
{
	memset(k, 0, sizeof(*k));
	k->netns = netns;
	if (l->ss_family == AF_INET && r->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)l, *b = (const void *)r;

		k->family = AF_INET;
		memcpy(k->local_addr, &a->sin_addr, 4);
		memcpy(k->remote_addr, &b->sin_addr, 4);
		k->local_port = ntohs(a->sin_port);
		k->remote_port = ntohs(b->sin_port);
		return true;
	}
	if (l->ss_family != AF_INET6 || r->ss_family != AF_INET6)
		return false;
	const struct sockaddr_in6 *a = (const void *)l, *b = (const void *)r;
	k->local_port = ntohs(a->sin6_port);
	k->remote_port = ntohs(b->sin6_port);
	if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && IN6_IS_ADDR_V4MAPPED(&b->sin6_addr)) {
		k->family = AF_INET;
		memcpy(k->local_addr, a->sin6_addr.s6_addr + 12, 4);
		memcpy(k->remote_addr, b->sin6_addr.s6_addr + 12, 4);
		return true;
	}
	k->family = AF_INET6;
	memcpy(k->local_addr, &a->sin6_addr, 16);
	memcpy(k->remote_addr, &b->sin6_addr, 16);
	return true;
}

/* The tunnel's connection (mirror_hooks.own_socket, on the tunnel's thread): never mirrored,
 * from our end (the agent's own process is not probed anyway) nor from the other when it is on
 * this host (a collector, a relay): otherwise each byte sent would be captured again. */
static int own_socket(void *ctx, int fd, bool up)
{
	struct exclusions *a = ctx;
	struct sockaddr_storage l = {0}, r = {0};
	socklen_t ll = sizeof(l), rl = sizeof(r);
	struct sslc_conn_key ours, theirs;
	char local[64], remote[64];
	int ret;

	if (getsockname(fd, (struct sockaddr *)&l, &ll) < 0 ||
	    getpeername(fd, (struct sockaddr *)&r, &rl) < 0)
		return -errno;
	if (!conn_key(&l, &r, a->netns, &ours) || !conn_key(&r, &l, a->netns, &theirs))
		return -EAFNOSUPPORT;
	if ((ret = capture_exclude_conn(a->cap, &ours, up)) < 0 && up)
		return ret;
	if ((ret = capture_exclude_conn(a->cap, &theirs, up)) < 0 && up) {
		capture_exclude_conn(a->cap, &ours, false);
		return ret;
	}
	format_endpoint(ours.family, ours.local_addr, ours.local_port, local, sizeof(local));
	format_endpoint(ours.family, ours.remote_addr, ours.remote_port, remote, sizeof(remote));
	log_debug("tunnel connection %s -> %s %s the mirror (both ends)", local, remote,
		  up ? "excluded from" : "no longer excluded from");
	pthread_mutex_lock(&a->lock);
	if (up)
		snprintf(a->tunnel, sizeof(a->tunnel),
			 "tunnel  %s -> %s: this agent's tunnel, both ends\n", local, remote);
	else
		a->tunnel[0] = '\0';
	a->changed = true;
	pthread_mutex_unlock(&a->lock);
	return 0;
}

/* mirror_hooks.cut: a connection carries our own output back; stop copying it. */
static int cut_conn(void *ctx, uint64_t conn_id, bool on)
{
	struct exclusions *a = ctx;

	return capture_cut_conn(a->cap, conn_id, on);
}

/* For --list: what this agent keeps out of its mirror, when that changed. */
void exclusions_publish(struct exclusions *a, const struct mirror *m)
{
	char text[4096];
	size_t used;
	uint64_t gen = mirror_cut_generation(m);
	int ret;

	if (!a->ready)
		return;
	pthread_mutex_lock(&a->lock);
	if (!a->changed && gen == a->cut_gen) {
		pthread_mutex_unlock(&a->lock);
		return;
	}
	a->changed = false;
	a->cut_gen = gen;
	used = (size_t)snprintf(text, sizeof(text), "%s", a->tunnel);
	pthread_mutex_unlock(&a->lock);
	if (used < sizeof(text))
		mirror_cut_list(m, text + used, sizeof(text) - used);
	if ((ret = state_publish(SSLC_STATE_DIR, text)) < 0)
		log_debug("cannot publish the exclusions in %s: %s", SSLC_STATE_DIR,
			  strerror(-ret));
}

void exclusions_init(struct exclusions *ex, struct capture *cap, uint32_t netns,
		     struct mirror_hooks *hooks)
{
	memset(ex, 0, sizeof(*ex));
	ex->cap = cap;
	ex->netns = netns;
	pthread_mutex_init(&ex->lock, NULL);
	ex->ready = true;
	*hooks = (struct mirror_hooks){.own_socket = own_socket, .cut = cut_conn, .ctx = ex};
}

void exclusions_end(struct exclusions *ex)
{
	if (!ex->ready)
		return;
	if (ex->cut_gen || ex->tunnel[0] || ex->changed)
		state_publish(SSLC_STATE_DIR, NULL);
	pthread_mutex_destroy(&ex->lock);
	ex->ready = false;
}
