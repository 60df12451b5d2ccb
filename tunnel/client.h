/* Internal to tunnel/: the agent-side tunnel client shared by tunnel_client.c (API, thread,
 * streaming) and client_connect.c (name resolution, TCP connect, TLS handshake). */
#ifndef SSLC_TUNNEL_CLIENT_H
#define SSLC_TUNNEL_CLIENT_H

#include "queue.h"
#include "tls.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct client_counters {
	_Atomic uint64_t connect_attempts, connections, handshake_failures, cert_verify_failures,
	    disconnections, connected;
	_Atomic uint64_t frames_queued, bytes_queued, frames_sent, bytes_sent;
	_Atomic uint64_t dropped_queue_full, dropped_queue_full_bytes;
	_Atomic uint64_t dropped_disconnected, dropped_disconnected_bytes;
	_Atomic uint64_t discarded, discarded_bytes, dropped_too_large;
	_Atomic uint64_t tls_bytes_written;
};

struct tunnel_client {
	char host[256];
	char port[8];
	unsigned handshake_timeout_ms, backoff_min_ms, backoff_max_ms;
	tunnel_log_fn log;
	void *log_ctx;
	tunnel_socket_fn on_socket;
	void *socket_ctx;
	char last_log[320]; /* the last warning, so repeats are demoted to debug */

	SSL_CTX *ctx;
	struct queue q;
	int wake_fd; /* eventfd: data queued into an empty queue, or stop */
	pthread_t thread;
	bool thread_started;
	_Atomic bool stopping;
	_Atomic uint64_t flush_deadline_ms;
	_Atomic uint64_t generation;
	struct client_counters n;
};

#define COUNT(tc, field, v) atomic_fetch_add_explicit(&(tc)->n.field, (v), memory_order_relaxed)

uint64_t client_now_ms(void);
void client_log(struct tunnel_client *tc, enum tunnel_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Waits until fd has events (returns 1), the deadline passes (0) or a stop is requested
 * (-ECANCELED). fd < 0: just sleeps until the deadline or a stop. */
int client_wait(struct tunnel_client *tc, int fd, short events, uint64_t deadline_ms);
/* Resolves the host, connects (each address in turn) and completes the TLS handshake within
 * the handshake timeout. 0 with *ssl (owning *fd) or a negative errno, counted and logged. */
int client_connect(struct tunnel_client *tc, SSL **ssl, int *fd);
/* The connection fd is about to be closed: tells cfg->on_socket. */
void client_socket_down(struct tunnel_client *tc, int fd);

#endif
