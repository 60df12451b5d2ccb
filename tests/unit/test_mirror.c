/* agent/mirror.c driven by hand-made capture events into -w: both ends of a connection on this
 * host are mirrored once, whichever end's events come first, also when one end's whole session
 * (request, answer, close) arrives before the other end's first event; but a connection is not
 * suppressed when the other end is not ours (remote peer, same role again, too late). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mirror.h"
#include "options.h"

#define SEC 1000000000ULL

static char dir[] = "/tmp/sslc-test-mirror-XXXXXX";
static const uint8_t LOOP[4] = {127, 0, 0, 1};
static const uint8_t OTHER[4] = {192, 0, 2, 7}; /* not one of ours */

struct run {
	struct sslc_options opts;
	struct mirror *m;
	struct local_addr addr;
	struct local_addrs addrs;
	char path[300];
	uint64_t conn_id;
	size_t frames; /* in the pcap, counted by run_finish() */
};

static void run_start(struct run *r, const char *name)
{
	char err[512] = "";
	char *argv[] = {"sslcollector", "-I", "any", "-w", r->path, "-q", NULL};

	memset(r, 0, sizeof(*r));
	snprintf(r->path, sizeof(r->path), "%s/%s.pcap", dir, name);
	assert_int_equal(options_parse(6, argv, &r->opts, err, sizeof(err)), 0);
	assert_int_equal(mirror_open(&r->opts, &r->m, err, sizeof(err)), 0);
	memcpy(r->addr.key.addr, LOOP, 4);
	r->addr.key.family = AF_INET;
	r->addrs.v = &r->addr;
	r->addrs.n = 1;
	mirror_set_addrs(r->m, &r->addrs);
}

/* One event of the end (local:lport <-> remote:rport, role) with conn_id id. */
static void event(struct run *r, uint64_t id, uint8_t role, const uint8_t *local, uint16_t lport,
		  const uint8_t *remote, uint16_t rport, uint8_t type, uint8_t dir_,
		  const char *data, uint64_t wall)
{
	size_t len = data ? strlen(data) : 0;
	struct sslc_event *e = calloc(1, sizeof(*e) + len);

	assert_non_null(e);
	e->type = type;
	e->dir = dir_;
	e->conn_id = id;
	e->data_len = (uint32_t)len;
	e->len = len;
	memcpy(e->data, data ? data : "", len);
	memcpy(e->conn.local_addr, local, 4);
	memcpy(e->conn.remote_addr, remote, 4);
	e->conn.local_port = lport;
	e->conn.remote_port = rport;
	e->conn.family = AF_INET;
	e->conn.role = role;
	assert_int_equal(mirror_event(r->m, e, role, wall), 0);
	free(e);
	mirror_flush(r->m);
}

/* A whole session of one end: the client sends the request and reads the answer, the server
 * the other way round; then the end closes. */
static void session(struct run *r, uint8_t role, const uint8_t *local, const uint8_t *remote,
		    uint16_t client_port, uint64_t wall)
{
	uint64_t id = ++r->conn_id;
	bool client = role == SSLC_ROLE_CLIENT;
	uint16_t lport = client ? client_port : 443, rport = client ? 443 : client_port;

	event(r, id, role, local, lport, remote, rport, SSLC_EVENT_DATA,
	      client ? SSLC_DIR_SEND : SSLC_DIR_RECV, "GET / HTTP/1.1\r\n\r\n", wall);
	event(r, id, role, local, lport, remote, rport, SSLC_EVENT_DATA,
	      client ? SSLC_DIR_RECV : SSLC_DIR_SEND, "HTTP/1.1 200 OK\r\n\r\n", wall + 1000);
	event(r, id, role, local, lport, remote, rport, SSLC_EVENT_CLOSE, 0, NULL, wall + 2000);
}

/* Closes the mirror and counts the frames, the SYNs (connections) and the payload bytes in its
 * pcap. */
static void run_finish(struct run *r, int *syns, long *payload)
{
	uint8_t buf[1 << 16];
	size_t off = 24;
	ssize_t n;
	FILE *f;

	mirror_close(r->m);
	f = fopen(r->path, "rb");
	assert_non_null(f);
	n = (ssize_t)fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(n >= 24 && n < (ssize_t)sizeof(buf));
	*syns = 0;
	*payload = 0;
	r->frames = 0;
	while (off + 16 <= (size_t)n) {
		uint32_t caplen;
		const uint8_t *fr = buf + off + 16, *ip = fr + 14, *tcp;
		size_t ihl;

		memcpy(&caplen, buf + off + 8, 4);
		assert_true(off + 16 + caplen <= (size_t)n);
		assert_int_equal(fr[12] << 8 | fr[13], 0x0800);
		ihl = (size_t)(ip[0] & 15) * 4;
		tcp = ip + ihl;
		if ((tcp[13] & 0x12) == 0x02) /* SYN without ACK */
			(*syns)++;
		*payload += (long)(((ip[2] << 8 | ip[3]) - ihl) - (size_t)(tcp[12] >> 4) * 4);
		off += 16 + caplen;
		r->frames++;
	}
	assert_int_equal(off, (size_t)n);
}

static const long SESSION_BYTES = 18 + 19; /* the request and the answer */

/* The usual order: both ends open at once; the second is a duplicate. */
static void test_both_ends_overlapping(void **state)
{
	struct run r;
	uint64_t t = 1000 * SEC;
	int syns;
	long payload;

	(void)state;
	run_start(&r, "overlap");
	event(&r, 1, SSLC_ROLE_CLIENT, LOOP, 40000, LOOP, 443, SSLC_EVENT_DATA, SSLC_DIR_SEND,
	      "GET / HTTP/1.1\r\n\r\n", t);
	event(&r, 2, SSLC_ROLE_SERVER, LOOP, 443, LOOP, 40000, SSLC_EVENT_DATA, SSLC_DIR_RECV,
	      "GET / HTTP/1.1\r\n\r\n", t + 10);
	event(&r, 2, SSLC_ROLE_SERVER, LOOP, 443, LOOP, 40000, SSLC_EVENT_DATA, SSLC_DIR_SEND,
	      "HTTP/1.1 200 OK\r\n\r\n", t + 20);
	event(&r, 1, SSLC_ROLE_CLIENT, LOOP, 40000, LOOP, 443, SSLC_EVENT_DATA, SSLC_DIR_RECV,
	      "HTTP/1.1 200 OK\r\n\r\n", t + 30);
	event(&r, 2, SSLC_ROLE_SERVER, LOOP, 443, LOOP, 40000, SSLC_EVENT_CLOSE, 0, NULL, t + 40);
	event(&r, 1, SSLC_ROLE_CLIENT, LOOP, 40000, LOOP, 443, SSLC_EVENT_CLOSE, 0, NULL, t + 50);
	run_finish(&r, &syns, &payload);
	assert_int_equal(syns, 1);
	assert_int_equal(payload, SESSION_BYTES);
}

/* The server end's whole session before the client end's first event (the client thread
 * descheduled between write() and SSL_write's return): still one connection; and either way
 * round. */
static void test_one_end_whole_session_first(void **state)
{
	struct run r;
	uint64_t t = 1000 * SEC;
	int syns;
	long payload;

	(void)state;
	run_start(&r, "late");
	session(&r, SSLC_ROLE_SERVER, LOOP, LOOP, 40001, t);
	session(&r, SSLC_ROLE_CLIENT, LOOP, LOOP, 40001, t + SEC);
	session(&r, SSLC_ROLE_CLIENT, LOOP, LOOP, 40002, t + 2 * SEC);
	session(&r, SSLC_ROLE_SERVER, LOOP, LOOP, 40002, t + 3 * SEC);
	run_finish(&r, &syns, &payload);
	assert_int_equal(syns, 2);
	assert_int_equal(payload, 2 * SESSION_BYTES);
}

/* Not suppressed: the same role again on the same ports (a new connection reusing them), an end
 * whose peer address is not ours (its other end cannot be here), and an other end that comes
 * more than 10 s later. Each is a connection of its own. */
static void test_not_the_other_end(void **state)
{
	struct run r;
	uint64_t t = 1000 * SEC;
	int syns;
	long payload;

	(void)state;
	run_start(&r, "not");
	session(&r, SSLC_ROLE_SERVER, LOOP, LOOP, 40003, t);
	session(&r, SSLC_ROLE_SERVER, LOOP, LOOP, 40003, t + SEC); /* same role: new */
	session(&r, SSLC_ROLE_SERVER, LOOP, OTHER, 40004, t + 3 * SEC);
	/* the server end's peer OTHER is not one of our addresses, so its other end is not
	 * expected here: an end from OTHER is a connection of its own */
	session(&r, SSLC_ROLE_CLIENT, OTHER, LOOP, 40004, t + 4 * SEC);
	session(&r, SSLC_ROLE_SERVER, LOOP, LOOP, 40005, t + 5 * SEC);
	session(&r, SSLC_ROLE_CLIENT, LOOP, LOOP, 40005, t + 16 * SEC); /* 11 s later: new */
	run_finish(&r, &syns, &payload);
	assert_int_equal(syns, 6);
	assert_int_equal(payload, 6 * SESSION_BYTES);
}

/* mirror_end() at stop: the connections still open are closed, and the final counters (read
 * before mirror_close) count every frame the pcap holds, the closing ones included. */
static void test_end_counts_every_frame(void **state)
{
	struct metrics_buf mb = {0};
	struct run r;
	uint64_t t = 1000 * SEC;
	const char *line;
	unsigned long long written = 0, open_flows = 99;
	int syns;
	long payload;

	(void)state;
	run_start(&r, "end");
	event(&r, 1, SSLC_ROLE_CLIENT, LOOP, 40010, OTHER, 443, SSLC_EVENT_DATA, SSLC_DIR_SEND,
	      "GET / HTTP/1.1\r\n\r\n", t);
	mirror_end(r.m);
	mirror_metrics(r.m, &mb);
	line = strstr(mb.data, "sslcollector_agent_output_frames_total{");
	assert_non_null(line);
	assert_int_equal(sscanf(strchr(line, '}') + 1, "%llu", &written), 1);
	line = strstr(mb.data, "\nsslcollector_agent_flows_open ");
	assert_non_null(line);
	assert_int_equal(sscanf(line + 30, "%llu", &open_flows), 1);
	metrics_free(&mb);
	run_finish(&r, &syns, &payload); /* mirror_close adds nothing */
	assert_int_equal(open_flows, 0);
	assert_int_equal(syns, 1);
	/* SYN, SYN-ACK, ACK, the request, then its ACK and FIN, FIN, ACK at the end */
	assert_true(r.frames >= 7);
	assert_int_equal(written, r.frames);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_both_ends_overlapping),
	    cmocka_unit_test(test_one_end_whole_session_first),
	    cmocka_unit_test(test_not_the_other_end),
	    cmocka_unit_test(test_end_counts_every_frame),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
