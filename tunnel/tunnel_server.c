/* Collector side of the tunnel: non-blocking TLS accept of an agent's connection with a
 * required client certificate (clientAuth, not revoked, accepted by the collector's peer
 * check), the reason a handshake failed, the peer's subject, and reads of the decrypted
 * PCAP-over-IP stream. */
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tunnel_server {
	SSL_CTX *ctx;
	tunnel_peer_check_fn check;
	void *check_ctx;
};

struct tunnel_conn {
	struct tunnel_server *srv;
	SSL *ssl;
	int fd;
	bool fatal;	      /* no close_notify after a fatal error (OpenSSL forbids it) */
	bool want_write;      /* the last read wants the socket writable */
	bool policy_set;      /* policy_failure and error come from our own check */
	uint64_t key_updates; /* KeyUpdate messages received */
	enum tunnel_hs_failure failure, policy_failure;
	char subject[256];
	char error[320];
};

/* RFC 2253 with control and non-ASCII characters escaped: safe for logs and labels. */
static void subject_text(X509 *cert, char *out, size_t out_len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int n;

	snprintf(out, out_len, "(no subject)");
	if (!cert || !bio) {
		BIO_free(bio);
		return;
	}
	if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
		n = BIO_read(bio, out, (int)out_len - 1);
		out[n > 0 ? n : 0] = '\0';
	}
	BIO_free(bio);
	if (!out[0])
		snprintf(out, out_len, "(empty subject)");
}

/* What we require of an agent's certificate beyond the chain: the clientAuth usage named
 * (a certificate without extendedKeyUsage is not an agent's), then the collector's check. */
static bool peer_policy(struct tunnel_conn *c, X509 *leaf)
{
	char subject[256];
	uint8_t md[32];
	unsigned md_len = 0;

	if (!(X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) ||
	    !(X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT)) {
		c->policy_failure = TUNNEL_HS_CERT_VERIFY;
		snprintf(
		    c->error, sizeof(c->error),
		    "client certificate refused: its extendedKeyUsage does not name clientAuth "
		    "(agents' certificates from scripts/make-certs.sh -a do)");
		return false;
	}
	if (!c->srv->check)
		return true;
	subject_text(leaf, subject, sizeof(subject));
	if (X509_digest(leaf, EVP_sha256(), md, &md_len) != 1 || md_len != sizeof(md)) {
		c->policy_failure = TUNNEL_HS_PROTOCOL;
		snprintf(c->error, sizeof(c->error), "cannot hash the client certificate");
		return false;
	}
	char why[200] = "";

	if (c->srv->check(c->srv->check_ctx, subject, md, why, sizeof(why)))
		return true;
	c->policy_failure = TUNNEL_HS_NOT_ALLOWED;
	snprintf(c->error, sizeof(c->error), "client certificate %s refused: %s", subject,
		 why[0] ? why : "not allowed");
	return false;
}

/* Counts the peer's KeyUpdates (a genuine agent sends one per TUNNEL_KEEPALIVE_MS when idle;
 * each costs a key derivation, so a flood of them is a way to load the collector). */
static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
		   SSL *ssl, void *arg)
{
	struct tunnel_conn *c;

	(void)version;
	(void)arg;
	if (write_p || content_type != SSL3_RT_HANDSHAKE || len < 1 ||
	    ((const uint8_t *)buf)[0] != SSL3_MT_KEY_UPDATE)
		return;
	if ((c = SSL_get_app_data(ssl)))
		c->key_updates++;
}

static int verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tunnel_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;

	if (!ok || !c || X509_STORE_CTX_get_error_depth(x) != 0)
		return ok;
	if (peer_policy(c, X509_STORE_CTX_get_current_cert(x)))
		return 1;
	c->policy_set = true;
	X509_STORE_CTX_set_error(x, c->policy_failure == TUNNEL_HS_CERT_VERIFY
					? X509_V_ERR_INVALID_PURPOSE
					: X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

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
	SSL_CTX_set_verify(srv->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	/* an agent's chain is a few KiB: bound what a peer can make us hold before it is known */
	SSL_CTX_set_max_cert_list(srv->ctx, TUNNEL_MAX_CERT_LIST);
	/* one record per SSL_read: a peer's non-data records (KeyUpdate...) end the read, so the
	 * collector's per-turn record budget bounds them too; read-ahead takes many small records
	 * in one system call */
	SSL_CTX_clear_mode(srv->ctx, SSL_MODE_AUTO_RETRY);
	SSL_CTX_set_msg_callback(srv->ctx, msg_cb);
	SSL_CTX_set_read_ahead(srv->ctx, 1);
	*out = srv;
	return 0;
}

void tunnel_server_set_peer_check(struct tunnel_server *srv, tunnel_peer_check_fn fn, void *ctx)
{
	srv->check = fn;
	srv->check_ctx = ctx;
}

/* Is crl issued and signed by one of the CA certificates of store, and still current? */
static int check_crl(X509_STORE *store, X509_CRL *crl, const char *what, char *err, size_t err_len)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	bool signed_by_ca = false;

	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509 *ca = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));

		if (ca && !X509_NAME_cmp(X509_get_subject_name(ca), X509_CRL_get_issuer(crl)) &&
		    X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1)
			signed_by_ca = true;
	}
	ERR_clear_error();
	if (!signed_by_ca) {
		snprintf(err, err_len, "%s: a revocation list not issued and signed by the --ca",
			 what);
		return -EINVAL;
	}
	if (next && X509_cmp_current_time(next) < 0) {
		snprintf(err, err_len,
			 "%s: the revocation list has expired (its nextUpdate has passed; make a "
			 "fresh one, e.g. scripts/make-certs.sh --crl)",
			 what);
		return -EINVAL;
	}
	return 0;
}

static int add_crls(X509_STORE *store, const char *path, unsigned *n, char *err, size_t err_len)
{
	BIO *bio = BIO_new_file(path, "r");
	STACK_OF(X509_INFO) * infos;
	char what[300];
	int ret = 0;

	snprintf(what, sizeof(what), "--crl %s", path);
	if (!bio) {
		ERR_clear_error();
		snprintf(err, err_len, "%s: cannot open: %s", what, strerror(errno ? errno : EIO));
		return -ENOENT;
	}
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!infos) {
		tls_errors(err, err_len, "", "not a PEM file");
		snprintf(what + strlen(what), sizeof(what) - strlen(what), ": %s", err);
		snprintf(err, err_len, "%s", what);
		return -EINVAL;
	}
	for (int i = 0; i < sk_X509_INFO_num(infos) && !ret; i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);

		if (!xi->crl)
			continue;
		if (!(ret = check_crl(store, xi->crl, what, err, err_len))) {
			if (X509_STORE_add_crl(store, xi->crl) != 1) {
				tls_errors(err, err_len, "cannot add the revocation list: ", "");
				ret = -EINVAL;
			}
			(*n)++;
		}
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	if (!ret && !*n) {
		snprintf(err, err_len, "%s: holds no revocation list (X509 CRL in PEM)", what);
		ret = -EINVAL;
	}
	return ret;
}

int tunnel_server_load_crls(struct tunnel_server *srv, const char *ca_path, const char *crl_path,
			    unsigned *n_crls, char *err, size_t err_len)
{
	X509_STORE *store = X509_STORE_new();
	STACK_OF(X509_OBJECT) * objs;
	unsigned n = 0;
	int ret = 0;

	*n_crls = 0;
	ERR_clear_error();
	if (!store) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	if (X509_STORE_load_file(store, ca_path) != 1) {
		tls_errors(err, err_len, "", "not a PEM file");
		snprintf(err + strlen(err), err_len - strlen(err), " (--ca %s)", ca_path);
		X509_STORE_free(store);
		return -EINVAL;
	}
	/* revocation lists inside --ca count as much as those of --crl */
	objs = X509_STORE_get0_objects(store);
	for (int i = 0; i < sk_X509_OBJECT_num(objs) && !ret; i++) {
		X509_CRL *crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objs, i));
		char what[300];

		snprintf(what, sizeof(what), "--ca %s", ca_path);
		if (crl && !(ret = check_crl(store, crl, what, err, err_len)))
			n++;
	}
	if (!ret && crl_path)
		ret = add_crls(store, crl_path, &n, err, err_len);
	if (ret) {
		X509_STORE_free(store);
		return ret;
	}
	if (n)
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	SSL_CTX_set_cert_store(srv->ctx, store); /* frees the old store */
	*n_crls = n;
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
	c->srv = srv;
	c->ssl = SSL_new(srv->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1 || SSL_set_app_data(c->ssl, c) != 1) {
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
	subject_text(SSL_get0_peer_certificate(c->ssl), c->subject, sizeof(c->subject));
}

/* Why SSL_do_handshake failed: the certificate, no certificate, the peer went away, or
 * anything else the peer did wrong. */
static void classify_failure(struct tunnel_conn *c, int ssl_err, int saved_errno)
{
	const char *verify = tls_verify_error(c->ssl);
	unsigned long e = ERR_peek_error();
	char reasons[240];

	c->fatal = true;
	if (c->policy_set) { /* our own check refused it; c->error says why */
		c->failure = c->policy_failure;
		ERR_clear_error();
		return;
	}
	if (verify && SSL_get_verify_result(c->ssl) == X509_V_ERR_CERT_REVOKED) {
		c->failure = TUNNEL_HS_REVOKED;
		ERR_clear_error();
		snprintf(c->error, sizeof(c->error),
			 "client certificate refused: revoked (on the CRL of --crl or --ca)");
		return;
	}
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
	c->want_write = false;
	r = SSL_read_ex(c->ssl, buf, len, &got);
	if (r == 1)
		return (ssize_t)got;
	saved_errno = errno;
	ssl_err = SSL_get_error(c->ssl, r);
	if (ssl_err == SSL_ERROR_WANT_READ)
		return -EAGAIN;
	if (ssl_err == SSL_ERROR_WANT_WRITE) { /* a KeyUpdate answer that does not fit now */
		c->want_write = true;
		return -EAGAIN;
	}
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
	return SSL_has_pending(c->ssl) == 1; /* read-ahead: records not yet decrypted count */
}

bool tunnel_conn_wants_write(const struct tunnel_conn *c)
{
	return c->want_write;
}

uint64_t tunnel_conn_key_updates(const struct tunnel_conn *c)
{
	return c->key_updates;
}

uint64_t tunnel_conn_bytes_in(const struct tunnel_conn *c)
{
	return BIO_number_read(SSL_get_rbio(c->ssl));
}

bool tunnel_conn_fingerprint(const struct tunnel_conn *c, uint8_t out[32])
{
	X509 *peer = SSL_get0_peer_certificate(c->ssl);
	unsigned len = 0;

	return peer && X509_digest(peer, EVP_sha256(), out, &len) == 1 && len == 32;
}

int tunnel_conn_recheck(struct tunnel_conn *c)
{
	X509 *leaf = SSL_get0_peer_certificate(c->ssl);
	X509_STORE_CTX *x = X509_STORE_CTX_new();
	int ok = 0, vr = X509_V_ERR_UNSPECIFIED;

	if (leaf && x &&
	    X509_STORE_CTX_init(x, SSL_CTX_get_cert_store(c->srv->ctx), leaf,
				SSL_get_peer_cert_chain(c->ssl)) == 1 &&
	    X509_STORE_CTX_set_default(x, "ssl_client") == 1) {
		X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(x), 4);
		ok = X509_verify_cert(x) == 1;
		vr = X509_STORE_CTX_get_error(x);
	}
	X509_STORE_CTX_free(x);
	ERR_clear_error();
	if (!ok) {
		c->failure =
		    vr == X509_V_ERR_CERT_REVOKED ? TUNNEL_HS_REVOKED : TUNNEL_HS_CERT_VERIFY;
		snprintf(c->error, sizeof(c->error), "client certificate no longer valid: %s",
			 X509_verify_cert_error_string(vr));
		return -EACCES;
	}
	if (!peer_policy(c, leaf)) {
		c->failure = c->policy_failure;
		return -EACCES;
	}
	return 0;
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
	case TUNNEL_HS_REVOKED:
		return "certificate_revoked";
	case TUNNEL_HS_NOT_ALLOWED:
		return "not_allowed";
	case TUNNEL_HS_N:
		break;
	}
	return "unknown";
}
