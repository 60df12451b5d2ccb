/* The capture's counters (include/sslcollector/event.h) as metrics and as the agent's last
 * log line. */
#include "capture_report.h"
#include "capture.h"
#include "log.h"
#include "state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A counter family labelled by library, from the counters v[0..SSLC_LIB__MAX). */
static void by_library(struct metrics_buf *mb, const char *name, const char *help,
		       const uint64_t *v)
{
	static const char *const libs[SSLC_LIB__MAX] = {"openssl", "gnutls", "nss"};

	metrics_family(mb, name, "counter", help);
	for (int l = 0; l < SSLC_LIB__MAX; l++) {
		char label[32];

		snprintf(label, sizeof(label), "library=\"%s\"", libs[l]);
		metrics_sample(mb, name, label, v[l]);
	}
}

void capture_report_metrics(struct metrics_buf *mb, const uint64_t cnt[SSLC_CNT__MAX])
{
	static const struct {
		enum sslc_counter idx;
		const char *name, *help;
	} counters[] = {
	    {SSLC_CNT_CALLS, "sslcollector_agent_ssl_calls_total",
	     "SSL read/write calls on mirrored connections"},
	    {SSLC_CNT_DATA_BYTES, "sslcollector_agent_captured_bytes_total",
	     "Plaintext bytes captured"},
	    {SSLC_CNT_DATA_EVENTS, "sslcollector_agent_captured_records_total",
	     "Ring buffer data records delivered"},
	    {SSLC_CNT_SESSIONS, "sslcollector_agent_sessions_total",
	     "TLS sessions mirrored (one per socket)"},
	    {SSLC_CNT_RING_FULL, "sslcollector_agent_ring_full_total",
	     "Ring buffer reservations that failed"},
	    {SSLC_CNT_NOSOCK_BYTES, "sslcollector_agent_unattributed_bytes_total",
	     "Plaintext bytes of SSL calls whose socket was never seen (not mirrored)"},
	    {SSLC_CNT_CLOSE_DEFERRED, "sslcollector_agent_deferred_closes_total",
	     "Session ends parked while the ring buffer was full"},
	    {SSLC_CNT_CLOSE_AFTER_CALL, "sslcollector_agent_closes_after_call_total",
	     "Connections that ended during an SSL call on them, closed after the call's bytes"},
	    {SSLC_CNT_UNTRACKED_CALLS, "sslcollector_agent_untracked_calls_total",
	     "SSL calls not followed (no kernel memory for the thread's call record): not "
	     "mirrored"},
	    {SSLC_CNT_EXCLUDED_SESSIONS, "sslcollector_agent_excluded_sessions_total",
	     "TLS sessions on the agent's own connections (its tunnel, both ends): never "
	     "mirrored"},
	    {SSLC_CNT_EXCLUDED_BYTES, "sslcollector_agent_excluded_bytes_total",
	     "Plaintext bytes of those sessions and of connections cut as feedback loops: not "
	     "captured"},
	    {SSLC_CNT_ATTRIB_SESSIONS, "sslcollector_agent_attributed_sessions_total",
	     "TLS sessions whose socket was learnt from the ciphertext their thread moved around "
	     "the SSL calls (memory BIOs: Node.js, asyncio, Dovecot)"},
	    {SSLC_CNT_ATTRIB_CONFLICTS, "sslcollector_agent_attribution_conflicts_total",
	     "Observations of a memory-BIO session's socket that disagreed (two sockets in one "
	     "window, another candidate, another session's socket): not followed"},
	    {SSLC_CNT_INFLIGHT_UNATTRIBUTED_BYTES,
	     "sslcollector_agent_inflight_unattributed_bytes_total",
	     "Plaintext bytes (estimated) moved by SSL calls in progress at attach on connections "
	     "their threads did not use again: not mirrored, no gap"},
	};

	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		metrics_single(mb, counters[i].name, "counter", counters[i].help,
			       cnt[counters[i].idx]);
	}
	metrics_family(mb, "sslcollector_agent_lost_bytes_total", "counter",
		       "Plaintext bytes not captured, reported to the IDS as gaps");
	metrics_sample(mb, "sslcollector_agent_lost_bytes_total", "reason=\"ring_full\"",
		       cnt[SSLC_CNT_GAP_RING_BYTES]);
	metrics_sample(mb, "sslcollector_agent_lost_bytes_total", "reason=\"max_call_size\"",
		       cnt[SSLC_CNT_GAP_CAP_BYTES]);
	metrics_sample(mb, "sslcollector_agent_lost_bytes_total", "reason=\"unreadable\"",
		       cnt[SSLC_CNT_GAP_FAULT_BYTES]);
	metrics_sample(mb, "sslcollector_agent_lost_bytes_total", "reason=\"in_flight\"",
		       cnt[SSLC_CNT_GAP_INFLIGHT_BYTES]);
	by_library(mb, "sslcollector_agent_library_sessions_total",
		   "TLS sessions mirrored, by the TLS library of the program",
		   cnt + SSLC_CNT_LIB_SESSIONS);
	by_library(mb, "sslcollector_agent_library_bytes_total",
		   "Plaintext bytes of read/write calls on mirrored sessions, by TLS library",
		   cnt + SSLC_CNT_LIB_BYTES);
	metrics_family(mb, "sslcollector_agent_inflight_gaps_total", "counter",
		       "Gaps reported for SSL calls in progress when the probes were attached, by "
		       "whether their length is exact or estimated from the TLS records");
	metrics_sample(mb, "sslcollector_agent_inflight_gaps_total", "length=\"exact\"",
		       cnt[SSLC_CNT_INFLIGHT_EXACT]);
	metrics_sample(mb, "sslcollector_agent_inflight_gaps_total", "length=\"estimated\"",
		       cnt[SSLC_CNT_INFLIGHT_GAPS] - cnt[SSLC_CNT_INFLIGHT_EXACT]);
}

void capture_report_log(const uint64_t cnt[SSLC_CNT__MAX])
{
	log_info("counters: calls %" PRIu64 ", records %" PRIu64 ", ring full %" PRIu64
		 ", lost bytes: ring full %" PRIu64 ", over --max-call-size %" PRIu64
		 ", unreadable %" PRIu64 ", in flight at attach %" PRIu64 " (%" PRIu64
		 " gaps, %" PRIu64 " exact; %" PRIu64 " bytes elsewhere)"
		 "; bytes without a known socket %" PRIu64 ", nested calls %" PRIu64
		 ", first socket not TCP %" PRIu64 ", closes held for a call %" PRIu64
		 ", untracked calls %" PRIu64 "; memory-BIO sessions %" PRIu64
		 " (attribution conflicts %" PRIu64 ")",
		 cnt[SSLC_CNT_CALLS], cnt[SSLC_CNT_DATA_EVENTS], cnt[SSLC_CNT_RING_FULL],
		 cnt[SSLC_CNT_GAP_RING_BYTES], cnt[SSLC_CNT_GAP_CAP_BYTES],
		 cnt[SSLC_CNT_GAP_FAULT_BYTES], cnt[SSLC_CNT_GAP_INFLIGHT_BYTES],
		 cnt[SSLC_CNT_INFLIGHT_GAPS], cnt[SSLC_CNT_INFLIGHT_EXACT],
		 cnt[SSLC_CNT_INFLIGHT_UNATTRIBUTED_BYTES], cnt[SSLC_CNT_NOSOCK_BYTES],
		 cnt[SSLC_CNT_NESTED_CALLS], cnt[SSLC_CNT_NOT_TCP], cnt[SSLC_CNT_CLOSE_AFTER_CALL],
		 cnt[SSLC_CNT_UNTRACKED_CALLS], cnt[SSLC_CNT_ATTRIB_SESSIONS],
		 cnt[SSLC_CNT_ATTRIB_CONFLICTS]);
}

struct proc_text {
	char *buf;
	size_t len, cap;
};

static void add_proc(void *ctx, uint32_t pid, const struct sslc_proc_stat *st)
{
	struct proc_text *t = ctx;
	char line[128];
	int n = snprintf(line, sizeof(line), "%u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
			 pid, (uint64_t)st->sessions, (uint64_t)st->attributed,
			 (uint64_t)st->unattributed_bytes, (uint64_t)st->conflicts);

	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	if (t->len + (size_t)n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4096;
		char *b = realloc(t->buf, cap);

		if (!b)
			return;
		t->buf = b;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, line, (size_t)n + 1);
	t->len += (size_t)n;
}

void capture_report_processes(struct capture *c)
{
	static bool warned;
	struct proc_text t = {0};
	int ret;

	capture_proc_stats(c, add_proc, &t);
	ret = state_publish_kind(SSLC_STATE_DIR, "processes", t.len ? t.buf : NULL);
	if (ret < 0 && !warned) {
		warned = true;
		log_warn("cannot publish the processes' figures for --list in %s: %s",
			 SSLC_STATE_DIR, strerror(-ret));
	}
	free(t.buf);
}

void capture_report_processes_end(void)
{
	state_publish_kind(SSLC_STATE_DIR, "processes", NULL);
}
