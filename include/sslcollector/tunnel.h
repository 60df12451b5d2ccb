/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* tunnel: the mutually authenticated TLS stream of PCAP-over-IP records from agents to the
 * collector (docs/design.md, "tunnel/ and collector/"). A library: never prints, never exits;
 * functions return 0 or a negative errno and fill a caller's error buffer with what failed,
 * with what input, and what to do (OpenSSL's reason included). The agent side runs one
 * background thread that reports through the log callback of its configuration. */
#ifndef SSLCOLLECTOR_TUNNEL_H
#define SSLCOLLECTOR_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TUNNEL_DEFAULT_PORT	      57012
#define TUNNEL_DEFAULT_QUEUE	      (64u << 20)
#define TUNNEL_MIN_QUEUE	      (64u << 10)
#define TUNNEL_DEFAULT_HANDSHAKE_MS   10000
#define TUNNEL_DEFAULT_BACKOFF_MIN_MS 500
#define TUNNEL_DEFAULT_BACKOFF_MAX_MS 30000
#define TUNNEL_MAX_FRAME	      (14 + 4 + 65535)
#define TUNNEL_KEEPALIVE_MS	      15000 /* an idle agent's TLS KeyUpdate, so often */

/* Levels of the log callback (the same order as the program's log levels). */
enum tunnel_log_level {
	TUNNEL_LOG_ERROR = 0,
	TUNNEL_LOG_WARN = 1,
	TUNNEL_LOG_INFO = 2,
	TUNNEL_LOG_DEBUG = 3,
};

typedef void (*tunnel_log_fn)(void *ctx, enum tunnel_log_level level, const char *msg);
/* The client's TCP connection fd is up (up: true, before the TLS handshake sends a byte) or
 * about to be closed (false). A negative return when up abandons the connection. */
typedef int (*tunnel_socket_fn)(void *ctx, int fd, bool up);

/* The three PEM files of either side. */
struct tunnel_tls_files {
	const char *ca_path;   /* the operator's CA: the peer's certificate must chain to it */
	const char *cert_path; /* our certificate */
	const char *key_path;  /* its private key */
};

/* ---- agent side ---------------------------------------------------------------------- */

struct tunnel_client_config {
	const char *host; /* -t HOST: name or IPv4/IPv6 address; the collector's certificate must
			   * carry it (subjectAltName DNS or IP) */
	uint16_t port;	  /* 0: TUNNEL_DEFAULT_PORT */
	struct tunnel_tls_files tls;
	size_t queue_bytes;	       /* 0: TUNNEL_DEFAULT_QUEUE; at least TUNNEL_MIN_QUEUE */
	unsigned handshake_timeout_ms; /* TCP connect + TLS handshake; 0: default */
	unsigned backoff_min_ms;       /* first reconnect delay; 0: default 500 ms */
	unsigned backoff_max_ms;       /* delay cap; 0: default 30 s */
	tunnel_log_fn log;	       /* may be NULL */
	void *log_ctx;
	tunnel_socket_fn on_socket; /* may be NULL; called on the client's thread */
	void *socket_ctx;
};

struct tunnel_client_stats {
	uint64_t connect_attempts;     /* TCP connections tried (each address counts) */
	uint64_t connections;	       /* TLS sessions established (== generation) */
	uint64_t handshake_failures;   /* connect or TLS handshake failed or timed out */
	uint64_t cert_verify_failures; /* the collector's certificate or name was refused */
	uint64_t disconnections;       /* established sessions that ended */
	uint64_t connected;	       /* gauge: 1 while a session is up */
	uint64_t frames_queued, bytes_queued;
	uint64_t frames_sent, bytes_sent; /* frames whose last byte went to TLS */
	uint64_t dropped_queue_full, dropped_queue_full_bytes;		 /* queue had no room */
	uint64_t dropped_disconnected, dropped_disconnected_bytes;	 /* no session up */
	uint64_t discarded_on_disconnect, discarded_on_disconnect_bytes; /* queued, then lost */
	uint64_t dropped_too_large;	 /* frame over TUNNEL_MAX_FRAME or empty */
	uint64_t queue_used, queue_size; /* gauges, bytes */
	uint64_t tls_bytes_written;	 /* plaintext bytes given to SSL_write (with headers) */
};

struct tunnel_client;

/* Loads and checks the certificates (the CA, our certificate, our key, and that the key
 * belongs to the certificate) and starts the background thread that connects, reconnects
 * with exponential backoff and jitter, and streams the queue. Fails synchronously for bad
 * files or arguments (-EINVAL, -ENOENT, -ENOMEM...), with a message in err. Connection
 * problems are not errors here: they are retried and reported through cfg->log. */
int tunnel_client_start(const struct tunnel_client_config *cfg, struct tunnel_client **out,
			char *err, size_t err_len);

/* Queues one Ethernet frame (copied; thread-safe; never blocks on I/O). Returns 0, or drops
 * the frame and counts it: -ENOTCONN while no session is up, -ENOBUFS when the queue is full,
 * -EMSGSIZE when len is 0 or above TUNNEL_MAX_FRAME. ts_ns: CLOCK_REALTIME nanoseconds. */
int tunnel_client_send(struct tunnel_client *tc, const uint8_t *frame, size_t len, uint64_t ts_ns);
/* The same for a frame given as frame[0..frame_len) followed by more[0..more_len) (its
 * headers and its payload where it lies: forge_config.emit_parts), copied once. */
int tunnel_client_send_parts(struct tunnel_client *tc, const uint8_t *frame, size_t frame_len,
			     const uint8_t *more, size_t more_len, uint64_t ts_ns);

/* Increments each time a session is established. When it changes, the frames sent before
 * are gone for the collector: start every mirrored connection again with a handshake. */
uint64_t tunnel_client_generation(const struct tunnel_client *tc);
bool tunnel_client_connected(const struct tunnel_client *tc);
void tunnel_client_get_stats(const struct tunnel_client *tc, struct tunnel_client_stats *st);

/* Stops accepting frames, sends what is queued for at most flush_timeout_ms while a session
 * is up, closes the session (TLS close_notify), joins the thread and frees. Accepts NULL. */
void tunnel_client_stop(struct tunnel_client *tc, unsigned flush_timeout_ms);

/* ---- collector side ------------------------------------------------------------------ */

struct tunnel_server;
struct tunnel_conn;

/* Why a handshake failed (the collector counts each separately). */
enum tunnel_hs_failure {
	TUNNEL_HS_OK = 0,
	TUNNEL_HS_PROTOCOL,    /* not TLS, unsupported version or ciphers, bad messages */
	TUNNEL_HS_NO_CERT,     /* the peer sent no client certificate */
	TUNNEL_HS_CERT_VERIFY, /* its certificate is not from our CA, expired, wrong use... */
	TUNNEL_HS_PEER_CLOSED, /* the peer closed or reset the connection mid-handshake */
	TUNNEL_HS_TIMEOUT,     /* set by the caller when its deadline passes */
	TUNNEL_HS_REVOKED,     /* its certificate is on a CRL (--crl, or one inside --ca) */
	TUNNEL_HS_NOT_ALLOWED, /* the peer check (an allowlist) refused it */
	TUNNEL_HS_N,
};

/* The collector's own check of a peer certificate that chains to the CA, is not revoked and
 * allows client authentication: subject as tunnel_conn_subject(), sha256 of the certificate
 * (DER). Returns true to accept; false with a reason in why. Called inside the handshake. */
typedef bool (*tunnel_peer_check_fn)(void *ctx, const char *subject, const uint8_t sha256[32],
				     char *why, size_t why_len);

/* Server context: TLS 1.2+ (1.3 preferred), strong ciphers, a client certificate from the CA
 * required (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT) whose extendedKeyUsage names
 * clientAuth, a chain of at most TUNNEL_MAX_CERT_LIST bytes, no session resumption. */
#define TUNNEL_MAX_CERT_LIST (32u << 10)
int tunnel_server_new(const struct tunnel_tls_files *files, struct tunnel_server **out, char *err,
		      size_t err_len);
void tunnel_server_free(struct tunnel_server *srv); /* accepts NULL */
/* (Re)loads the certificate revocation lists: those in files->ca_path and in crl_path (NULL:
 * none; PEM, several allowed). Each must be issued and signed by a CA certificate of
 * ca_path and not expired; with one or more, every peer certificate is checked against
 * them (X509_V_FLAG_CRL_CHECK). On failure the lists in force are kept. n_crls: how many. */
int tunnel_server_load_crls(struct tunnel_server *srv, const char *ca_path, const char *crl_path,
			    unsigned *n_crls, char *err, size_t err_len);
/* Adds the collector's own check to every handshake (NULL: none). */
void tunnel_server_set_peer_check(struct tunnel_server *srv, tunnel_peer_check_fn fn, void *ctx);

/* Wraps an accepted non-blocking socket; the conn owns fd from then on (closed by free). */
int tunnel_conn_new(struct tunnel_server *srv, int fd, struct tunnel_conn **out);
/* Advances the handshake: 0 done (the peer is authenticated), 1 call again when fd is
 * readable, 2 when it is writable, or a negative errno with tunnel_conn_failure() and
 * tunnel_conn_error() telling why. */
int tunnel_conn_handshake(struct tunnel_conn *c);
/* Reads decrypted bytes: > 0 bytes, 0 when the peer closed the stream (close_notify or EOF),
 * -EAGAIN when nothing is available now (wait for readability), other negative errno on a
 * TLS or socket error (tunnel_conn_error() says which). */
ssize_t tunnel_conn_read(struct tunnel_conn *c, void *buf, size_t len);
/* Decrypted bytes buffered inside TLS, readable without waiting for the socket. */
bool tunnel_conn_pending(const struct tunnel_conn *c);
/* The last read (or handshake step) wants the socket writable (TLS must send, e.g. the
 * answer to a KeyUpdate): wait for EPOLLOUT before reading again, not for EPOLLIN. */
bool tunnel_conn_wants_write(const struct tunnel_conn *c);
/* Bytes read from the socket so far, TLS records of any kind (to tell an idle peer). */
uint64_t tunnel_conn_bytes_in(const struct tunnel_conn *c);
/* TLS 1.3 KeyUpdate messages received from the peer so far. */
uint64_t tunnel_conn_key_updates(const struct tunnel_conn *c);
/* The SHA-256 of the peer's certificate (DER), after the handshake; false before. */
bool tunnel_conn_fingerprint(const struct tunnel_conn *c, uint8_t out[32]);
/* Checks an established session's certificate again against the lists and the peer check
 * in force now (after tunnel_server_load_crls, or an allowlist reload): 0 still valid, or
 * -EACCES with tunnel_conn_failure() and tunnel_conn_error() telling why. */
int tunnel_conn_recheck(struct tunnel_conn *c);
int tunnel_conn_fd(const struct tunnel_conn *c);
enum tunnel_hs_failure tunnel_conn_failure(const struct tunnel_conn *c);
/* The last error in words (OpenSSL's reason, the certificate verification result). */
const char *tunnel_conn_error(const struct tunnel_conn *c);
/* After the handshake: the peer certificate's subject, RFC 2253 ("CN=web-1,O=example"). */
const char *tunnel_conn_subject(const struct tunnel_conn *c);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" */
const char *tunnel_conn_cipher(const struct tunnel_conn *c, char *out, size_t out_len);
/* Sends close_notify without waiting and frees; accepts NULL. */
void tunnel_conn_free(struct tunnel_conn *c);

const char *tunnel_hs_failure_name(enum tunnel_hs_failure f); /* "no_client_certificate"... */

#endif /* SSLCOLLECTOR_TUNNEL_H */
