/* The OpenSSL contexts of both tunnel ends: mutual authentication against the operator's CA,
 * TLS 1.2 minimum (1.3 preferred), strong ciphers only; and OpenSSL errors in words. */
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* TLS 1.2: ECDHE (forward secrecy) with AEAD only. AES-128-GCM first: the fastest with AES-NI,
 * and the tunnel is throughput-bound. */
static const char tls12_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
				    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
				    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
static const char tls13_suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
static const char groups[] = "X25519:P-256:P-384";

const char *tls_errors(char *out, size_t out_len, const char *prefix, const char *fallback)
{
	size_t off;
	unsigned long e;
	int n = 0;

	snprintf(out, out_len, "%s", prefix);
	off = strlen(out);
	while ((e = ERR_get_error()) != 0) {
		const char *reason = ERR_reason_error_string(e);
		char tmp[64];

		if (!reason) {
			snprintf(tmp, sizeof(tmp), "OpenSSL error 0x%lx", e);
			reason = tmp;
		}
		if (off + 3 < out_len && n < 3) /* the first few say it all */
			off += (size_t)snprintf(out + off, out_len - off, "%s%s", n ? "; " : "",
						reason);
		if (off >= out_len)
			off = out_len - 1;
		n++;
	}
	if (!n && fallback)
		snprintf(out + off, out_len - off, "%s", fallback);
	return out;
}

const char *tls_verify_error(const SSL *ssl)
{
	long vr = SSL_get_verify_result(ssl);

	if (vr == X509_V_OK)
		return NULL;
	return X509_verify_cert_error_string(vr);
}

/* An encrypted key would make OpenSSL prompt on the terminal: refuse instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static SSL_TICKET_RETURN never_resume(SSL *s, SSL_SESSION *ss, const unsigned char *keyname,
				      size_t keyname_len, SSL_TICKET_STATUS status, void *arg)
{
	(void)s;
	(void)ss;
	(void)keyname;
	(void)keyname_len;
	(void)status;
	(void)arg;
	return SSL_TICKET_RETURN_IGNORE; /* a full handshake with a certificate, always */
}

static int ticket_received(SSL *ssl, SSL_SESSION *sess)
{
	bool *flag = SSL_get_app_data(ssl);

	(void)sess;
	if (flag)
		*flag = true;
	return 0; /* not kept */
}

static int file_error(char *err, size_t err_len, const char *what, const char *path,
		      const char *hint)
{
	char reason[256];
	struct stat st;

	if (stat(path, &st) < 0) {
		int e = errno;

		snprintf(err, err_len, "%s %s: %s%s", what, path, strerror(e), hint);
		ERR_clear_error();
		return -e;
	}
	tls_errors(reason, sizeof(reason), "", "not a usable PEM file");
	snprintf(err, err_len, "%s %s: %s%s", what, path, reason, hint);
	return -EINVAL;
}

static int load_files(SSL_CTX *ctx, const struct tunnel_tls_files *f, char *err, size_t err_len)
{
	static const char hint[] = " (make one with scripts/make-certs.sh)";

	if (!f->ca_path || !f->cert_path || !f->key_path) {
		snprintf(err, err_len, "CA, certificate and key files are all required");
		return -EINVAL;
	}
	if (SSL_CTX_load_verify_locations(ctx, f->ca_path, NULL) != 1)
		return file_error(err, err_len, "CA certificate (--ca)", f->ca_path, hint);
	if (SSL_CTX_use_certificate_chain_file(ctx, f->cert_path) != 1)
		return file_error(err, err_len, "certificate (--cert)", f->cert_path, hint);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (SSL_CTX_use_PrivateKey_file(ctx, f->key_path, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_last_error();

		if (ERR_GET_LIB(e) != ERR_LIB_X509 ||
		    (ERR_GET_REASON(e) != X509_R_KEY_VALUES_MISMATCH &&
		     ERR_GET_REASON(e) != X509_R_KEY_TYPE_MISMATCH))
			return file_error(err, err_len, "private key (--key)", f->key_path,
					  " (a PEM key without passphrase; make one with "
					  "scripts/make-certs.sh)");
		goto mismatch;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
	mismatch:
		ERR_clear_error();
		snprintf(err, err_len,
			 "private key (--key) %s does not belong to certificate (--cert) %s; give "
			 "the key that was made with this certificate",
			 f->key_path, f->cert_path);
		return -EINVAL;
	}
	return 0;
}

int tls_ctx_new(bool server, const struct tunnel_tls_files *files, SSL_CTX **out, char *err,
		size_t err_len)
{
	SSL_CTX *ctx;
	int ret;

	*out = NULL;
	ERR_clear_error();
	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx) {
		tls_errors(err, err_len, "cannot create a TLS context: ", "out of memory");
		return -ENOMEM;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, tls13_suites) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, groups) != 1) {
		tls_errors(err, err_len, "cannot configure TLS: ", "unknown error");
		ret = -EINVAL;
		goto cleanup;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_verify_depth(ctx, 4);
	X509_VERIFY_PARAM_set_hostflags(SSL_CTX_get0_param(ctx),
					X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (server) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		/* Every connection proves its certificate again: no session cache, and tickets
		 * are never accepted. One TLS 1.3 ticket is still sent: it tells the agent that
		 * its certificate was accepted (TLS 1.3 clients finish before the server has
		 * verified them). */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(ctx, 1);
		SSL_CTX_set_session_ticket_cb(ctx, NULL, never_resume, NULL);
		/* hundreds of mostly idle agents: give buffers back between records */
		SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		/* sessions are never reused; the callback only notes the collector's ticket */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
							SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, ticket_received);
		SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
					  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	}
	ret = load_files(ctx, files, err, err_len);
	if (ret)
		goto cleanup;
	*out = ctx;
	return 0;
cleanup:
	SSL_CTX_free(ctx);
	return ret;
}
