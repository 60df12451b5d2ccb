/* The TLS tunnel over loopback with certificates made by scripts/make-certs.sh: frames
 * arrive intact and in order; the agent refuses a collector whose certificate names another
 * host; the collector refuses a client without certificate and one from another CA; a full
 * queue and a missing session drop frames and count them; a lost session is redialled and
 * bumps the generation; bad certificate files fail at start with a clear message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sslcollector/pcap_stream.h>
#include <sslcollector/tunnel.h>

#include "test_tmpdir.h"
#include "tunnel_test_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/sslc-tunnel-test-XXXXXX";
static char path_buf[16][512];
static int path_n;

static const char *path(const char *rel)
{
	char *p = path_buf[path_n++ % 16];

	snprintf(p, 512, "%s/%s", dir, rel);
	return p;
}

static void server_start(struct server *s, const char *pki, bool read_data, int max_conns)
{
	server_start6(s, dir, pki, read_data, max_conns, false);
}

/* ---- the agent side -------------------------------------------------------------------- */

static void quiet_log(void *ctx, enum tunnel_log_level level, const char *msg)
{
	(void)ctx;
	if (level <= TUNNEL_LOG_WARN && getenv("SSLC_TEST_VERBOSE"))
		fprintf(stderr, "tunnel: %s\n", msg);
}

static struct tunnel_client *client_start(const char *host, uint16_t port, const char *pki,
					  const char *agent, size_t queue)
{
	char ca[512], crt[512], key[512], err[512];
	struct tunnel_client_config cfg = {
	    .host = host,
	    .port = port,
	    .tls = {ca, crt, key},
	    .queue_bytes = queue,
	    .handshake_timeout_ms = 3000,
	    .backoff_min_ms = 50,
	    .backoff_max_ms = 200,
	    .log = quiet_log,
	};
	struct tunnel_client *tc;

	snprintf(ca, sizeof(ca), "%s/%s/ca.crt", dir, pki);
	snprintf(crt, sizeof(crt), "%s/%s/agents/%s/agent.crt", dir, pki, agent);
	snprintf(key, sizeof(key), "%s/%s/agents/%s/agent.key", dir, pki, agent);
	if (tunnel_client_start(&cfg, &tc, err, sizeof(err)))
		fail_msg("tunnel_client_start: %s", err);
	return tc;
}

/* Polls a condition for up to 10 s. */
#define WAIT_FOR(cond)                                                                             \
	do {                                                                                       \
		uint64_t until_ = now_ms() + 10000;                                                \
		while (!(cond) && now_ms() < until_)                                               \
			usleep(5000);                                                              \
		assert_true(cond);                                                                 \
	} while (0)

static void test_frames_arrive_intact(void **state)
{
	struct tunnel_client_stats st;
	struct tunnel_client *tc;
	struct server s;
	uint8_t f[1600];

	(void)state;
	server_start(&s, "pki", true, 1);
	tc = client_start("127.0.0.1", s.port, "pki", "web-1", 0);
	WAIT_FOR(tunnel_client_connected(tc));
	assert_int_equal(tunnel_client_generation(tc), 1);
	for (uint32_t i = 0; i < 5000; i++) {
		int len = make_frame(f, i);

		/* the default 64 MiB queue holds all of it: nothing may be dropped */
		assert_int_equal(tunnel_client_send(tc, f, (size_t)len, 1700000000000000000ULL), 0);
	}
	tunnel_client_get_stats(tc, &st);
	assert_int_equal(st.frames_queued, 5000);
	tunnel_client_stop(tc, 10000);
	server_join(&s);
	assert_int_equal(s.hs_ret, 0);
	assert_string_equal(s.subject, "CN=web-1");
	assert_int_equal(s.frames, 5000);
	assert_int_equal(s.bad_frames, 0);
	assert_int_equal(s.end, 0); /* ended at a record boundary */
}

static void test_client_counters(void **state)
{
	struct tunnel_client_stats st;
	struct tunnel_client *tc;
	struct server s;
	uint8_t f[1600];
	uint64_t bytes = 0;

	(void)state;
	server_start(&s, "pki", true, 1);
	tc = client_start("localhost", s.port, "pki", "web-1", 0); /* a DNS name this time */
	WAIT_FOR(tunnel_client_connected(tc));
	for (uint32_t i = 0; i < 100; i++) {
		int len = make_frame(f, i);

		bytes += (uint64_t)len;
		assert_int_equal(tunnel_client_send(tc, f, (size_t)len, 0), 0);
	}
	assert_int_equal(tunnel_client_send(tc, f, 0, 0), -EMSGSIZE);
	assert_int_equal(tunnel_client_send(tc, f, TUNNEL_MAX_FRAME + 1, 0), -EMSGSIZE);
	WAIT_FOR((tunnel_client_get_stats(tc, &st), st.frames_sent == 100));
	assert_int_equal(st.bytes_sent, bytes);
	assert_int_equal(st.bytes_queued, bytes);
	assert_int_equal(st.dropped_too_large, 2);
	assert_int_equal(st.connections, 1);
	assert_int_equal(st.connected, 1);
	assert_int_equal(st.handshake_failures, 0);
	/* global header + records */
	assert_int_equal(st.tls_bytes_written, 24 + 100 * 16 + bytes);
	tunnel_client_stop(tc, 5000);
	server_join(&s);
	assert_int_equal(s.frames, 100);
}

/* -t ::1: IPv6, checked against the certificate's IP address subjectAltName */
static void test_ipv6(void **state)
{
	struct tunnel_client *tc;
	struct server s;
	uint8_t f[1600];
	int len = make_frame(f, 3);

	(void)state;
	server_start6(&s, dir, "pki", true, 1, true);
	tc = client_start("::1", s.port, "pki", "web-1", 0);
	WAIT_FOR(tunnel_client_connected(tc));
	assert_int_equal(tunnel_client_send(tc, f, (size_t)len, 0), 0);
	tunnel_client_stop(tc, 5000);
	server_join(&s);
	assert_int_equal(s.frames, 1);
	assert_int_equal(s.bad_frames, 0);
}

static void test_agent_refuses_wrong_name(void **state)
{
	struct tunnel_client_stats st;
	struct tunnel_client *tc;
	struct server s;

	(void)state;
	/* a certificate from the right CA that names wrong.example, not 127.0.0.1 */
	server_start(&s, "wrongname", false, 1);
	tc = client_start("127.0.0.1", s.port, "pki", "web-1", 0);
	WAIT_FOR((tunnel_client_get_stats(tc, &st), st.cert_verify_failures >= 1));
	assert_true(st.handshake_failures >= 1);
	assert_int_equal(st.connections, 0);
	assert_int_equal(tunnel_client_generation(tc), 0);
	assert_int_equal(tunnel_client_send(tc, (const uint8_t *)"x", 1, 0), -ENOTCONN);
	tunnel_client_stop(tc, 0);
	server_join(&s);
	assert_int_not_equal(s.hs_ret, 0); /* the agent aborted the handshake */
}

/* A raw OpenSSL client: trusts ca, presents cert/key if given. */
static void raw_client(uint16_t port, const char *ca, const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char buf[16];
	SSL *ssl;
	int fd;

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
	if (cert) {
		assert_int_equal(SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), 1);
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	/* TLS 1.3: the client finishes first, then reads the collector's verdict (an alert) */
	if (SSL_connect(ssl) == 1)
		assert_true(SSL_read(ssl, buf, sizeof(buf)) <= 0);
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
}

static void test_collector_refuses_no_cert(void **state)
{
	struct server s;

	(void)state;
	server_start(&s, "pki", true, 1);
	raw_client(s.port, path("pki/ca.crt"), NULL, NULL);
	server_join(&s);
	assert_int_equal(s.hs_ret, -EACCES);
	assert_int_equal(s.failure, TUNNEL_HS_NO_CERT);
	assert_string_equal(tunnel_hs_failure_name(s.failure), "no_client_certificate");
	assert_non_null(strstr(s.error, "no client certificate"));
	assert_int_equal(s.frames, 0);
}

static void test_collector_refuses_other_ca(void **state)
{
	struct server s;

	(void)state;
	server_start(&s, "pki", true, 1);
	raw_client(s.port, path("pki/ca.crt"), path("other/agents/intruder/agent.crt"),
		   path("other/agents/intruder/agent.key"));
	server_join(&s);
	assert_int_equal(s.hs_ret, -EACCES);
	assert_int_equal(s.failure, TUNNEL_HS_CERT_VERIFY);
	assert_non_null(strstr(s.error, "client certificate refused"));
	assert_int_equal(s.frames, 0);
}

/* The agent learns that the collector refused its certificate (TLS 1.3: after its own side of
 * the handshake finished) and counts it as such, without a session or a new generation. */
static void test_agent_told_certificate_refused(void **state)
{
	struct tunnel_client_stats st;
	struct tunnel_client *tc;
	struct server s;

	(void)state;
	server_start(&s, "pki", true, 1);
	tc = client_start("127.0.0.1", s.port, "mixed", "intruder", 0);
	WAIT_FOR((tunnel_client_get_stats(tc, &st), st.cert_verify_failures >= 1));
	assert_true(st.handshake_failures >= 1);
	assert_int_equal(st.connections, 0);
	assert_int_equal(st.disconnections, 0);
	assert_int_equal(tunnel_client_generation(tc), 0);
	tunnel_client_stop(tc, 0);
	server_join(&s);
	assert_int_equal(s.failure, TUNNEL_HS_CERT_VERIFY);
}

/* An agent certificate (clientAuth only) cannot pose as the collector. */
static void test_agent_cert_cannot_be_collector(void **state)
{
	struct tunnel_client_stats st;
	struct tunnel_client *tc;
	struct server s;

	(void)state;
	server_start(&s, "impostor", false, 1);
	tc = client_start("127.0.0.1", s.port, "pki", "web-1", 0);
	WAIT_FOR((tunnel_client_get_stats(tc, &st), st.cert_verify_failures >= 1));
	assert_int_equal(st.connections, 0);
	tunnel_client_stop(tc, 0);
	server_join(&s);
}

static void test_queue_full_drops_counted(void **state)
{
	struct tunnel_client_stats st;
	struct tunnel_client *tc;
	struct server s;
	uint8_t f[1600] = {0};
	uint64_t offered = 0, accepted = 0, refused = 0;

	(void)state;
	server_start(&s, "pki", false, 1); /* handshakes, then never reads */
	tc = client_start("127.0.0.1", s.port, "pki", "web-1", TUNNEL_MIN_QUEUE);
	WAIT_FOR(tunnel_client_connected(tc));
	/* the socket buffers fill, then the 64 KiB queue */
	for (int i = 0; i < 200000 && refused < 100; i++) {
		int r = tunnel_client_send(tc, f, 1500, 0);

		offered++;
		if (r == 0)
			accepted++;
		else if (r == -ENOBUFS)
			refused++;
		else
			fail_msg("unexpected %d", r);
		if (r == -ENOBUFS)
			usleep(1000);
	}
	tunnel_client_get_stats(tc, &st);
	assert_int_equal(refused, 100);
	assert_int_equal(st.dropped_queue_full, refused);
	assert_int_equal(st.dropped_queue_full_bytes, refused * 1500);
	assert_int_equal(st.frames_queued, accepted);
	assert_true(st.queue_used <= TUNNEL_MIN_QUEUE);
	assert_int_equal(st.queue_size, TUNNEL_MIN_QUEUE);
	tunnel_client_stop(tc, 100); /* cannot flush: the collector does not read */
	server_join(&s);
	(void)offered;
}

static void test_disconnected_drops_and_reconnect(void **state)
{
	struct tunnel_client_stats st;
	struct tunnel_client *tc;
	struct server s;
	uint8_t f[1600];
	int len = make_frame(f, 7);

	(void)state;
	server_start(&s, "pki", true, 2);
	s.close_after = 10; /* drop the first session after 10 frames */
	tc = client_start("127.0.0.1", s.port, "pki", "web-1", 0);
	WAIT_FOR(tunnel_client_connected(tc));
	assert_int_equal(tunnel_client_generation(tc), 1);
	for (int i = 0; i < 10; i++)
		assert_int_equal(tunnel_client_send(tc, f, (size_t)len, 0), 0);
	/* the collector hangs up; the agent redials after 50-75 ms and gets generation 2 */
	WAIT_FOR(tunnel_client_generation(tc) == 2 && tunnel_client_connected(tc));
	tunnel_client_get_stats(tc, &st);
	assert_int_equal(st.disconnections, 1);
	assert_int_equal(st.connections, 2);
	for (int i = 0; i < 5; i++)
		assert_int_equal(tunnel_client_send(tc, f, (size_t)len, 0), 0);
	tunnel_client_stop(tc, 5000);
	server_join(&s);
	assert_int_equal(s.conns, 2);
	assert_int_equal(s.frames, 15);
	assert_int_equal(s.bad_frames, 0);

	/* nobody listening: frames are dropped as 'disconnected' */
	tc = client_start("127.0.0.1", s.port, "pki", "web-1", 0);
	assert_int_equal(tunnel_client_send(tc, f, (size_t)len, 0), -ENOTCONN);
	WAIT_FOR((tunnel_client_get_stats(tc, &st), st.handshake_failures >= 2));
	assert_int_equal(st.dropped_disconnected, 1);
	assert_int_equal(st.dropped_disconnected_bytes, (uint64_t)len);
	assert_true(st.connect_attempts >= 2);
	assert_int_equal(st.connected, 0);
	tunnel_client_stop(tc, 1000);
}

static void expect_start_error(const char *ca, const char *crt, const char *key, int err_no,
			       const char *words)
{
	struct tunnel_client_config cfg = {.host = "127.0.0.1", .tls = {ca, crt, key}};
	struct tunnel_tls_files files = {ca, crt, key};
	struct tunnel_client *tc = (struct tunnel_client *)1;
	struct tunnel_server *srv = (struct tunnel_server *)1;
	char err[512] = "";

	assert_int_equal(tunnel_client_start(&cfg, &tc, err, sizeof(err)), err_no);
	assert_null(tc);
	if (!strstr(err, words))
		print_error("'%s' lacks '%s'\n", err, words);
	assert_non_null(strstr(err, words));
	err[0] = '\0';
	assert_int_equal(tunnel_server_new(&files, &srv, err, sizeof(err)), err_no);
	assert_null(srv);
	assert_non_null(strstr(err, words));
}

static void test_bad_files(void **state)
{
	const char *ca = path("pki/ca.crt"), *crt = path("pki/agents/web-1/agent.crt"),
		   *key = path("pki/agents/web-1/agent.key");

	(void)state;
	expect_start_error(path("pki/missing.crt"), crt, key, -ENOENT, "missing.crt: No such file");
	expect_start_error(ca, path("garbage.pem"), key, -EINVAL, "certificate (--cert)");
	expect_start_error(ca, crt, path("pki/collector.key"), -EINVAL,
			   "does not belong to certificate");
	expect_start_error(ca, crt, path("garbage.pem"), -EINVAL, "private key (--key)");
	expect_start_error(path("garbage.pem"), crt, key, -EINVAL, "CA certificate (--ca)");
	/* everything accepts NULL */
	tunnel_client_stop(NULL, 0);
	tunnel_server_free(NULL);
	tunnel_conn_free(NULL);
}

static int run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run_cmd(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int setup(void **state)
{
	const char *mk = SSLC_SOURCE_DIR "/scripts/make-certs.sh";

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (test_tmpdir_make(dir))
		return -1;
	/* the PKI; a collector certificate from the same CA naming another host; another CA */
	if (run_cmd("%s -d %s/pki -c localhost -c 127.0.0.1 -c ::1 -a web-1 >/dev/null", mk, dir) ||
	    run_cmd("mkdir -p %s/wrongname %s/impostor && cp %s/pki/ca.* %s/wrongname/ && "
		    "cp %s/pki/ca.* %s/impostor/",
		    dir, dir, dir, dir, dir, dir) ||
	    run_cmd("%s -d %s/wrongname -c wrong.example >/dev/null", mk, dir) ||
	    run_cmd("cp %s/pki/agents/web-1/agent.crt %s/impostor/collector.crt && "
		    "cp %s/pki/agents/web-1/agent.key %s/impostor/collector.key",
		    dir, dir, dir, dir) ||
	    run_cmd("%s -d %s/other -c localhost -a intruder >/dev/null", mk, dir) ||
	    run_cmd("echo 'not PEM at all' > %s/garbage.pem", dir) ||
	    /* trusts our CA, but its own certificate is from the other one */
	    run_cmd("mkdir -p %s/mixed/agents && cp %s/pki/ca.crt %s/mixed/ && "
		    "cp -r %s/other/agents/intruder %s/mixed/agents/",
		    dir, dir, dir, dir, dir))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return test_tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frames_arrive_intact),
	    cmocka_unit_test(test_client_counters),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_agent_refuses_wrong_name),
	    cmocka_unit_test(test_collector_refuses_no_cert),
	    cmocka_unit_test(test_collector_refuses_other_ca),
	    cmocka_unit_test(test_agent_told_certificate_refused),
	    cmocka_unit_test(test_agent_cert_cannot_be_collector),
	    cmocka_unit_test(test_queue_full_drops_counted),
	    cmocka_unit_test(test_disconnected_drops_and_reconnect),
	    cmocka_unit_test(test_bad_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
