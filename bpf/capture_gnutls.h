// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Part of capture.bpf.c: GnuTLS. A session (gnutls_session_t) is an SSL object to the rest of
 * the capture: the same call records, socket binding and events, with SSLC_LIB_GNUTLS.
 *
 *   ssize_t gnutls_record_send2(gnutls_session_t, const void *data, size_t size, size_t pad,
 *                               unsigned flags);  (gnutls_record_send only forwards to it)
 *   ssize_t gnutls_record_send_range(gnutls_session_t, const void *data, size_t size,
 *                                    const gnutls_range_st *range);
 *   ssize_t gnutls_record_recv(gnutls_session_t, void *data, size_t size);
 *   ssize_t gnutls_record_recv_seq(gnutls_session_t, void *data, size_t size,
 *                                  unsigned char *seq);
 *   ssize_t _gnutls_recv_int(gnutls_session_t, content_type_t type, uint8_t *data,
 *                            size_t size, void *seq, unsigned ms);  (internal: both receive
 *                            functions end in it; agent/probesite_gnutls.c)
 *
 * A return > 0 is the bytes transferred, 0 the end of the stream, < 0 an error such as
 * GNUTLS_E_AGAIN. A send interrupted so (non-blocking socket) has encrypted its record
 * already; the application repeats the call with the same arguments, or with NULL and 0, and
 * that call returns the byte count: captured from its buffer then, or, for NULL, reported as
 * a gap of that exact length (the plaintext is not in the application's hands any more). The
 * end: gnutls_bye and gnutls_deinit (the OpenSSL programs: their first argument is the
 * session too). */
#ifndef SSLC_CAPTURE_GNUTLS_H
#define SSLC_CAPTURE_GNUTLS_H

#define GNUTLS_APPLICATION_DATA 23 /* content_type_t */

SEC("uprobe")
int BPF_UPROBE(gnutls_send_enter, void *session, const void *data, size_t size)
{
	return call_enter((__u64)session, (__u64)data, size, 0, SSLC_FUNC_WRITE, SSLC_LIB_GNUTLS);
}

SEC("uprobe")
int BPF_UPROBE(gnutls_recv_enter, void *session, void *data, size_t size)
{
	return call_enter((__u64)session, (__u64)data, size, 0, SSLC_FUNC_READ, SSLC_LIB_GNUTLS);
}

/* The internal receive: alerts (gnutls_bye) and heartbeats come through it too. */
SEC("uprobe")
int BPF_UPROBE(gnutls_recv_int_enter, void *session, int type, void *data, size_t size)
{
	if (type != GNUTLS_APPLICATION_DATA)
		return 0;
	return call_enter((__u64)session, (__u64)data, size, 0, SSLC_FUNC_READ, SSLC_LIB_GNUTLS);
}

SEC("uprobe")
int BPF_UPROBE(gnutls_handshake_enter, void *session)
{
	return call_enter((__u64)session, 0, 0, 0, SSLC_FUNC_HANDSHAKE, SSLC_LIB_GNUTLS);
}

SEC("uretprobe")
int BPF_URETPROBE(gnutls_send_exit, long ret)
{
	return call_exit(ret, SSLC_FUNC_WRITE);
}

SEC("uretprobe")
int BPF_URETPROBE(gnutls_recv_exit, long ret)
{
	return call_exit(ret, SSLC_FUNC_READ);
}

#endif
