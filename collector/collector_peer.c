/* One agent connection in the collector's event loop: accept, non-blocking TLS handshake
 * under a deadline, then read, validate and inject its PCAP-over-IP records. A bad record
 * drops that agent (logged with its certificate subject and address), never the others. */
#include "collector_impl.h"
#include "log.h"
#include "vlan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void addr_text(const struct sockaddr_storage *ss, socklen_t len, char *out, size_t out_len)
{
	char host[INET6_ADDRSTRLEN], port[8];

	if (getnameinfo((const struct sockaddr *)ss, len, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV)) {
		snprintf(out, out_len, "(unknown address)");
		return;
	}
	/* an IPv4 peer on the dual-stack socket: show it as IPv4 */
	if (ss->ss_family == AF_INET6 && !strncmp(host, "::ffff:", 7) && strchr(host + 7, '.'))
		snprintf(out, out_len, "%s:%s", host + 7, port);
	else
		snprintf(out, out_len, ss->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

static void set_events(struct collector *c, struct peer *a, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = a};

	if (a->epoll_events == events)
		return;
	if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, a->src.fd, &ev) == 0)
		a->epoll_events = events;
}

static void mark_ready(struct collector *c, struct peer *a)
{
	if (a->ready)
		return;
	a->ready = true;
	a->ready_next = c->ready;
	c->ready = a;
}

void peer_close(struct collector *c, struct peer *a, enum disconnect_reason why)
{
	if (a->state == PEER_DEAD)
		return;
	if (a->state == PEER_HANDSHAKE) {
		c->n_handshaking--;
		limits_handshake_done(c, a);
	} else {
		c->n_established--;
		c->st.disconnections[why]++;
		if (a->subj)
			a->subj->connected--;
	}
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, a->src.fd, NULL);
	a->state = PEER_DEAD;
	a->dead_next = c->dead;
	c->dead = a;
}

/* Frees the agents closed during this loop turn (events of the same turn may name them). */
void peer_reap(struct collector *c)
{
	struct peer *a, *next, **pp;

	/* the ready list must not keep dead agents */
	for (pp = &c->ready; *pp;) {
		if ((*pp)->state == PEER_DEAD)
			*pp = (*pp)->ready_next;
		else
			pp = &(*pp)->ready_next;
	}
	for (a = c->dead; a; a = next) {
		next = a->dead_next;
		if (a->prev)
			a->prev->next = a->next;
		else
			c->peers = a->next;
		if (a->next)
			a->next->prev = a->prev;
		tunnel_conn_free(a->conn); /* closes the socket */
		free(a->frame_buf);
		free(a);
	}
	c->dead = NULL;
}

void peer_close_all(struct collector *c)
{
	for (struct peer *a = c->peers; a; a = a->next)
		peer_close(c, a, DISC_SHUTDOWN);
	peer_reap(c);
}

/* Closes a connection that is not (yet) an agent because a limit is reached. */
void peer_refuse(struct collector *c, struct peer *a, enum refuse_reason why, const char *detail)
{
	bool named =
	    a->state != PEER_HANDSHAKE || why == REFUSE_MAX_AGENTS || why == REFUSE_VLAN_EXHAUSTED;

	c->st.refused[why]++;
	if (collector_log_allowed(c))
		log_warn("connection from %s%s%s: refused: %s", a->addr, named ? " " : "",
			 named ? tunnel_conn_subject(a->conn) : "", detail);
	peer_close(c, a, DISC_SHUTDOWN);
}

void peer_accept(struct collector *c, struct source *listener)
{
	for (int i = 0; i < 64; i++) { /* bounded: the other agents must be served too */
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct epoll_event ev;
		struct peer *a;
		int fd;

		fd = accept4(listener->fd, (struct sockaddr *)&ss, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				limits_pause_accepting(c, errno); /* not a spin on a full queue */
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED &&
				 collector_log_allowed(c))
				log_warn("accepting an agent: %s", strerror(errno));
			return;
		}
		c->st.accepted++;
		a = calloc(1, sizeof(*a));
		if (!a) {
			close(fd);
			continue;
		}
		a->src.kind = SRC_PEER;
		a->src.fd = fd;
		a->src_key = source_key(&ss);
		addr_text(&ss, len, a->addr, sizeof(a->addr));
		if (tunnel_conn_new(c->srv, fd, &a->conn)) { /* closes fd */
			free(a);
			continue;
		}
		a->state = PEER_HANDSHAKE;
		a->next = c->peers;
		if (c->peers)
			c->peers->prev = a;
		c->peers = a;
		if (!limits_admit(c, a)) {
			c->n_handshaking++;
			peer_refuse(c, a, REFUSE_SOURCE_LIMIT,
				    "--max-handshakes-per-source handshakes in progress from that "
				    "address");
			continue;
		}
		c->n_handshaking++;
		a->deadline_ms = limits_deadline_ms(c, collector_now_ms());
		ev.events = EPOLLIN;
		ev.data.ptr = a;
		if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			log_warn("agent %s: epoll: %s", a->addr, strerror(errno));
			peer_close(c, a, DISC_CONN_ERROR);
			continue;
		}
		a->epoll_events = EPOLLIN;
		log_debug("agent %s: connection accepted", a->addr);
		peer_on_event(c, a, EPOLLIN); /* the ClientHello may be there already */
	}
}

static void handshake_failed(struct collector *c, struct peer *a, enum tunnel_hs_failure why,
			     const char *detail)
{
	c->st.hs_failures[why]++;
	if (why == TUNNEL_HS_CERT_VERIFY)
		c->st.cert_verify_failures++;
	if (collector_log_allowed(c))
		log_warn("connection from %s: TLS handshake failed (%s): %s", a->addr,
			 tunnel_hs_failure_name(why), detail);
	peer_close(c, a, DISC_CONN_ERROR);
}

static void established(struct collector *c, struct peer *a)
{
	const char *subject = tunnel_conn_subject(a->conn);
	struct subject_stats *subj;
	char cipher[80];
	int err;

	c->st.handshakes++;
	if (c->n_established >= c->max_agents) {
		peer_refuse(c, a, REFUSE_MAX_AGENTS, "--max-agents agents already connected");
		return;
	}
	subj = subjects_get(&c->subjects, subject, &err);
	if (!subj) {
		peer_refuse(c, a, err == -ENOSPC ? REFUSE_VLAN_EXHAUSTED : REFUSE_MAX_AGENTS,
			    err == -ENOSPC
				? "no VLAN id left for a new agent (--vlan-per-agent gives "
				  "at most 4094)"
				: "out of memory");
		return;
	}
	a->frame_buf = malloc(c->frame_buf_size);
	if (!a->frame_buf ||
	    pcap_stream_decoder_init(&a->dec, &c->limits, a->frame_buf, c->frame_buf_size)) {
		log_error("agent %s %s: out of memory", subject, a->addr);
		peer_close(c, a, DISC_CONN_ERROR);
		return;
	}
	c->n_handshaking--;
	limits_handshake_done(c, a);
	c->n_established++;
	a->state = PEER_ESTABLISHED;
	a->subj = subj;
	a->since_ms = a->active_ms = collector_now_ms();
	a->bytes_in = tunnel_conn_bytes_in(a->conn);
	authz_established(c, a); /* before it counts itself: the per-subject limit */
	subj->connected++;
	subj->connections++;
	if (subj->vlan)
		log_info("agent %s %s connected (%s), VLAN %d", subject, a->addr,
			 tunnel_conn_cipher(a->conn, cipher, sizeof(cipher)), subj->vlan);
	else
		log_info("agent %s %s connected (%s)", subject, a->addr,
			 tunnel_conn_cipher(a->conn, cipher, sizeof(cipher)));
}

static void handshake_step(struct collector *c, struct peer *a)
{
	int r = tunnel_conn_handshake(a->conn);

	if (r == 1) {
		set_events(c, a, EPOLLIN);
	} else if (r == 2) {
		set_events(c, a, EPOLLOUT);
	} else if (r < 0) {
		handshake_failed(c, a, tunnel_conn_failure(a->conn), tunnel_conn_error(a->conn));
	} else {
		set_events(c, a, EPOLLIN);
		established(c, a);
	}
}

static void malformed(struct collector *c, struct peer *a, int result)
{
	char why[400];

	c->st.malformed[-result < MALFORMED_REASONS ? -result : 0]++;
	a->subj->malformed++;
	log_warn("agent %s %s: dropped, malformed stream (%s): %s", a->subj->subject, a->addr,
		 pcap_stream_error_name(result),
		 pcap_stream_describe(&a->dec, result, why, sizeof(why)));
	peer_close(c, a, DISC_MALFORMED);
}

static void output_failed(struct collector *c, struct peer *a, const struct output *o)
{
	uint64_t now = collector_now_ms();

	if (output_failing(o))
		return; /* the output as a whole, not this agent's frame: collector_report_outputs()
			 */
	if (c->output_log_ms && now - c->output_log_ms < OUTPUT_LOG_PERIOD_MS)
		return;
	c->output_log_ms = now;
	log_warn("%s: %s (injecting the frames of agent %s %s; one such message per %u s at "
		 "most, sslcollector_collector_frames_dropped_total counts every frame)",
		 output_name(o), output_last_error(o), a->subj->subject, a->addr,
		 OUTPUT_LOG_PERIOD_MS / 1000);
}

static void inject(struct collector *c, struct peer *a, const struct pcap_stream_frame *f)
{
	const uint8_t *frame = f->data;
	size_t len = f->len;

	a->subj->records++;
	a->subj->bytes += len;
	c->st.records++;
	c->st.bytes += len;
	if (c->opts->tcp_only && !vlan_frame_is_tcp(frame, len)) {
		c->st.frames_not_tcp++;
		if (collector_log_allowed(c))
			log_warn(
			    "agent %s %s: a frame that is not IPv4/IPv6 TCP dropped (--tcp-only)",
			    a->subj->subject, a->addr);
		return;
	}
	if (a->subj->vlan) {
		if (c->opts->vlan_per_agent && !a->retag_warned && len >= 14 && frame[12] == 0x81 &&
		    frame[13] == 0x00) {
			a->retag_warned = true;
			log_warn(
			    "agent %s %s sends VLAN-tagged frames (--vlan, or the namespaces of "
			    "--netns/--cgroup): --vlan-per-agent replaces their tag with VLAN "
			    "%d, so its containers' connections with the same addresses merge "
			    "in the IDS; without --vlan-per-agent the agents' tags are kept",
			    a->subj->subject, a->addr, a->subj->vlan);
		}
		len = vlan_tag_frame(frame, len, (uint16_t)a->subj->vlan, c->tagbuf);
		frame = c->tagbuf;
	}
	/* refusals are counted by the outputs (frames_dropped_total) and logged now and then */
	if (c->out_iface && output_write(c->out_iface, frame, len, f->ts_ns) < 0)
		output_failed(c, a, c->out_iface);
	if (c->out_pcap && output_write(c->out_pcap, frame, len, f->ts_ns) < 0)
		output_failed(c, a, c->out_pcap);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void key_update_flood(struct collector *c, struct peer *a)
{
	log_warn("agent %s %s: dropped: more than %u TLS KeyUpdates in 250 ms (a genuine agent "
		 "sends one per %u s when idle)",
		 a->subj->subject, a->addr, MAX_KEY_UPDATES, TUNNEL_KEEPALIVE_MS / 1000);
	peer_close(c, a, DISC_KEY_UPDATES);
}

/* The end of a turn with more to read: the others are served first. */
static void turn_cut(struct collector *c, struct peer *a, enum turn_cut why)
{
	c->st.turns_cut[why]++;
	mark_ready(c, a);
}

/* Reads and injects until TLS has nothing more or one of the turn's budgets is spent: bytes,
 * TLS records (reads: one record each, data or not) and time, so that neither big records
 * nor a flood of tiny ones or of KeyUpdates hold the loop from the other agents. */
static void read_records(struct collector *c, struct peer *a)
{
	size_t budget = READ_BUDGET;
	uint64_t start = mono_ns();

	for (unsigned reads = 1; a->state == PEER_ESTABLISHED; reads++) {
		ssize_t n = tunnel_conn_read(a->conn, c->rbuf, READ_BUF_BYTES);

		if (n == -EAGAIN &&
		    tunnel_conn_key_updates(a->conn) - a->key_updates > MAX_KEY_UPDATES)
			return key_update_flood(c, a);
		if (n == -EAGAIN) {
			/* TLS must send first (a KeyUpdate answer): wait until it can, not for more
			 * input, which would wake us at once and again */
			set_events(c, a, tunnel_conn_wants_write(a->conn) ? EPOLLOUT : EPOLLIN);
			return;
		}
		if (n <= 0) {
			int r = pcap_stream_finish(&a->dec);

			if (n == 0 && r < 0) {
				malformed(c, a, r);
			} else if (n == 0) {
				log_info("agent %s %s disconnected: %s", a->subj->subject, a->addr,
					 tunnel_conn_error(a->conn));
				peer_close(c, a, DISC_PEER_CLOSED);
			} else {
				log_warn("agent %s %s disconnected: %s", a->subj->subject, a->addr,
					 tunnel_conn_error(a->conn));
				peer_close(c, a, DISC_CONN_ERROR);
			}
			return;
		}
		const uint8_t *p = c->rbuf;
		size_t left = (size_t)n;

		if (tunnel_conn_key_updates(a->conn) - a->key_updates > MAX_KEY_UPDATES)
			return key_update_flood(c, a);
		struct pcap_stream_frame f;
		int r;

		while ((r = pcap_stream_next(&a->dec, &p, &left, &f)) == PCAP_STREAM_FRAME)
			inject(c, a, &f);
		if (r < 0) {
			malformed(c, a, r);
			return;
		}
		if ((size_t)n >= budget)
			return turn_cut(c, a, CUT_BYTES);
		budget -= (size_t)n;
		if (reads >= TURN_RECORDS)
			return turn_cut(c, a, CUT_RECORDS);
		if (!(reads & 15) && mono_ns() - start >= TURN_NS)
			return turn_cut(c, a, CUT_TIME);
	}
}

void peer_on_event(struct collector *c, struct peer *a, uint32_t events)
{
	(void)events;
	if (a->state == PEER_HANDSHAKE)
		handshake_step(c, a);
	if (a->state == PEER_ESTABLISHED)
		read_records(c, a);
}

void peer_service_ready(struct collector *c)
{
	struct peer *list = c->ready;

	c->ready = NULL;
	while (list) {
		struct peer *a = list;

		list = a->ready_next;
		a->ready = false;
		if (a->state == PEER_ESTABLISHED)
			read_records(c, a);
	}
}

void peer_check_deadlines(struct collector *c, uint64_t now_ms)
{
	struct peer *next;

	for (struct peer *a = c->hs_head; a; a = next) {
		next = a->hs_next; /* closing unlinks a */
		if (now_ms >= a->deadline_ms)
			handshake_failed(c, a, TUNNEL_HS_TIMEOUT,
					 "no complete handshake within --handshake-timeout (2 s "
					 "while half the --max-handshakes slots are in use)");
	}
}
