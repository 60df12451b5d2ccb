/* Agent side: from -t HOST[:PORT] to an authenticated TLS session with the collector. Name
 * resolution (IPv4 and IPv6), non-blocking TCP connect to each address in turn, and the TLS
 * handshake under one deadline; the collector's certificate must chain to --ca and name HOST
 * (subjectAltName DNS name or IP address). */
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void addr_text(const struct sockaddr *sa, socklen_t len, char *out, size_t out_len)
{
	char host[INET6_ADDRSTRLEN], port[8];

	if (getnameinfo(sa, len, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV)) {
		snprintf(out, out_len, "?");
		return;
	}
	snprintf(out, out_len, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* Non-blocking TCP connect. 0 with *fd, or a negative errno. */
static int tcp_connect(struct tunnel_client *tc, const struct addrinfo *ai, uint64_t deadline,
		       int *fd_out)
{
	int fd, err = 0, one = 1;
	socklen_t len = sizeof(err);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	COUNT(tc, connect_attempts, 1);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			err = -errno;
			goto fail;
		}
		err = client_wait(tc, fd, POLLOUT, deadline);
		if (err <= 0) {
			err = err ? err : -ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			err = -err;
			goto fail;
		}
	}
	*fd_out = fd;
	return 0;
fail:
	close(fd);
	return err;
}

/* Why the handshake failed, in words; counts certificate failures. */
static void handshake_failed(struct tunnel_client *tc, SSL *ssl, const char *where, int ssl_err,
			     int saved_errno)
{
	const char *verify = tls_verify_error(ssl);
	char reasons[240];

	COUNT(tc, handshake_failures, 1);
	if (verify) {
		COUNT(tc, cert_verify_failures, 1);
		ERR_clear_error();
		client_log(tc, TUNNEL_LOG_WARN,
			   "tunnel to %s: the collector's certificate is refused: %s (it must be "
			   "issued by --ca and name '%s' in subjectAltName; see "
			   "scripts/make-certs.sh -c %s)",
			   where, verify, tc->host, tc->host);
		return;
	}
	if (ssl_err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		client_log(tc, TUNNEL_LOG_WARN,
			   "tunnel to %s: connection lost during the TLS "
			   "handshake: %s",
			   where, saved_errno ? strerror(saved_errno) : "closed by the collector");
		return;
	}
	tls_errors(reasons, sizeof(reasons), "", "unknown TLS error");
	client_log(tc, TUNNEL_LOG_WARN, "tunnel to %s: TLS handshake failed: %s", where, reasons);
}

static bool certificate_alert(unsigned long e)
{
	switch (ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : 0) {
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
		return true;
	default:
		return false;
	}
}

/* TLS 1.3 clients finish their handshake before the collector has verified their
 * certificate: wait for the collector's session ticket (accepted) or its alert (refused).
 * TLS 1.2 handshakes end after the collector's verification, nothing to wait for. */
static int confirm_session(struct tunnel_client *tc, SSL *ssl, int fd, const char *where,
			   uint64_t deadline, const bool *ticket)
{
	char buf[256], reasons[240];
	size_t got;

	if (SSL_version(ssl) != TLS1_3_VERSION)
		return 0;
	while (!*ticket) {
		ERR_clear_error();
		errno = 0;
		if (SSL_read_ex(ssl, buf, sizeof(buf), &got) == 1)
			return 0; /* not expected, but it is alive and talking */
		int saved_errno = errno, e = SSL_get_error(ssl, 0);

		if (*ticket)
			break;
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			int r = client_wait(tc, fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
					    deadline);

			if (r == 0) {
				COUNT(tc, handshake_failures, 1);
				client_log(
				    tc, TUNNEL_LOG_WARN,
				    "tunnel to %s: the collector did not confirm the session "
				    "in time (is it an sslcollector collector?)",
				    where);
				return -ETIMEDOUT;
			}
			if (r < 0)
				return r;
			continue;
		}
		COUNT(tc, handshake_failures, 1);
		if (certificate_alert(ERR_peek_error())) {
			COUNT(tc, cert_verify_failures, 1);
			tls_errors(reasons, sizeof(reasons), "", "");
			client_log(
			    tc, TUNNEL_LOG_WARN,
			    "tunnel to %s: the collector refused our certificate (--cert): %s "
			    "(it must be issued by the collector's --ca)",
			    where, reasons);
		} else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
			client_log(tc, TUNNEL_LOG_WARN,
				   "tunnel to %s: the collector closed the connection after the "
				   "handshake: %s",
				   where, saved_errno ? strerror(saved_errno) : "end of stream");
		} else {
			tls_errors(reasons, sizeof(reasons), "", "closed");
			client_log(tc, TUNNEL_LOG_WARN,
				   "tunnel to %s: the collector ended the session during the "
				   "handshake: %s",
				   where, reasons);
		}
		return -ECONNREFUSED;
	}
	return 0;
}

static int tls_handshake(struct tunnel_client *tc, int fd, const char *where, uint64_t deadline,
			 SSL **out)
{
	SSL *ssl = SSL_new(tc->ctx);
	X509_VERIFY_PARAM *param;
	bool ticket = false;
	int r, err;

	if (!ssl || SSL_set_fd(ssl, fd) != 1) {
		ERR_clear_error();
		SSL_free(ssl);
		return -ENOMEM;
	}
	param = SSL_get0_param(ssl);
	if (is_ip(tc->host)) {
		r = X509_VERIFY_PARAM_set1_ip_asc(param, tc->host);
	} else {
		r = X509_VERIFY_PARAM_set1_host(param, tc->host, 0);
		if (r == 1)
			r = SSL_set_tlsext_host_name(ssl, tc->host);
	}
	if (r != 1) {
		ERR_clear_error();
		SSL_free(ssl);
		return -EINVAL;
	}
	SSL_set_connect_state(ssl);
	SSL_set_app_data(ssl, &ticket);
	for (;;) {
		ERR_clear_error();
		errno = 0;
		r = SSL_do_handshake(ssl);
		if (r == 1)
			break;
		int saved_errno = errno, ssl_err = SSL_get_error(ssl, r);

		if (ssl_err == SSL_ERROR_WANT_READ || ssl_err == SSL_ERROR_WANT_WRITE) {
			err = client_wait(tc, fd, ssl_err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
					  deadline);
			if (err == 0) {
				COUNT(tc, handshake_failures, 1);
				client_log(tc, TUNNEL_LOG_WARN,
					   "tunnel to %s: TLS handshake timed out (is it an "
					   "sslcollector collector?)",
					   where);
				err = -ETIMEDOUT;
			}
			if (err < 0)
				goto fail;
			continue;
		}
		handshake_failed(tc, ssl, where, ssl_err, saved_errno);
		err = -ECONNREFUSED;
		goto fail;
	}
	err = confirm_session(tc, ssl, fd, where, deadline, &ticket);
	SSL_set_app_data(ssl, NULL);
	if (err)
		goto fail;
	*out = ssl;
	return 0;
fail:
	SSL_set_app_data(ssl, NULL);
	SSL_free(ssl);
	return err;
}

void client_socket_down(struct tunnel_client *tc, int fd)
{
	if (tc->on_socket)
		tc->on_socket(tc->socket_ctx, fd, false);
}

int client_connect(struct tunnel_client *tc, SSL **ssl, int *fd)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL, *ai;
	char where[300];
	int err = -EHOSTUNREACH, gai;

	gai = getaddrinfo(tc->host, tc->port, &hints, &res);
	if (gai) {
		COUNT(tc, handshake_failures, 1);
		client_log(tc, TUNNEL_LOG_WARN, "tunnel to %s port %s: cannot resolve the name: %s",
			   tc->host, tc->port, gai_strerror(gai));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		uint64_t deadline = client_now_ms() + tc->handshake_timeout_ms;

		if (atomic_load(&tc->stopping)) {
			err = -ECANCELED;
			break;
		}
		addr_text(ai->ai_addr, ai->ai_addrlen, where, sizeof(where));
		err = tcp_connect(tc, ai, deadline, fd);
		if (err == -ECANCELED)
			break;
		if (err) {
			COUNT(tc, handshake_failures, 1);
			client_log(tc, TUNNEL_LOG_WARN, "tunnel to %s (%s): cannot connect: %s",
				   where, tc->host, strerror(-err));
			continue;
		}
		/* the agent excludes the connection from its own mirror before it carries a byte */
		if (tc->on_socket && (err = tc->on_socket(tc->socket_ctx, *fd, true)) < 0) {
			COUNT(tc, handshake_failures, 1);
			client_log(tc, TUNNEL_LOG_ERROR,
				   "tunnel to %s (%s): cannot keep the connection out of the "
				   "mirror: %s; not using it",
				   where, tc->host, strerror(-err));
			close(*fd);
			*fd = -1;
			continue;
		}
		err = tls_handshake(tc, *fd, where, deadline, ssl);
		if (!err)
			break;
		client_socket_down(tc, *fd);
		close(*fd);
		*fd = -1;
		if (err == -ECANCELED)
			break;
	}
	freeaddrinfo(res);
	return err;
}
