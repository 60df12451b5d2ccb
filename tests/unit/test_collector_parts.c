/* The collector's pure parts: 802.1Q insertion and replacement, per-subject VLAN ids (stable,
 * bounded), and the exact Prometheus text and log summary of both roles' metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector_stats.h"
#include "subjects.h"
#include "tunnel_metrics.h"
#include "allowlist.h"
#include "vlan.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void test_allowlist(void **state)
{
	static const char text[] =
	    "# agents of the web tier\n"
	    "  CN=web-1,O=example  \n"
	    "\n"
	    "sha256:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:"
	    "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff\n"
	    "FFEEDDCCBBAA99887766554433221100FFEEDDCCBBAA99887766554433221100\n";
	uint8_t fp[32], other[32] = {0};
	struct allowlist a;
	char err[300];

	(void)state;
	for (int i = 0; i < 32; i++)
		fp[i] = (uint8_t)((i % 16) * 0x11);
	assert_int_equal(allowlist_parse(&a, text, strlen(text), err, sizeof(err)), 0);
	assert_int_equal(allowlist_size(&a), 3);
	assert_true(allowlist_allows(&a, "CN=web-1,O=example", other));
	assert_false(allowlist_allows(&a, "CN=web-1", other)); /* exact subjects only */
	assert_true(allowlist_allows(&a, "CN=anyone", fp));
	fp[0] ^= 1;
	assert_false(allowlist_allows(&a, "CN=anyone", fp));
	allowlist_free(&a);

	/* every bad line is named */
	static const char *const bad[] = {"CN=a\nweb-2\n", "sha256:0011\n", "0011223344\n",
					  "CN=\x01x\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(allowlist_parse(&a, bad[i], strlen(bad[i]), err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "line "));
		assert_int_equal(allowlist_size(&a), 0);
	}
}

static void test_tcp_only(void **state)
{
	uint8_t f[80] = {0};

	(void)state;
	memcpy(f + 12, "\x08\x00\x45", 3);
	f[14 + 9] = 6;
	assert_true(vlan_frame_is_tcp(f, 54));
	f[14 + 9] = 17; /* UDP */
	assert_false(vlan_frame_is_tcp(f, 54));
	memcpy(f + 12, "\x08\x06", 2); /* ARP */
	assert_false(vlan_frame_is_tcp(f, 60));
	memcpy(f + 12, "\x81\x00\x00\x05\x86\xdd\x60", 7); /* tagged IPv6 */
	f[18 + 6] = 6;
	assert_true(vlan_frame_is_tcp(f, 18 + 40));
	f[18 + 6] = 58; /* ICMPv6: router advertisements */
	assert_false(vlan_frame_is_tcp(f, 18 + 40));
	assert_false(vlan_frame_is_tcp(f, 20)); /* too short */
}

static void test_vlan_insert(void **state)
{
	uint8_t f[64], out[68];

	(void)state;
	for (int i = 0; i < 64; i++)
		f[i] = (uint8_t)i;
	f[12] = 0x08;
	f[13] = 0x00;
	assert_int_equal(vlan_tag_frame(f, 64, 100, out), 68);
	assert_memory_equal(out, f, 12);			      /* MACs */
	assert_memory_equal(out + 12, "\x81\x00\x00\x64\x08\x00", 6); /* tag, IPv4 */
	assert_memory_equal(out + 18, f + 14, 50);		      /* payload */
	assert_int_equal(vlan_tag_frame(f, 13, 100, out), 0);
}

static void test_vlan_replace(void **state)
{
	uint8_t f[64], out[68];

	(void)state;
	memset(f, 0xab, sizeof(f));
	memcpy(f + 12, "\x88\xa8\xe0\x07\x86\xdd", 6); /* 802.1ad, PCP 7, VID 7, IPv6 */
	assert_int_equal(vlan_tag_frame(f, 64, 4094, out), 64);
	assert_memory_equal(out + 12, "\x81\x00\x0f\xfe\x86\xdd", 6);
	assert_memory_equal(out + 18, f + 18, 46);
	assert_int_equal(vlan_tag_frame(f, 17, 5, out), 0); /* tag cut short */
}

static void test_subjects_vlan_ids(void **state)
{
	struct subjects t;
	struct subject_stats *a, *b;
	int err;

	(void)state;
	subjects_init(&t, true, 4093);
	a = subjects_get(&t, "CN=web-1", &err);
	b = subjects_get(&t, "CN=web-2", &err);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->vlan, 4093);
	assert_int_equal(b->vlan, 4094);
	assert_ptr_equal(subjects_get(&t, "CN=web-1", &err), a); /* stable */
	assert_null(subjects_get(&t, "CN=web-3", &err));	 /* no id left */
	assert_int_equal(err, -ENOSPC);
	assert_string_equal(a->label, "agent=\"CN=web-1\"");
	subjects_free(&t);

	subjects_init(&t, false, 42); /* --vlan 42: every agent */
	a = subjects_get(&t, "CN=a\"b", &err);
	assert_int_equal(a->vlan, 42);
	assert_string_equal(a->label, "agent=\"CN=a\\\"b\"");
	subjects_free(&t);

	subjects_init(&t, false, -1);
	assert_int_equal(subjects_get(&t, "CN=x", &err)->vlan, 0);
	subjects_free(&t);
}

static void expect_line(const struct metrics_buf *m, const char *line)
{
	char want[400];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(m->data, want))
		print_error("missing line '%s' in:\n%s\n", line, m->data);
	assert_non_null(strstr(m->data, want));
}

static void test_collector_metrics_text(void **state)
{
	struct subject_stats s1 = {.subject = "CN=web-1",
				   .label = "agent=\"CN=web-1\"",
				   .vlan = 3,
				   .connected = 1,
				   .connections = 2,
				   .records = 10,
				   .bytes = 1000,
				   .malformed = 1};
	struct subject_stats *subs[] = {&s1};
	struct collector_stats st = {.accepted = 9,
				     .handshakes = 4,
				     .cert_verify_failures = 1,
				     .agents_connected = 1,
				     .records = 10,
				     .bytes = 1000,
				     .subjects = subs,
				     .n_subjects = 1};
	struct collector_summary_prev prev = {0};
	struct metrics_buf m = {0};
	char line[512];

	(void)state;
	st.refused[REFUSE_MAX_AGENTS] = 1;
	st.hs_failures[TUNNEL_HS_NO_CERT] = 2;
	st.hs_failures[TUNNEL_HS_TIMEOUT] = 1;
	st.disconnections[DISC_MALFORMED] = 3;
	st.malformed[-PCAP_STREAM_ERR_BAD_MAGIC] = 1;
	st.malformed[-PCAP_STREAM_ERR_TRUNCATED] = 2;
	collector_stats_format(&st, &m);
	assert_false(m.failed);
	expect_line(&m, "# TYPE sslcollector_collector_handshake_failures_total counter");
	expect_line(&m, "sslcollector_collector_connections_accepted_total 9");
	expect_line(&m,
		    "sslcollector_collector_connections_refused_total{reason=\"max_agents\"} 1");
	expect_line(&m, "sslcollector_collector_handshakes_completed_total 4");
	expect_line(&m, "sslcollector_collector_handshake_failures_total"
			"{reason=\"no_client_certificate\"} 2");
	expect_line(&m, "sslcollector_collector_handshake_failures_total{reason=\"timeout\"} 1");
	expect_line(&m, "sslcollector_collector_handshake_failures_total"
			"{reason=\"certificate_rejected\"} 0");
	expect_line(&m, "sslcollector_collector_certificate_verify_failures_total 1");
	expect_line(&m, "sslcollector_collector_disconnections_total{reason=\"malformed\"} 3");
	expect_line(&m, "# TYPE sslcollector_collector_agents_connected gauge");
	expect_line(&m, "sslcollector_collector_agents_connected 1");
	expect_line(&m, "sslcollector_collector_records_received_total 10");
	expect_line(&m, "sslcollector_collector_malformed_total{reason=\"bad_magic\"} 1");
	expect_line(&m, "sslcollector_collector_malformed_total{reason=\"truncated\"} 2");
	expect_line(&m, "sslcollector_collector_malformed_total{reason=\"frame_too_large\"} 0");
	expect_line(&m, "sslcollector_collector_agent_records_received_total{agent=\"CN=web-1\"} "
			"10");
	expect_line(&m, "sslcollector_collector_agent_vlan{agent=\"CN=web-1\"} 3");
	expect_line(&m, "sslcollector_collector_agent_malformed_total{agent=\"CN=web-1\"} 1");
	metrics_free(&m);

	collector_stats_summary(&st, &prev, 60, line, sizeof(line));
	assert_non_null(strstr(line, "1 agents connected"));
	assert_non_null(strstr(line, "9 connections, 3 failed handshakes"));
	assert_non_null(strstr(line, "3 disconnections (3 malformed)"));
	assert_non_null(strstr(line, "10 frames (0.0 MB) received"));
	st.records = 25;
	collector_stats_summary(&st, &prev, 60, line, sizeof(line)); /* only what is new */
	assert_non_null(strstr(line, "0 connections, 0 failed handshakes"));
	assert_non_null(strstr(line, "15 frames"));
}

static void test_tunnel_metrics_text(void **state)
{
	struct tunnel_client_stats st = {.connect_attempts = 5,
					 .connections = 2,
					 .handshake_failures = 3,
					 .cert_verify_failures = 1,
					 .disconnections = 1,
					 .connected = 1,
					 .frames_queued = 100,
					 .frames_sent = 90,
					 .dropped_queue_full = 7,
					 .dropped_queue_full_bytes = 7000,
					 .discarded_on_disconnect = 4,
					 .queue_size = 65536};
	struct metrics_buf m = {0};

	(void)state;
	tunnel_metrics_format(&st, 2, &m);
	assert_false(m.failed);
	expect_line(&m, "sslcollector_tunnel_connect_attempts_total 5");
	expect_line(&m, "sslcollector_tunnel_certificate_verify_failures_total 1");
	expect_line(&m, "sslcollector_tunnel_connected 1");
	expect_line(&m, "sslcollector_tunnel_generation 2");
	expect_line(&m, "sslcollector_tunnel_frames_sent_total 90");
	expect_line(&m, "sslcollector_tunnel_frames_dropped_total{reason=\"queue_full\"} 7");
	expect_line(&m, "sslcollector_tunnel_bytes_dropped_total{reason=\"queue_full\"} 7000");
	expect_line(&m, "sslcollector_tunnel_frames_dropped_total"
			"{reason=\"discarded_on_disconnect\"} 4");
	expect_line(&m, "sslcollector_tunnel_frames_dropped_total{reason=\"disconnected\"} 0");
	expect_line(&m, "sslcollector_tunnel_queue_capacity_bytes 65536");
	metrics_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_allowlist),
	    cmocka_unit_test(test_tcp_only),
	    cmocka_unit_test(test_vlan_insert),
	    cmocka_unit_test(test_vlan_replace),
	    cmocka_unit_test(test_subjects_vlan_ids),
	    cmocka_unit_test(test_collector_metrics_text),
	    cmocka_unit_test(test_tunnel_metrics_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
