/* What the mirror reports: the connections cut as loops (for --list), the log's summary and
 * the agent's metrics of flows, frames, outputs and the tunnel. */
#include "mirror_impl.h"
#include "print.h"
#include "tunnel_metrics.h"

#include "sslcollector/tunnel.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

uint64_t mirror_cut_generation(const struct mirror *m)
{
	return m ? m->cut_gen : 0;
}

size_t mirror_cut_list(const struct mirror *m, char *out, size_t len)
{
	size_t used = 0;

	if (len)
		out[0] = '\0';
	for (size_t i = 0; m && i < m->flows.cap && used + 1 < len; i++) {
		const struct flow *f;

		if (!u64map_live(&m->flows, i))
			continue;
		f = m->flows.vals[i];
		if (f->cut && f->cut_desc) {
			int n = snprintf(out + used, len - used, "%s\n", f->cut_desc);

			if (n < 0 || (size_t)n >= len - used)
				break;
			used += (size_t)n;
		}
	}
	return used;
}

void mirror_summary(struct mirror *m, char *out, size_t len)
{
	struct forge_stats fs;
	uint64_t dropped = 0;

	forge_get_stats(m->forge, &fs);
	for (size_t i = 0; i < m->n_outs; i++) {
		struct output_stats os;

		output_get_stats(m->outs[i], &os);
		dropped += os.dropped;
	}
	if (m->tunnel) {
		struct tunnel_client_stats ts;

		tunnel_client_get_stats(m->tunnel, &ts);
		dropped += ts.dropped_queue_full + ts.dropped_disconnected +
			   ts.discarded_on_disconnect + ts.dropped_too_large;
	}
	snprintf(out, len, "%zu connections open, %" PRIu64 " frames, %" PRIu64 " dropped%s",
		 m->flows.len, fs.frames, dropped,
		 !m->tunnel			      ? ""
		 : tunnel_client_connected(m->tunnel) ? ", tunnel up"
						      : ", tunnel down");
}

void mirror_metrics(struct mirror *m, struct metrics_buf *mb)
{
	struct forge_stats fs;
	char labels[400], name[320];

	forge_get_stats(m->forge, &fs);
	metrics_family(mb, "sslcollector_agent_flows_open", "gauge",
		       "Mirrored connections currently tracked");
	metrics_sample(mb, "sslcollector_agent_flows_open", NULL, m->flows.len);
	metrics_family(mb, "sslcollector_agent_flows_started_total", "counter",
		       "Synthetic TCP connections started (handshakes forged)");
	metrics_sample(mb, "sslcollector_agent_flows_started_total", NULL, m->opened);
	metrics_family(mb, "sslcollector_agent_flows_duplicate_total", "counter",
		       "Connections with both ends on this host, mirrored once");
	metrics_sample(mb, "sslcollector_agent_flows_duplicate_total", NULL, m->duplicates);
	metrics_family(mb, "sslcollector_agent_frames_forged_total", "counter", "Frames forged");
	metrics_sample(mb, "sslcollector_agent_frames_forged_total", NULL, fs.frames);
	metrics_family(mb, "sslcollector_agent_pure_acks_forged_total", "counter",
		       "Of the frames forged: acknowledgements without data (the handshakes' third "
		       "frames included)");
	metrics_sample(mb, "sslcollector_agent_pure_acks_forged_total", NULL, fs.pure_acks);
	metrics_family(mb, "sslcollector_agent_gap_bytes_forged_total", "counter",
		       "Sequence space skipped for bytes that were not captured");
	metrics_sample(mb, "sslcollector_agent_gap_bytes_forged_total", NULL, fs.gap_bytes);
	metrics_family(mb, "sslcollector_agent_output_frames_total", "counter",
		       "Frames written per output");
	metrics_family(mb, "sslcollector_agent_output_dropped_total", "counter",
		       "Frames an output refused (dropped)");
	for (size_t i = 0; i < m->n_outs; i++) {
		struct output_stats os;

		output_get_stats(m->outs[i], &os);
		metrics_escape(output_name(m->outs[i]), name, sizeof(name));
		snprintf(labels, sizeof(labels), "output=\"%s\"", name);
		metrics_sample(mb, "sslcollector_agent_output_frames_total", labels, os.frames);
		metrics_sample(mb, "sslcollector_agent_output_dropped_total", labels, os.dropped);
	}
	metrics_family(mb, "sslcollector_agent_output_frames_cut_total", "counter",
		       "Frames of -o sent in runs that the kernel cut (TX offload off)");
	for (size_t i = 0; i < m->n_outs; i++) {
		struct output_stats os;

		if (output_packet_cuts(m->outs[i]) < 0)
			continue;
		output_get_stats(m->outs[i], &os);
		metrics_escape(output_name(m->outs[i]), name, sizeof(name));
		snprintf(labels, sizeof(labels), "output=\"%s\"", name);
		metrics_sample(mb, "sslcollector_agent_output_frames_cut_total", labels,
			       os.cut_frames);
	}
	metrics_family(mb, "sslcollector_agent_output_files_completed_total", "counter",
		       "Files of -w completed and renamed by --rotate-size/--rotate-time");
	for (size_t i = 0; i < m->n_outs; i++) {
		struct output_stats os;

		if (!output_pcap_rotates(m->outs[i]))
			continue;
		output_get_stats(m->outs[i], &os);
		metrics_escape(output_name(m->outs[i]), name, sizeof(name));
		snprintf(labels, sizeof(labels), "output=\"%s\"", name);
		metrics_sample(mb, "sslcollector_agent_output_files_completed_total", labels,
			       os.files_completed);
	}
	metrics_family(mb, "sslcollector_agent_flows_restarted_total", "counter",
		       "Connections restarted with a new handshake after a tunnel reconnect");
	metrics_sample(mb, "sslcollector_agent_flows_restarted_total", NULL, m->restarted);
	metrics_family(mb, "sslcollector_agent_loops_cut_total", "counter",
		       "Connections cut from the mirror because they carried this agent's own "
		       "output back to it (a feedback loop)");
	metrics_sample(mb, "sslcollector_agent_loops_cut_total", NULL, m->loops_cut);
	metrics_family(mb, "sslcollector_agent_loop_bytes_dropped_total", "counter",
		       "Captured bytes of those connections dropped here (the capture stops "
		       "copying them soon after the cut: excluded_bytes_total)");
	metrics_sample(mb, "sslcollector_agent_loop_bytes_dropped_total", NULL,
		       m->loop_bytes_dropped);
	if (m->tunnel) {
		struct tunnel_client_stats ts;

		tunnel_client_get_stats(m->tunnel, &ts);
		tunnel_metrics_format(&ts, tunnel_client_generation(m->tunnel), mb);
	}
}
