/* Prometheus text of the agent's tunnel counters (see tunnel_metrics.h). */
#include "tunnel_metrics.h"

#include <stdio.h>

#define P "sslcollector_tunnel_"

void tunnel_metrics_format(const struct tunnel_client_stats *st, uint64_t generation,
			   struct metrics_buf *m)
{
	static const char *const reasons[] = {"queue_full", "disconnected",
					      "discarded_on_disconnect", "too_large"};
	const uint64_t frames[] = {st->dropped_queue_full, st->dropped_disconnected,
				   st->discarded_on_disconnect, st->dropped_too_large};
	const uint64_t bytes[] = {st->dropped_queue_full_bytes, st->dropped_disconnected_bytes,
				  st->discarded_on_disconnect_bytes, 0};
	char labels[64];

	metrics_single(m, P "connect_attempts_total", "counter",
		       "TCP connections tried to the collector", st->connect_attempts);
	metrics_single(m, P "connections_total", "counter",
		       "TLS sessions established with the collector", st->connections);
	metrics_single(m, P "handshake_failures_total", "counter",
		       "Connection attempts that failed (resolution, TCP, TLS handshake, timeout)",
		       st->handshake_failures);
	metrics_single(m, P "certificate_verify_failures_total", "counter",
		       "Handshakes where the collector's certificate or name was refused",
		       st->cert_verify_failures);
	metrics_single(m, P "disconnections_total", "counter", "Established sessions that ended",
		       st->disconnections);
	metrics_single(m, P "connected", "gauge", "1 while a session with the collector is up",
		       st->connected);
	metrics_single(m, P "generation", "counter",
		       "Sessions so far; mirrored connections restart when it changes", generation);
	metrics_single(m, P "frames_queued_total", "counter", "Frames accepted into the send queue",
		       st->frames_queued);
	metrics_single(m, P "bytes_queued_total", "counter", "Bytes of those frames",
		       st->bytes_queued);
	metrics_single(m, P "frames_sent_total", "counter",
		       "Frames written whole to the TLS session", st->frames_sent);
	metrics_single(m, P "bytes_sent_total", "counter", "Bytes of those frames", st->bytes_sent);
	metrics_family(m, P "frames_dropped_total", "counter",
		       "Frames not sent, by reason (the IDS sees a gap)");
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		snprintf(labels, sizeof(labels), "reason=\"%s\"", reasons[i]);
		metrics_sample(m, P "frames_dropped_total", labels, frames[i]);
	}
	metrics_family(m, P "bytes_dropped_total", "counter", "Bytes of those frames, by reason");
	for (size_t i = 0; i < 3; i++) {
		snprintf(labels, sizeof(labels), "reason=\"%s\"", reasons[i]);
		metrics_sample(m, P "bytes_dropped_total", labels, bytes[i]);
	}
	metrics_single(m, P "queue_bytes", "gauge", "Bytes waiting in the send queue",
		       st->queue_used);
	metrics_single(m, P "queue_capacity_bytes", "gauge",
		       "Size of the send queue (--queue-size)", st->queue_size);
}
