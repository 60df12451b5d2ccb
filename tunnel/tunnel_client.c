/* Agent side of the tunnel: the public API (start, send, generation, stats, stop) and the one
 * background thread that connects, streams the PCAP-over-IP queue in large TLS writes and
 * reconnects with exponential backoff and jitter. */
#include "client.h"

#include <sslcollector/pcap_stream.h>

#include <errno.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define WRITE_MAX	 (256u << 10) /* bytes per SSL_write: many TLS records per call */
#define STABLE_AFTER_MS	 10000	      /* a session this long resets the backoff */
#define DRAIN_READ_BYTES 4096
#define KEEPALIVE_MS	 TUNNEL_KEEPALIVE_MS

uint64_t client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void client_log(struct tunnel_client *tc, enum tunnel_log_level level, const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	if (!tc->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* the same warning every backoff period says nothing new */
	if (level == TUNNEL_LOG_WARN) {
		if (!strcmp(msg, tc->last_log))
			level = TUNNEL_LOG_DEBUG;
		else
			snprintf(tc->last_log, sizeof(tc->last_log), "%s", msg);
	}
	tc->log(tc->log_ctx, level, msg);
}

static void drain_wake(struct tunnel_client *tc)
{
	uint64_t v;

	if (read(tc->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
}

int client_wait(struct tunnel_client *tc, int fd, short events, uint64_t deadline_ms)
{
	for (;;) {
		struct pollfd p[2] = {{.fd = tc->wake_fd, .events = POLLIN},
				      {.fd = fd, .events = events}};
		uint64_t now = client_now_ms();
		int r;

		if (atomic_load(&tc->stopping))
			return -ECANCELED;
		if (now >= deadline_ms)
			return 0;
		r = poll(p, fd >= 0 ? 2 : 1, (int)(deadline_ms - now));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && p[0].revents)
			drain_wake(tc); /* a stop, or a stale data wake-up */
		if (r > 0 && fd >= 0 && p[1].revents)
			return 1;
	}
}

/* Reads (and ignores) what the collector sends: nothing but TLS housekeeping, its
 * close_notify or an alert. 0 while the session is fine, -1 when it ended. */
static int drain_reads(struct tunnel_client *tc, SSL *ssl)
{
	char buf[DRAIN_READ_BYTES], reasons[240];
	size_t got;

	for (;;) {
		ERR_clear_error();
		errno = 0;
		if (SSL_read_ex(ssl, buf, sizeof(buf), &got) == 1)
			continue;
		int saved_errno = errno, e = SSL_get_error(ssl, 0);

		switch (e) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			return 0;
		case SSL_ERROR_ZERO_RETURN:
			client_log(tc, TUNNEL_LOG_WARN,
				   "tunnel to %s: the collector closed the "
				   "session",
				   tc->host);
			return -1;
		case SSL_ERROR_SSL:
			if (ERR_GET_REASON(ERR_peek_error()) ==
			    SSL_R_UNEXPECTED_EOF_WHILE_READING) {
				ERR_clear_error();
				client_log(tc, TUNNEL_LOG_WARN,
					   "tunnel to %s: the collector closed the connection",
					   tc->host);
				return -1;
			}
			goto ended;
		case SSL_ERROR_SYSCALL:
			if (ERR_peek_error() == 0) {
				client_log(tc, TUNNEL_LOG_WARN, "tunnel to %s: connection lost: %s",
					   tc->host,
					   saved_errno ? strerror(saved_errno)
						       : "closed by the peer");
				return -1;
			}
			goto ended;
		default:
		ended:
			tls_errors(reasons, sizeof(reasons), "", "unknown TLS error");
			client_log(tc, TUNNEL_LOG_WARN,
				   "tunnel to %s: the collector ended the session: %s%s", tc->host,
				   reasons,
				   strstr(reasons, "alert") ? " (does it accept our --cert?)" : "");
			return -1;
		}
	}
}

static bool flush_done(struct tunnel_client *tc, bool idle)
{
	return atomic_load(&tc->stopping) &&
	       (idle || client_now_ms() >= atomic_load(&tc->flush_deadline_ms));
}

/* Streams the global header, then the queue, until the session fails or a stop has flushed
 * the queue (or run out of time). */
static void stream(struct tunnel_client *tc, SSL *ssl, int fd)
{
	uint8_t ghdr[PCAP_STREAM_GLOBAL_HDR];
	size_t ghdr_off = 0, pend_len = 0;
	const uint8_t *pend = NULL;
	char reasons[240];
	uint64_t last_sent = client_now_ms();

	pcap_stream_global_header(ghdr);
	for (;;) {
		const uint8_t *p;
		size_t len, written = 0;
		short wait_for = POLLIN;

		if (ghdr_off < sizeof(ghdr)) {
			p = ghdr + ghdr_off;
			len = sizeof(ghdr) - ghdr_off;
		} else if (pend_len) {
			p = pend;
			len = pend_len;
		} else {
			len = queue_peek(&tc->q, &p);
			if (len > WRITE_MAX)
				len = WRITE_MAX;
		}
		if (flush_done(tc, len == 0))
			break;
		if (len) {
			ERR_clear_error();
			errno = 0;
			if (SSL_write_ex(ssl, p, len, &written) == 1) {
				struct queue_counts done = {0};

				COUNT(tc, tls_bytes_written, written);
				last_sent = client_now_ms();
				pend_len = 0;
				if (ghdr_off < sizeof(ghdr)) {
					ghdr_off += written;
					continue;
				}
				queue_consume(&tc->q, written, &done);
				COUNT(tc, frames_sent, done.frames);
				COUNT(tc, bytes_sent, done.bytes);
				continue;
			}
			int saved_errno = errno, e = SSL_get_error(ssl, 0);

			if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
				if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
					snprintf(reasons, sizeof(reasons), "%s",
						 strerror(saved_errno ? saved_errno : EPIPE));
				else
					tls_errors(reasons, sizeof(reasons), "", "TLS error");
				client_log(tc, TUNNEL_LOG_WARN, "tunnel to %s: sending failed: %s",
					   tc->host, reasons);
				return;
			}
			/* retry later with the same bytes, as OpenSSL requires */
			pend = p;
			pend_len = len;
			wait_for = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
		}
		uint64_t now = client_now_ms();

		/* nothing to send for a while: a TLS 1.3 KeyUpdate (no answer asked) tells the
		 * collector that this session is alive (its --agent-idle-timeout) */
		if (!len && now - last_sent >= KEEPALIVE_MS) {
			last_sent = now;
			ERR_clear_error();
			if (SSL_version(ssl) >= TLS1_3_VERSION &&
			    SSL_key_update(ssl, SSL_KEY_UPDATE_NOT_REQUESTED) == 1)
				SSL_do_handshake(ssl); /* sends it; a full socket sends it later */
			ERR_clear_error();
		}
		uint64_t deadline = atomic_load(&tc->stopping) ? atomic_load(&tc->flush_deadline_ms)
				    : len		       ? UINT64_MAX
							       : last_sent + KEEPALIVE_MS;
		struct pollfd pfd[2] = {{.fd = tc->wake_fd, .events = POLLIN},
					{.fd = fd, .events = (short)(wait_for | POLLIN)}};
		int timeout = deadline == UINT64_MAX ? -1
			      : deadline > now	     ? (int)(deadline - now)
						     : 0;

		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			return;
		if (pfd[0].revents)
			drain_wake(tc);
		if ((pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) && drain_reads(tc, ssl) < 0)
			return;
	}
	/* stopped: say goodbye properly when everything went out */
	ERR_clear_error();
	SSL_shutdown(ssl);
	ERR_clear_error();
}

static uint64_t jitter(uint64_t *rng, uint64_t range)
{
	/* xorshift64: plenty for spreading reconnections of many agents */
	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	return range ? *rng % (range + 1) : 0;
}

static void drop_thread_capabilities(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3];

	memset(none, 0, sizeof(none));
	(void)syscall(SYS_capset, &hdr, none); /* fails only for a bad header */
}

static void *client_thread(void *arg)
{
	struct tunnel_client *tc = arg;
	uint64_t backoff = tc->backoff_min_ms, rng = 0x9e3779b97f4a7c15ULL;
	sigset_t all;

	/* this thread needs no privilege (capabilities belong to threads: the program's own
	 * drop after it started does not reach it) */
	drop_thread_capabilities();
	/* signals belong to the program's threads; SIGPIPE on a dead socket becomes EPIPE */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	if (getrandom(&rng, sizeof(rng), GRND_NONBLOCK) != sizeof(rng) || !rng)
		rng ^= (uint64_t)getpid() << 32 ^ client_now_ms();

	while (!atomic_load(&tc->stopping)) {
		SSL *ssl = NULL;
		int fd = -1;

		if (client_connect(tc, &ssl, &fd) == 0) {
			struct queue_counts lost = {0};
			uint64_t since = client_now_ms();
			char cipher[64];

			COUNT(tc, connections, 1);
			atomic_fetch_add(&tc->generation, 1);
			atomic_store(&tc->n.connected, 1);
			snprintf(cipher, sizeof(cipher), "%s %s", SSL_get_version(ssl),
				 SSL_get_cipher_name(ssl));
			client_log(tc, TUNNEL_LOG_INFO, "tunnel to %s port %s: connected (%s)",
				   tc->host, tc->port, cipher);
			tc->last_log[0] = '\0';
			queue_open(&tc->q);
			stream(tc, ssl, fd);
			queue_close(&tc->q, &lost);
			atomic_store(&tc->n.connected, 0);
			COUNT(tc, disconnections, 1);
			COUNT(tc, discarded, lost.frames);
			COUNT(tc, discarded_bytes, lost.bytes);
			if (lost.frames)
				client_log(
				    tc, TUNNEL_LOG_WARN,
				    "tunnel to %s: %llu queued frames (%llu bytes) lost with "
				    "the session",
				    tc->host, (unsigned long long)lost.frames,
				    (unsigned long long)lost.bytes);
			SSL_free(ssl);
			client_socket_down(tc, fd);
			close(fd);
			if (client_now_ms() - since >= STABLE_AFTER_MS)
				backoff = tc->backoff_min_ms;
		}
		if (atomic_load(&tc->stopping))
			break;
		uint64_t delay = backoff + jitter(&rng, backoff / 2);

		if (delay > tc->backoff_max_ms)
			delay = tc->backoff_max_ms;
		client_log(tc, TUNNEL_LOG_DEBUG, "tunnel to %s: next attempt in %llu ms", tc->host,
			   (unsigned long long)delay);
		client_wait(tc, -1, 0, client_now_ms() + delay);
		backoff = backoff * 2 > tc->backoff_max_ms ? tc->backoff_max_ms : backoff * 2;
	}
	ERR_clear_error();
	OPENSSL_thread_stop();
	return NULL;
}

int tunnel_client_start(const struct tunnel_client_config *cfg, struct tunnel_client **out,
			char *err, size_t err_len)
{
	struct tunnel_client *tc;
	size_t qsize = cfg->queue_bytes ? cfg->queue_bytes : TUNNEL_DEFAULT_QUEUE;
	int ret;

	*out = NULL;
	if (!cfg->host || !*cfg->host || strlen(cfg->host) >= sizeof(tc->host)) {
		snprintf(err, err_len, "tunnel: the collector's host name is empty or too long");
		return -EINVAL;
	}
	if (qsize < TUNNEL_MIN_QUEUE) {
		snprintf(err, err_len, "tunnel: queue of %zu bytes is below the minimum of %u",
			 qsize, TUNNEL_MIN_QUEUE);
		return -EINVAL;
	}
	tc = calloc(1, sizeof(*tc));
	if (!tc) {
		snprintf(err, err_len, "tunnel: out of memory");
		return -ENOMEM;
	}
	tc->wake_fd = -1;
	snprintf(tc->host, sizeof(tc->host), "%s", cfg->host);
	snprintf(tc->port, sizeof(tc->port), "%u", cfg->port ? cfg->port : TUNNEL_DEFAULT_PORT);
	tc->handshake_timeout_ms =
	    cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : TUNNEL_DEFAULT_HANDSHAKE_MS;
	tc->backoff_min_ms =
	    cfg->backoff_min_ms ? cfg->backoff_min_ms : TUNNEL_DEFAULT_BACKOFF_MIN_MS;
	tc->backoff_max_ms =
	    cfg->backoff_max_ms ? cfg->backoff_max_ms : TUNNEL_DEFAULT_BACKOFF_MAX_MS;
	if (tc->backoff_max_ms < tc->backoff_min_ms)
		tc->backoff_max_ms = tc->backoff_min_ms;
	tc->log = cfg->log;
	tc->log_ctx = cfg->log_ctx;
	tc->on_socket = cfg->on_socket;
	tc->socket_ctx = cfg->socket_ctx;

	ret = tls_ctx_new(false, &cfg->tls, &tc->ctx, err, err_len);
	if (ret)
		goto cleanup;
	ret = queue_init(&tc->q, qsize);
	if (ret) {
		snprintf(err, err_len, "tunnel: cannot allocate a queue of %zu bytes", qsize);
		goto cleanup;
	}
	tc->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (tc->wake_fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "tunnel: eventfd: %s", strerror(errno));
		goto cleanup;
	}
	ret = -pthread_create(&tc->thread, NULL, client_thread, tc);
	if (ret) {
		snprintf(err, err_len, "tunnel: cannot start its thread: %s", strerror(-ret));
		goto cleanup;
	}
	tc->thread_started = true;
	*out = tc;
	return 0;
cleanup:
	tunnel_client_stop(tc, 0);
	return ret;
}

int tunnel_client_send(struct tunnel_client *tc, const uint8_t *frame, size_t len, uint64_t ts_ns)
{
	return tunnel_client_send_parts(tc, frame, len, NULL, 0, ts_ns);
}

int tunnel_client_send_parts(struct tunnel_client *tc, const uint8_t *frame, size_t frame_len,
			     const uint8_t *more, size_t more_len, uint64_t ts_ns)
{
	uint8_t hdr[PCAP_STREAM_RECORD_HDR];
	size_t len = frame_len + more_len;
	bool was_empty;
	int ret;

	if (len == 0 || len > TUNNEL_MAX_FRAME) {
		COUNT(tc, dropped_too_large, 1);
		return -EMSGSIZE;
	}
	pcap_stream_record_header(hdr, (uint32_t)len, ts_ns);
	ret = atomic_load_explicit(&tc->stopping, memory_order_relaxed)
		  ? -ENOTCONN
		  : queue_push(&tc->q, hdr, sizeof(hdr), frame, frame_len, more, more_len,
			       &was_empty);
	if (ret == 0) {
		COUNT(tc, frames_queued, 1);
		COUNT(tc, bytes_queued, len);
		if (was_empty) {
			uint64_t one = 1;

			if (write(tc->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
				return 0; /* the sender polls the socket anyway */
		}
	} else if (ret == -ENOBUFS) {
		COUNT(tc, dropped_queue_full, 1);
		COUNT(tc, dropped_queue_full_bytes, len);
	} else {
		COUNT(tc, dropped_disconnected, 1);
		COUNT(tc, dropped_disconnected_bytes, len);
	}
	return ret;
}

uint64_t tunnel_client_generation(const struct tunnel_client *tc)
{
	return atomic_load(&tc->generation);
}

bool tunnel_client_connected(const struct tunnel_client *tc)
{
	return atomic_load(&tc->n.connected) != 0;
}

void tunnel_client_get_stats(const struct tunnel_client *tc, struct tunnel_client_stats *st)
{
	const struct client_counters *n = &tc->n;

	*st = (struct tunnel_client_stats){
	    .connect_attempts = atomic_load(&n->connect_attempts),
	    .connections = atomic_load(&n->connections),
	    .handshake_failures = atomic_load(&n->handshake_failures),
	    .cert_verify_failures = atomic_load(&n->cert_verify_failures),
	    .disconnections = atomic_load(&n->disconnections),
	    .connected = atomic_load(&n->connected),
	    .frames_queued = atomic_load(&n->frames_queued),
	    .bytes_queued = atomic_load(&n->bytes_queued),
	    .frames_sent = atomic_load(&n->frames_sent),
	    .bytes_sent = atomic_load(&n->bytes_sent),
	    .dropped_queue_full = atomic_load(&n->dropped_queue_full),
	    .dropped_queue_full_bytes = atomic_load(&n->dropped_queue_full_bytes),
	    .dropped_disconnected = atomic_load(&n->dropped_disconnected),
	    .dropped_disconnected_bytes = atomic_load(&n->dropped_disconnected_bytes),
	    .discarded_on_disconnect = atomic_load(&n->discarded),
	    .discarded_on_disconnect_bytes = atomic_load(&n->discarded_bytes),
	    .dropped_too_large = atomic_load(&n->dropped_too_large),
	    .queue_used = queue_used((struct queue *)&tc->q),
	    .queue_size = tc->q.size,
	    .tls_bytes_written = atomic_load(&n->tls_bytes_written),
	};
}

void tunnel_client_stop(struct tunnel_client *tc, unsigned flush_timeout_ms)
{
	uint64_t one = 1;

	if (!tc)
		return;
	atomic_store(&tc->flush_deadline_ms, client_now_ms() + flush_timeout_ms);
	atomic_store(&tc->stopping, true);
	if (tc->thread_started) {
		if (write(tc->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			one = 0; /* the eventfd cannot overflow here; nothing else to do */
		pthread_join(tc->thread, NULL);
	}
	if (tc->wake_fd >= 0)
		close(tc->wake_fd);
	queue_destroy(&tc->q);
	SSL_CTX_free(tc->ctx);
	free(tc);
}
