/* What a peer may hold before it is authenticated, so that no host without a certificate can
 * lock agents out: a bounded number of handshakes in progress (the oldest closed for a new
 * one), a bound per source address (IPv6: per /64, what one host usually has), a short
 * deadline while half the slots are in use, descriptors for every slot, and a pause instead
 * of a spin when descriptors run out anyway. */
#include "collector_impl.h"
#include "log.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>

/* IPv4: the address; IPv6: the /64 (one host's usual share). Two sources may share a key
 * (a /64 whose last 16 bits are ones and an IPv4 address): they then share a count. */
uint64_t source_key(const struct sockaddr_storage *ss)
{
	const uint64_t v4 = 0xffffULL << 48;
	uint64_t key = 0;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		uint32_t addr;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) { /* the same as over an IPv4 socket */
			memcpy(&addr, s6->sin6_addr.s6_addr + 12, 4);
			return v4 | addr;
		}
		memcpy(&key, s6->sin6_addr.s6_addr, 8);
		return key;
	}
	if (ss->ss_family == AF_INET)
		return v4 | ((const struct sockaddr_in *)ss)->sin_addr.s_addr;
	return v4 - 1;
}

static uintptr_t source_count(const struct collector *c, uint64_t key)
{
	return (uintptr_t)u64map_get(&c->per_source, key);
}

static void source_add(struct collector *c, uint64_t key, int delta)
{
	uintptr_t n = source_count(c, key) + (uintptr_t)(intptr_t)delta;

	if (n == 0)
		u64map_del(&c->per_source, key);
	else if (u64map_put(&c->per_source, key, (void *)n) < 0)
		log_debug("per-source handshake count: out of memory");
}

static void hs_unlink(struct collector *c, struct peer *a)
{
	if (a->hs_prev)
		a->hs_prev->hs_next = a->hs_next;
	else if (c->hs_head == a)
		c->hs_head = a->hs_next;
	if (a->hs_next)
		a->hs_next->hs_prev = a->hs_prev;
	else if (c->hs_tail == a)
		c->hs_tail = a->hs_prev;
	a->hs_prev = a->hs_next = NULL;
}

bool limits_admit(struct collector *c, struct peer *a)
{
	if (source_count(c, a->src_key) >= c->opts->max_handshakes_per_source)
		return false;
	/* every slot taken: the oldest handshake makes room (a real agent finishes in
	 * milliseconds; the oldest is the likeliest to be a holder) */
	if (c->n_handshaking >= c->max_handshakes && c->hs_head)
		peer_refuse(c, c->hs_head, REFUSE_HANDSHAKES_FULL,
			    "closed to make room: --max-handshakes handshakes in progress");
	source_add(c, a->src_key, 1);
	a->hs_prev = c->hs_tail;
	if (c->hs_tail)
		c->hs_tail->hs_next = a;
	else
		c->hs_head = a;
	c->hs_tail = a;
	return true;
}

void limits_handshake_done(struct collector *c, struct peer *a)
{
	if (!a->hs_prev && !a->hs_next && c->hs_head != a)
		return; /* never admitted */
	source_add(c, a->src_key, -1);
	hs_unlink(c, a);
}

uint64_t limits_deadline_ms(struct collector *c, uint64_t now_ms)
{
	uint64_t normal = c->opts->handshake_timeout_s * 1000ULL;

	if (c->n_handshaking * 2 >= c->max_handshakes && normal > PRESSURE_HS_MS)
		return now_ms + PRESSURE_HS_MS;
	return now_ms + normal;
}

int limits_fit_open_files(struct collector *c, char *err, size_t err_len)
{
	rlim_t need = (rlim_t)c->max_agents + c->max_handshakes + FD_RESERVE;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		snprintf(err, err_len, "cannot read the open-file limit: %s", strerror(errno));
		return -errno;
	}
	if (rl.rlim_cur < need) {
		struct rlimit want = {
		    need, rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? rl.rlim_max : need};

		/* above the hard limit only as root (CAP_SYS_RESOURCE); else up to it */
		if (setrlimit(RLIMIT_NOFILE, &want) < 0) {
			want.rlim_cur = rl.rlim_max;
			want.rlim_max = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &want);
		}
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_cur < 2 * FD_RESERVE) {
		snprintf(err, err_len,
			 "the open-file limit is %llu, too low for a collector (at least %u; raise "
			 "it with ulimit -n or LimitNOFILE=)",
			 (unsigned long long)rl.rlim_cur, 2 * FD_RESERVE);
		return -EMFILE;
	}
	/* what fits: handshakes keep at most a quarter, agents the rest */
	unsigned avail = (unsigned)(rl.rlim_cur - FD_RESERVE);
	unsigned old_agents = c->max_agents, old_hs = c->max_handshakes;

	if (c->max_handshakes > avail / 4)
		c->max_handshakes = avail / 4 ? avail / 4 : 1;
	if (c->max_agents > avail - c->max_handshakes)
		c->max_agents = avail - c->max_handshakes;
	log_warn("open-file limit %llu: --max-agents %u lowered to %u and --max-handshakes %u to "
		 "%u to fit (raise the limit with ulimit -n, or LimitNOFILE= in a systemd unit)",
		 (unsigned long long)rl.rlim_cur, old_agents, c->max_agents, old_hs,
		 c->max_handshakes);
	return 0;
}

void limits_pause_accepting(struct collector *c, int e)
{
	if (c->listeners_paused)
		return;
	for (int i = 0; i < c->n_listeners; i++)
		epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->listeners[i].fd, NULL);
	c->listeners_paused = true;
	c->st.accept_pauses++;
	if (collector_log_allowed(c))
		log_warn("accepting agents: %s: not accepting for 250 ms (%u sessions, %u "
			 "handshakes open; raise the open-file limit)",
			 strerror(e), c->n_established, c->n_handshaking);
}

void limits_resume_accepting(struct collector *c)
{
	if (!c->listeners_paused)
		return;
	for (int i = 0; i < c->n_listeners; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->listeners[i]};

		epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->listeners[i].fd, &ev);
	}
	c->listeners_paused = false;
}
