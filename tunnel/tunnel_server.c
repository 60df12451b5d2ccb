/* Collector side of the tunnel: non-blocking TLS accept of an agent's connection with a
 * required client certificate, the reason a handshake failed, the peer's subject, and reads
 * of the decrypted PCAP-over-IP stream. */
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tunnel_server {
	SSL_CTX *ctx;
};

struct tunnel_conn {
	SSL *ssl;
	int fd;
	bool fatal; /* no close_notify after a fatal error (OpenSSL forbids it) */
	enum tunnel_hs_failure failure;
	char subject[256];
	char error[320];
};

int tunnel_server_new(const struct tunnel_tls_files *files, struct tunnel_server **out, char *err,
		      size_t err_len)
{
	struct tunnel_server *srv;
	int ret;

	*out = NULL;
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	ret = tls_ctx_new(true, files, &srv->ctx, err, err_len);
	if (ret) {
		free(srv);
		return ret;
	}
	*out = srv;
	return 0;
}

void tunnel_server_free(struct tunnel_server *srv)
{
	if (!srv)
		return;
	SSL_CTX_free(srv->ctx);
	free(srv);
}

int tunnel_conn_new(struct tunnel_server *srv, int fd, struct tunnel_conn **out)
{
	struct tunnel_conn *c;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->ssl = SSL_new(srv->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
		ERR_clear_error();
		SSL_free(c->ssl);
		close(fd);
		free(c);
		return -ENOMEM;
	}
	SSL_set_accept_state(c->ssl);
	*out = c;
	return 0;
}

static void fill_subject(struct tunnel_conn *c)
{
	X509 *peer = SSL_get0_peer_certificate(c->ssl);
	BIO *bio;
	int n;

	snprintf(c->subject, sizeof(c->subject), "(no subject)");
	if (!peer)
		return;
	bio = BIO_new(BIO_s_mem());
	if (!bio)
		return;
	/* RFC 2253 with control and non-ASCII characters escaped: safe for logs and labels */
	if (X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0) {
		n = BIO_read(bio, c->subject, (int)sizeof(c->subject) - 1);
		if (n > 0)
			c->subject[n] = '\0';
	}
	BIO_free(bio);
	if (!c->subject[0])
		snprintf(c->subject, sizeof(c->subject), "(empty subject)");
}

/* Why SSL_do_handshake failed: the certificate, no certificate, the peer went away, or
 * anything else the peer did wrong. */
static void classify_failure(struct tunnel_conn *c, int ssl_err, int saved_errno)
{
	const char *verify = tls_verify_error(c->ssl);
	unsigned long e = ERR_peek_error();
	char reasons[240];

	c->fatal = true;
	if (verify) {
		c->failure = TUNNEL_HS_CERT_VERIFY;
		ERR_clear_error();
		snprintf(c->error, sizeof(c->error),
			 "client certificate refused: %s (is it issued by our --ca?)", verify);
		return;
	}
	if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
		c->failure = TUNNEL_HS_NO_CERT;
		ERR_clear_error();
		snprintf(c->error, sizeof(c->error),
			 "the peer sent no client certificate (agents need --cert/--key from our "
			 "CA)");
		return;
	}
	if (ssl_err == SSL_ERROR_ZERO_RETURN || (ssl_err == SSL_ERROR_SYSCALL && e == 0) ||
	    (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	     ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
		c->failure = TUNNEL_HS_PEER_CLOSED;
		ERR_clear_error();
		snprintf(c->error, sizeof(c->error), "the peer closed the connection%s%s",
			 saved_errno ? ": " : " (EOF)", saved_errno ? strerror(saved_errno) : "");
		return;
	}
	c->failure = TUNNEL_HS_PROTOCOL;
	tls_errors(reasons, sizeof(reasons), "", "unknown TLS error");
	snprintf(c->error, sizeof(c->error), "%s", reasons);
}

int tunnel_conn_handshake(struct tunnel_conn *c)
{
	int r, ssl_err, saved_errno;

	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->failure = TUNNEL_HS_OK;
		fill_subject(c);
		return 0;
	}
	saved_errno = errno;
	ssl_err = SSL_get_error(c->ssl, r);
	if (ssl_err == SSL_ERROR_WANT_READ)
		return 1;
	if (ssl_err == SSL_ERROR_WANT_WRITE)
		return 2;
	classify_failure(c, ssl_err, saved_errno);
	return c->failure == TUNNEL_HS_PEER_CLOSED ? -ECONNRESET
	       : c->failure == TUNNEL_HS_PROTOCOL  ? -EPROTO
						   : -EACCES;
}

ssize_t tunnel_conn_read(struct tunnel_conn *c, void *buf, size_t len)
{
	size_t got = 0;
	int r, ssl_err, saved_errno;
	char reasons[240];

	ERR_clear_error();
	errno = 0;
	r = SSL_read_ex(c->ssl, buf, len, &got);
	if (r == 1)
		return (ssize_t)got;
	saved_errno = errno;
	ssl_err = SSL_get_error(c->ssl, r);
	if (ssl_err == SSL_ERROR_WANT_READ || ssl_err == SSL_ERROR_WANT_WRITE)
		return -EAGAIN; /* no renegotiation; a KeyUpdate reply fits the socket */
	if (ssl_err == SSL_ERROR_ZERO_RETURN) {
		snprintf(c->error, sizeof(c->error), "closed by the peer (TLS close_notify)");
		return 0;
	}
	c->fatal = true;
	/* a plain EOF: OpenSSL 3's unexpected-EOF error, or SSL_ERROR_SYSCALL without a reason
	 * or errno (errno may hold a stale EAGAIN from an earlier read in the same call) */
	unsigned long e = ERR_peek_error();
	bool eof =
	    (ssl_err == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
	     ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) ||
	    (ssl_err == SSL_ERROR_SYSCALL && e == 0 && (saved_errno == 0 || saved_errno == EAGAIN));

	if (eof) {
		ERR_clear_error();
		snprintf(c->error, sizeof(c->error), "closed by the peer without TLS close_notify");
		return 0;
	}
	if (ssl_err == SSL_ERROR_SYSCALL && e == 0) {
		snprintf(c->error, sizeof(c->error), "connection error: %s", strerror(saved_errno));
		return -saved_errno;
	}
	tls_errors(reasons, sizeof(reasons), "", "unknown TLS error");
	snprintf(c->error, sizeof(c->error), "TLS error: %s", reasons);
	return -EPROTO;
}

bool tunnel_conn_pending(const struct tunnel_conn *c)
{
	return SSL_pending(c->ssl) > 0;
}

int tunnel_conn_fd(const struct tunnel_conn *c)
{
	return c->fd;
}

enum tunnel_hs_failure tunnel_conn_failure(const struct tunnel_conn *c)
{
	return c->failure;
}

const char *tunnel_conn_error(const struct tunnel_conn *c)
{
	return c->error[0] ? c->error : "no error";
}

const char *tunnel_conn_subject(const struct tunnel_conn *c)
{
	return c->subject[0] ? c->subject : "(not authenticated)";
}

const char *tunnel_conn_cipher(const struct tunnel_conn *c, char *out, size_t out_len)
{
	snprintf(out, out_len, "%s %s", SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
	return out;
}

void tunnel_conn_free(struct tunnel_conn *c)
{
	if (!c)
		return;
	if (!c->fatal && SSL_is_init_finished(c->ssl)) {
		ERR_clear_error();
		SSL_shutdown(c->ssl); /* best effort, non-blocking: one close_notify */
	}
	ERR_clear_error();
	SSL_free(c->ssl);
	close(c->fd);
	free(c);
}

const char *tunnel_hs_failure_name(enum tunnel_hs_failure f)
{
	switch (f) {
	case TUNNEL_HS_OK:
		return "none";
	case TUNNEL_HS_PROTOCOL:
		return "protocol";
	case TUNNEL_HS_NO_CERT:
		return "no_client_certificate";
	case TUNNEL_HS_CERT_VERIFY:
		return "certificate_rejected";
	case TUNNEL_HS_PEER_CLOSED:
		return "peer_closed";
	case TUNNEL_HS_TIMEOUT:
		return "timeout";
	}
	return "unknown";
}
