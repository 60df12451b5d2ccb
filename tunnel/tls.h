/* Internal to tunnel/: the OpenSSL contexts both sides share, and OpenSSL error text. */
#ifndef SSLC_TUNNEL_TLS_H
#define SSLC_TUNNEL_TLS_H

#include <sslcollector/tunnel.h>

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

/* A context with our certificate and key (checked to match) and the CA to verify the peer
 * against: TLS 1.2 minimum, 1.3 preferred, AEAD ciphers with forward secrecy only, no
 * compression, no renegotiation. server: a client certificate is required. Returns 0 or a
 * negative errno with err saying which file failed and why. */
int tls_ctx_new(bool server, const struct tunnel_tls_files *files, SSL_CTX **out, char *err,
		size_t err_len);

/* Client side: SSL_set_app_data(ssl, &flag) and flag becomes true when the collector's
 * session ticket arrives, its sign (in TLS 1.3) that our certificate was accepted. */

/* Appends OpenSSL's queued errors ("reason; reason") to out after prefix, clears the queue.
 * With an empty queue, fallback is used instead. Returns out. */
const char *tls_errors(char *out, size_t out_len, const char *prefix, const char *fallback);

/* The verification result of a failed handshake in words, with a hint ("hostname mismatch:
 * ..."), or NULL when the certificate was not the problem. */
const char *tls_verify_error(const SSL *ssl);

#endif
