/* The collector's health metrics in Prometheus text format and its periodic log summary
 * (names documented in docs/metrics.md). */
#include "collector_stats.h"

#include <inttypes.h>
#include <stdio.h>

#define P "sslcollector_collector_"

const char *refuse_reason_name(enum refuse_reason r)
{
	static const char *const names[REFUSE_N] = {"handshakes_full", "max_agents",
						    "vlan_exhausted", "source_limit"};

	return r < REFUSE_N ? names[r] : "unknown";
}

const char *disconnect_reason_name(enum disconnect_reason r)
{
	static const char *const names[DISC_N] = {
	    "peer_closed", "malformed", "connection_error", "shutdown",
	    "idle",	   "replaced",	"unauthorised",	    "key_update_flood"};

	return r < DISC_N ? names[r] : "unknown";
}

static void labelled(struct metrics_buf *m, const char *name, const char *key, const char *value,
		     uint64_t v)
{
	char esc[320], labels[400];

	metrics_escape(value, esc, sizeof(esc));
	snprintf(labels, sizeof(labels), "%s=\"%s\"", key, esc);
	metrics_sample(m, name, labels, v);
}

static void format_handshakes(const struct collector_stats *st, struct metrics_buf *m)
{
	metrics_single(m, P "connections_accepted_total", "counter",
		       "TCP connections accepted from would-be agents (connection attempts)",
		       st->accepted);
	metrics_family(m, P "connections_refused_total", "counter",
		       "Connections closed at once because a limit was reached");
	for (int r = 0; r < REFUSE_N; r++)
		labelled(m, P "connections_refused_total", "reason", refuse_reason_name(r),
			 st->refused[r]);
	metrics_single(m, P "handshakes_completed_total", "counter",
		       "TLS handshakes completed with a valid agent certificate", st->handshakes);
	metrics_family(m, P "handshake_failures_total", "counter",
		       "TLS handshakes that failed, by reason");
	for (int f = TUNNEL_HS_PROTOCOL; f < TUNNEL_HS_N; f++)
		labelled(m, P "handshake_failures_total", "reason", tunnel_hs_failure_name(f),
			 st->hs_failures[f]);
	metrics_single(m, P "certificate_verify_failures_total", "counter",
		       "Client certificates presented but refused (other CA, expired, wrong use)",
		       st->cert_verify_failures);
	metrics_family(m, P "disconnections_total", "counter",
		       "Authenticated agent sessions that ended, by reason");
	for (int r = 0; r < DISC_N; r++)
		labelled(m, P "disconnections_total", "reason", disconnect_reason_name(r),
			 st->disconnections[r]);
	metrics_single(m, P "agents_connected", "gauge", "Authenticated agent sessions up now",
		       st->agents_connected);
	metrics_single(m, P "handshakes_in_progress", "gauge",
		       "Connections still in their TLS handshake", st->handshakes_in_progress);
	metrics_single(m, P "max_agents", "gauge",
		       "Agent sessions allowed at once (--max-agents, or less to fit the open-file "
		       "limit)",
		       st->max_agents);
	metrics_single(m, P "max_handshakes", "gauge",
		       "TLS handshakes allowed in progress at once (--max-handshakes)",
		       st->max_handshakes);
	metrics_single(m, P "accept_pauses_total", "counter",
		       "Times accepting was paused for 250 ms because no file descriptor was left",
		       st->accept_pauses);
}

static void format_policy(const struct collector_stats *st, struct metrics_buf *m)
{
	static const char *const cuts[CUT_N] = {"bytes", "records", "time"};

	metrics_family(m, P "turns_cut_total", "counter",
		       "Loop turns in which an agent was served up to a budget, then made to wait "
		       "for the others, by the budget that ran out");
	for (int i = 0; i < CUT_N; i++)
		labelled(m, P "turns_cut_total", "budget", cuts[i], st->turns_cut[i]);
	metrics_single(m, P "certificate_conflicts_total", "counter",
		       "Sessions whose subject was connected with another certificate at the time",
		       st->certificate_conflicts);
	metrics_single(m, P "frames_not_tcp_total", "counter",
		       "Frames dropped by --tcp-only: neither IPv4 nor IPv6 TCP",
		       st->frames_not_tcp);
	metrics_single(m, P "reloads_total", "counter",
		       "SIGHUP: --crl and --allow read again and the sessions checked",
		       st->reloads);
	metrics_single(m, P "reload_failures_total", "counter",
		       "Reloads that failed (the lists in force were kept)", st->reload_failures);
}

static void format_traffic(const struct collector_stats *st, struct metrics_buf *m)
{
	metrics_single(m, P "records_received_total", "counter",
		       "Valid PCAP-over-IP records (frames) received from agents", st->records);
	metrics_single(m, P "bytes_received_total", "counter", "Bytes of those frames", st->bytes);
	metrics_family(m, P "malformed_total", "counter",
		       "Agent streams dropped for an invalid header or record, by the first error");
	for (int e = 1; e <= -PCAP_STREAM_ERR_TRUNCATED; e++)
		labelled(m, P "malformed_total", "reason", pcap_stream_error_name(-e),
			 st->malformed[e]);

	metrics_family(m, P "frames_injected_total", "counter",
		       "Frames sent on -o or written to -w, by output");
	for (size_t i = 0; i < st->n_outputs; i++) {
		struct output_stats os;

		output_get_stats(st->outputs[i], &os);
		labelled(m, P "frames_injected_total", "output", output_name(st->outputs[i]),
			 os.frames);
	}
	metrics_family(m, P "bytes_injected_total", "counter", "Bytes of those frames");
	for (size_t i = 0; i < st->n_outputs; i++) {
		struct output_stats os;

		output_get_stats(st->outputs[i], &os);
		labelled(m, P "bytes_injected_total", "output", output_name(st->outputs[i]),
			 os.bytes);
	}
	metrics_family(m, P "frames_cut_total", "counter",
		       "Frames of -o sent in runs that the kernel cut (TX offload off)");
	for (size_t i = 0; i < st->n_outputs; i++) {
		struct output_stats os;

		if (output_packet_cuts(st->outputs[i]) < 0)
			continue;
		output_get_stats(st->outputs[i], &os);
		labelled(m, P "frames_cut_total", "output", output_name(st->outputs[i]),
			 os.cut_frames);
	}
	metrics_family(m, P "files_completed_total", "counter",
		       "Files of -w completed and renamed by --rotate-size/--rotate-time");
	for (size_t i = 0; i < st->n_outputs; i++) {
		struct output_stats os;

		if (!output_pcap_rotates(st->outputs[i]))
			continue;
		output_get_stats(st->outputs[i], &os);
		labelled(m, P "files_completed_total", "output", output_name(st->outputs[i]),
			 os.files_completed);
	}
	metrics_family(m, P "frames_dropped_total", "counter",
		       "Valid frames that an output refused (interface down, device queue full, "
		       "write error), by output and reason");
	for (size_t i = 0; i < st->n_outputs; i++) {
		struct output_stats os;
		char esc[320], labels[400];

		output_get_stats(st->outputs[i], &os);
		metrics_escape(output_name(st->outputs[i]), esc, sizeof(esc));
		snprintf(labels, sizeof(labels), "output=\"%s\",reason=\"output_refused\"", esc);
		metrics_sample(m, P "frames_dropped_total", labels, os.dropped);
	}
}

static void format_agents(const struct collector_stats *st, struct metrics_buf *m)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
	    {P "agent_connected", "gauge", "Sessions up now, per certificate subject"},
	    {P "agent_connections_total", "counter", "Authenticated sessions, per subject"},
	    {P "agent_records_received_total", "counter", "Valid records, per subject"},
	    {P "agent_bytes_received_total", "counter", "Bytes of valid frames, per subject"},
	    {P "agent_malformed_total", "counter", "Sessions dropped as malformed, per subject"},
	    {P "agent_vlan", "gauge", "VLAN id given to the subject's frames (0: none)"},
	};

	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		metrics_family(m, fam[f].name, fam[f].type, fam[f].help);
		for (size_t i = 0; i < st->n_subjects; i++) {
			const struct subject_stats *s = st->subjects[i];
			const uint64_t v[] = {s->connected, s->connections, s->records,
					      s->bytes,	    s->malformed,   (uint64_t)s->vlan};

			metrics_sample(m, fam[f].name, s->label, v[f]);
		}
	}
}

void collector_stats_format(const struct collector_stats *st, struct metrics_buf *m)
{
	format_handshakes(st, m);
	format_traffic(st, m);
	format_policy(st, m);
	format_agents(st, m);
}

void collector_stats_summary(const struct collector_stats *st, struct collector_summary_prev *prev,
			     unsigned period_s, char *out, size_t out_len)
{
	struct collector_summary_prev now = {
	    .accepted = st->accepted, .records = st->records, .bytes = st->bytes};
	uint64_t injected = 0, dropped = 0;

	for (int f = TUNNEL_HS_PROTOCOL; f < TUNNEL_HS_N; f++)
		now.hs_failed += st->hs_failures[f];
	for (int e = 0; e < MALFORMED_REASONS; e++)
		now.malformed += st->malformed[e];
	for (int r = 0; r < DISC_N; r++)
		now.disconnections += st->disconnections[r];
	for (size_t i = 0; i < st->n_outputs; i++) {
		struct output_stats os;

		output_get_stats(st->outputs[i], &os);
		/* each frame goes to every output: count the busiest */
		injected = os.frames > injected ? os.frames : injected;
		dropped += os.dropped;
	}
	now.injected = injected;
	now.dropped = dropped;
	snprintf(out, out_len,
		 "%" PRIu64 " agents connected, %" PRIu64 " handshaking; last %u s: %" PRIu64
		 " connections, %" PRIu64 " failed handshakes, %" PRIu64 " disconnections (%" PRIu64
		 " malformed), %" PRIu64 " frames (%.1f MB) received, %" PRIu64
		 " injected, %" PRIu64 " dropped",
		 st->agents_connected, st->handshakes_in_progress, period_s,
		 now.accepted - prev->accepted, now.hs_failed - prev->hs_failed,
		 now.disconnections - prev->disconnections, now.malformed - prev->malformed,
		 now.records - prev->records, (double)(now.bytes - prev->bytes) / 1e6,
		 now.injected - prev->injected, now.dropped - prev->dropped);
	*prev = now;
}
