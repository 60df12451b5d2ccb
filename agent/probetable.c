/* The probes of each TLS library; see probetable.h and the BPF side (bpf/capture.bpf.c,
 * capture_gnutls.h, capture_nss.h). */
#include "probetable.h"
#include "capture_bpf.skel.h"

#define PROG(name) offsetof(struct capture_bpf, progs.name)

static const struct probe_def openssl_probes[] = {
    /* SSL_read/SSL_write(_ex) all forward to these: one cheap probe for all four */
    {"ssl_write_internal", false, false, WRITE_INTERNAL, PROG(ssl_write_ex_enter)},
    {"ssl_write_internal", true, false, WRITE_INTERNAL, PROG(ssl_write_ex_exit)},
    {"ssl_read_internal", false, false, READ_INTERNAL, PROG(ssl_read_ex_enter)},
    {"ssl_read_internal", true, false, READ_INTERNAL, PROG(ssl_read_ex_exit)},
    /* else the exported functions */
    {"SSL_write", false, true, NO_WRITE_INTERNAL, PROG(ssl_write_enter)},
    {"SSL_write", true, true, NO_WRITE_INTERNAL, PROG(ssl_write_exit)},
    {"SSL_read", false, true, NO_READ_INTERNAL, PROG(ssl_read_enter)},
    {"SSL_read", true, true, NO_READ_INTERNAL, PROG(ssl_read_exit)},
    /* OpenSSL >= 1.1.1; Python, Node and newer programs use only these */
    {"SSL_write_ex", false, false, NO_WRITE_INTERNAL, PROG(ssl_write_ex_enter)},
    {"SSL_write_ex", true, false, NO_WRITE_INTERNAL, PROG(ssl_write_ex_exit)},
    {"SSL_read_ex", false, false, NO_READ_INTERNAL, PROG(ssl_read_ex_enter)},
    {"SSL_read_ex", true, false, NO_READ_INTERNAL, PROG(ssl_read_ex_exit)},
    /* the socket is learnt during the handshake already (read-ahead, see the BPF side);
     * SSL_accept and SSL_connect call SSL_do_handshake */
    {"SSL_do_handshake", false, false, ALWAYS, PROG(ssl_handshake_enter)},
    {"SSL_do_handshake", true, false, ALWAYS, PROG(ssl_handshake_exit)},
    {"SSL_accept", false, false, NO_DO_HANDSHAKE, PROG(ssl_handshake_enter)},
    {"SSL_accept", true, false, NO_DO_HANDSHAKE, PROG(ssl_handshake_exit)},
    {"SSL_connect", false, false, NO_DO_HANDSHAKE, PROG(ssl_handshake_enter)},
    {"SSL_connect", true, false, NO_DO_HANDSHAKE, PROG(ssl_handshake_exit)},
    {"SSL_shutdown", false, false, ALWAYS, PROG(ssl_shutdown_enter)},
    {"SSL_free", false, false, ALWAYS, PROG(ssl_free_enter)},
};

/* GnuTLS >= 3.6.3 (gnutls_record_send is a forwarder to gnutls_record_send2 there: probing
 * both would trap twice per send) */
static const struct probe_def gnutls_probes[] = {
    {"gnutls_record_send2", false, true, ALWAYS, PROG(gnutls_send_enter)},
    {"gnutls_record_send2", true, true, ALWAYS, PROG(gnutls_send_exit)},
    {"gnutls_record_send_range", false, false, ALWAYS, PROG(gnutls_send_enter)},
    {"gnutls_record_send_range", true, false, ALWAYS, PROG(gnutls_send_exit)},
    /* both receive functions end in _gnutls_recv_int, which begins with a push */
    {"_gnutls_recv_int", false, false, READ_INTERNAL, PROG(gnutls_recv_int_enter)},
    {"_gnutls_recv_int", true, false, READ_INTERNAL, PROG(gnutls_recv_exit)},
    {"gnutls_record_recv", false, true, NO_READ_INTERNAL, PROG(gnutls_recv_enter)},
    {"gnutls_record_recv", true, true, NO_READ_INTERNAL, PROG(gnutls_recv_exit)},
    {"gnutls_record_recv_seq", false, false, NO_READ_INTERNAL, PROG(gnutls_recv_enter)},
    {"gnutls_record_recv_seq", true, false, NO_READ_INTERNAL, PROG(gnutls_recv_exit)},
    {"gnutls_handshake", false, false, ALWAYS, PROG(gnutls_handshake_enter)},
    {"gnutls_handshake", true, false, ALWAYS, PROG(ssl_handshake_exit)},
    {"gnutls_bye", false, false, ALWAYS, PROG(ssl_shutdown_enter)},
    {"gnutls_deinit", false, false, ALWAYS, PROG(ssl_free_enter)},
};

/* NSS's libssl3: where SSL descriptors are made (bpf/capture_nss.h) */
static const struct probe_def nss_probes[] = {
    {"SSL_ImportFD", true, true, ALWAYS, PROG(nss_import_exit)},
    {"SSL_ForceHandshake", false, false, ALWAYS, PROG(nss_handshake_enter)},
    {"SSL_ForceHandshake", true, false, ALWAYS, PROG(ssl_handshake_exit)},
};

/* NSPR's libnspr4: the reads and writes of every descriptor; only SSL ones are kept */
static const struct probe_def nspr_probes[] = {
    {"PR_Write", false, true, ALWAYS, PROG(nss_write_enter)},
    {"PR_Write", true, true, ALWAYS, PROG(ssl_write_exit)},
    {"PR_Read", false, true, ALWAYS, PROG(nss_read_enter)},
    {"PR_Read", true, true, ALWAYS, PROG(ssl_read_exit)},
    {"PR_Send", false, false, ALWAYS, PROG(nss_write_enter)},
    {"PR_Send", true, false, ALWAYS, PROG(ssl_write_exit)},
    {"PR_Recv", false, false, ALWAYS, PROG(nss_recv_enter)},
    {"PR_Recv", true, false, ALWAYS, PROG(ssl_read_exit)},
    {"PR_Writev", false, false, ALWAYS, PROG(nss_writev_enter)},
    {"PR_Writev", true, false, ALWAYS, PROG(nss_writev_exit)},
    {"PR_Close", false, false, ALWAYS, PROG(ssl_free_enter)},
};

#define N(a) (sizeof(a) / sizeof(a[0]))
_Static_assert(N(openssl_probes) <= PROBES_MAX && N(gnutls_probes) <= PROBES_MAX &&
		   N(nss_probes) <= PROBES_MAX && N(nspr_probes) <= PROBES_MAX,
	       "PROBES_MAX");

const struct probe_def *probetable_for(int kind, size_t *n)
{
	switch (kind) {
	case TLS_KIND_OPENSSL:
		*n = N(openssl_probes);
		return openssl_probes;
	case TLS_KIND_GNUTLS:
		*n = N(gnutls_probes);
		return gnutls_probes;
	case TLS_KIND_NSS:
		*n = N(nss_probes);
		return nss_probes;
	case TLS_KIND_NSPR:
		*n = N(nspr_probes);
		return nspr_probes;
	default:
		*n = 0;
		return NULL;
	}
}

static const size_t programs[] = {
    PROG(ssl_write_enter),	 PROG(ssl_write_exit),	    PROG(ssl_read_enter),
    PROG(ssl_read_exit),	 PROG(ssl_write_ex_enter),  PROG(ssl_write_ex_exit),
    PROG(ssl_read_ex_enter),	 PROG(ssl_read_ex_exit),    PROG(ssl_handshake_enter),
    PROG(ssl_handshake_exit),	 PROG(ssl_shutdown_enter),  PROG(ssl_free_enter),
    PROG(gnutls_send_enter),	 PROG(gnutls_send_exit),    PROG(gnutls_recv_enter),
    PROG(gnutls_recv_int_enter), PROG(gnutls_recv_exit),    PROG(gnutls_handshake_enter),
    PROG(nss_import_exit),	 PROG(nss_handshake_enter), PROG(nss_write_enter),
    PROG(nss_read_enter),	 PROG(nss_recv_enter),	    PROG(nss_writev_enter),
    PROG(nss_writev_exit),
};

const size_t *probetable_programs(size_t *n)
{
	*n = N(programs);
	return programs;
}
