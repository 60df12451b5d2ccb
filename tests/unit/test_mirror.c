/* agent/mirror.c driven by hand-made capture events into -w: both ends of a connection on this
 * host are mirrored once, whichever end's events come first, also when one end's whole session
 * (request, answer, close) arrives before the other end's first event; but a connection is not
 * suppressed when the other end is not ours (remote peer, same role again, too late). And the
 * frames do not depend on how events were batched: the same events give the same pcap whether
 * mirror_flush() runs after each or once; an upload answered at once has the receiver's ACK
 * before the answer; data no event acknowledges is acknowledged by mirror_tick(). */
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

#include "test_tmpdir.h"
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
	assert_int_equal(mirror_open(&r->opts, NULL, &r->m, err, sizeof(err)), 0);
	memcpy(r->addr.key.addr, LOOP, 4);
	r->addr.key.family = AF_INET;
	r->addrs.v = &r->addr;
	r->addrs.n = 1;
	mirror_set_addrs(r->m, &r->addrs);
}

/* One event of the end (local:lport <-> remote:rport, role) with conn_id id, len bytes of data;
 * flush: mirror_flush() after it (the end of a batch of events). */
static void event_bytes(struct run *r, uint64_t id, uint8_t role, const uint8_t *local,
			uint16_t lport, const uint8_t *remote, uint16_t rport, uint8_t type,
			uint8_t dir_, const void *data, size_t len, uint64_t wall, bool flush)
{
	struct sslc_event *e = calloc(1, sizeof(*e) + len);

	assert_non_null(e);
	e->type = type;
	e->dir = dir_;
	e->conn_id = id;
	e->data_len = type == SSLC_EVENT_DATA ? (uint32_t)len : 0;
	e->len = len;
	if (type == SSLC_EVENT_DATA)
		memcpy(e->data, data, len);
	memcpy(e->conn.local_addr, local, 4);
	memcpy(e->conn.remote_addr, remote, 4);
	e->conn.local_port = lport;
	e->conn.remote_port = rport;
	e->conn.family = AF_INET;
	e->conn.role = role;
	assert_int_equal(mirror_event(r->m, e, role, wall), 0);
	free(e);
	if (flush)
		mirror_flush(r->m);
}

static void event(struct run *r, uint64_t id, uint8_t role, const uint8_t *local, uint16_t lport,
		  const uint8_t *remote, uint16_t rport, uint8_t type, uint8_t dir_,
		  const char *data, uint64_t wall)
{
	event_bytes(r, id, role, local, lport, remote, rport, type, dir_, data ? data : "",
		    data ? strlen(data) : 0, wall, true);
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

/* A frame of the pcap, as the tests below look at it; rel_seq and rel_ack are relative to the
 * initial sequence numbers (random) of the one connection of the pcap, hash is the payload's. */
struct frame {
	uint64_t ts_ns;
	uint16_t sport;
	uint32_t seq, ack, rel_seq, rel_ack;
	uint8_t flags;
	size_t payload;
	uint64_t hash;
};

static struct frame frames[4096];

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 24);
	rewind(f);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Closes the mirror and counts the frames, the SYNs (connections) and the payload bytes in its
 * pcap; the frames are left in frames[0 .. r->frames). */
static void run_finish(struct run *r, int *syns, long *payload)
{
	size_t n, off = 24;
	uint32_t isn_client = 0, isn_server = 0;
	uint16_t client_port = 0;
	uint8_t *buf;

	mirror_close(r->m);
	buf = read_file(r->path, &n);
	*syns = 0;
	*payload = 0;
	r->frames = 0;
	while (off + 16 <= n) {
		uint32_t caplen, sec, usec;
		const uint8_t *fr = buf + off + 16, *ip = fr + 14, *tcp;
		struct frame *x = &frames[r->frames < 4096 ? r->frames : 4095];
		size_t ihl;

		memcpy(&sec, buf + off, 4);
		memcpy(&usec, buf + off + 4, 4);
		memcpy(&caplen, buf + off + 8, 4);
		assert_true(off + 16 + caplen <= n);
		assert_int_equal(fr[12] << 8 | fr[13], 0x0800);
		ihl = (size_t)(ip[0] & 15) * 4;
		tcp = ip + ihl;
		if ((tcp[13] & 0x12) == 0x02) /* SYN without ACK */
			(*syns)++;
		x->ts_ns = (uint64_t)sec * SEC + (uint64_t)usec * 1000;
		x->sport = (uint16_t)(tcp[0] << 8 | tcp[1]);
		x->seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 |
			 tcp[7];
		x->ack = (uint32_t)tcp[8] << 24 | (uint32_t)tcp[9] << 16 | (uint32_t)tcp[10] << 8 |
			 tcp[11];
		x->flags = tcp[13];
		x->payload = ((ip[2] << 8 | ip[3]) - ihl) - (size_t)(tcp[12] >> 4) * 4;
		*payload += (long)x->payload;
		if ((tcp[13] & 0x12) == 0x02) {
			isn_client = x->seq;
			client_port = x->sport;
		} else if ((tcp[13] & 0x12) == 0x12) {
			isn_server = x->seq;
		}
		x->rel_seq = x->seq - (x->sport == client_port ? isn_client : isn_server);
		x->rel_ack = x->ack - (x->sport == client_port ? isn_server : isn_client);
		x->hash = 0xcbf29ce484222325ULL;
		for (size_t k = 0; k < x->payload; k++)
			x->hash = (x->hash ^ tcp[(tcp[12] >> 4) * 4 + k]) * 0x100000001b3ULL;
		off += 16 + caplen;
		r->frames++;
	}
	assert_int_equal(off, n);
	assert_true(r->frames <= 4096);
	free(buf);
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

/* An exchange as the server end sees it: a 300 KiB upload read in TLS-record-sized reads and
 * answered at once, pipelined requests, a download with the next request before its end, a
 * gap in an upload, both sides streaming, a small request left without an answer; flush:
 * mirror_flush() after every event, else never (one batch). */
static void exchange(struct run *r, bool flush, uint64_t t)
{
	static uint8_t big[300 * 1024];
	const uint16_t port = 443;
	uint64_t id = ++r->conn_id;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31 + i / 977);
#define EV(type, dir, data, len, at)                                                               \
	event_bytes(r, id, SSLC_ROLE_SERVER, LOOP, port, OTHER, 40100, type, dir, data, len, at,   \
		    flush)
#define EVS(dir, text, at) EV(SSLC_EVENT_DATA, dir, text, strlen(text), at)
	EVS(SSLC_DIR_RECV, "POST /upload HTTP/1.1\r\n\r\n", t);
	for (size_t off = 0; off < sizeof(big); off += 16384)
		EV(SSLC_EVENT_DATA, SSLC_DIR_RECV, big + off,
		   sizeof(big) - off < 16384 ? sizeof(big) - off : 16384, t + 1000 + off);
	EVS(SSLC_DIR_SEND, "HTTP/1.1 201 Created\r\n\r\n", t + 400000);
	EVS(SSLC_DIR_RECV, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", t + 500000);
	EVS(SSLC_DIR_SEND, "HTTP/1.1 200 OK\r\n\r\n", t + 510000);
	EVS(SSLC_DIR_SEND, "HTTP/1.1 200 OK\r\n\r\n", t + 520000);
	for (size_t off = 0; off < sizeof(big); off += 16384) {
		EV(SSLC_EVENT_DATA, SSLC_DIR_SEND, big + off,
		   sizeof(big) - off < 16384 ? sizeof(big) - off : 16384, t + 600000 + off);
		if (off == 16384 * 8) /* the next request before the end of the download */
			EVS(SSLC_DIR_RECV, "GET /c HTTP/1.1\r\n\r\n", t + 600000 + off + 1);
	}
	EV(SSLC_EVENT_DATA, SSLC_DIR_RECV, big, 16384, t + 2000000);
	EV(SSLC_EVENT_GAP, SSLC_DIR_RECV, NULL, 5000, t + 2000001);
	EV(SSLC_EVENT_DATA, SSLC_DIR_RECV, big, 16384, t + 2000002);
	for (int i = 0; i < 20; i++) {
		EV(SSLC_EVENT_DATA, SSLC_DIR_RECV, big, 3000 + (size_t)i * 100,
		   t + 3000000 + i * 10);
		EV(SSLC_EVENT_DATA, SSLC_DIR_SEND, big, 5000, t + 3000005 + i * 10);
	}
	EVS(SSLC_DIR_RECV, "PING", t + 4000000);
	EVS(SSLC_DIR_SEND, "PONG", t + 4000000 + 100 * 1000000ULL);
	EV(SSLC_EVENT_CLOSE, 0, NULL, 0, t + 5 * SEC);
#undef EVS
#undef EV
}

/* The frames follow from the events alone: flushing after every event or once gives the same
 * frames (times, directions, flags, sequence and acknowledgement numbers relative to the random
 * initial ones, payloads). Before, the pure ACKs were sent at each flush: a request and its
 * answer in one batch had none between them, in two they had. */
static void test_batching_does_not_matter(void **state)
{
	static struct frame each[4096];
	struct run r;
	size_t n_each;
	int syns;
	long payload;

	(void)state;
	run_start(&r, "each");
	exchange(&r, true, 1000 * SEC);
	run_finish(&r, &syns, &payload);
	n_each = r.frames;
	memcpy(each, frames, sizeof(each));
	run_start(&r, "once");
	exchange(&r, false, 1000 * SEC);
	run_finish(&r, &syns, &payload);
	assert_int_equal(r.frames, n_each);
	for (size_t i = 0; i < n_each; i++) {
		const struct frame *a = &each[i], *b = &frames[i];

		assert_int_equal(a->ts_ns, b->ts_ns);
		assert_int_equal(a->sport, b->sport);
		assert_int_equal(a->flags, b->flags);
		assert_int_equal(a->rel_seq, b->rel_seq);
		assert_int_equal(a->rel_ack, b->rel_ack);
		assert_int_equal(a->payload, b->payload);
		assert_int_equal(a->hash, b->hash);
	}
}

/* The shape Suricata 7 needs: an upload the server read in one batch and answered is
 * acknowledged by a pure ACK from the server before the answer (before, only the answer's
 * first segment acknowledged it, and Suricata lost the transaction); the ACKs of the reads
 * come as they are read; no more than 64 KiB ever waits unacknowledged. */
static void test_upload_answered_at_once(void **state)
{
	struct run r;
	int syns;
	long payload;
	size_t answer = 0, acks_before = 0;
	uint32_t client_nxt = 0;

	(void)state;
	run_start(&r, "upload");
	exchange(&r, false, 1000 * SEC);
	run_finish(&r, &syns, &payload);
	assert_int_equal(syns, 1);
	for (size_t i = 0; i < r.frames; i++) {
		const struct frame *x = &frames[i];

		if (x->sport == 40100) {
			client_nxt = x->seq + (uint32_t)x->payload + (x->flags & 0x03 ? 1 : 0);
			continue;
		}
		if (x->payload) {
			answer = i;
			break;
		}
		if (x->flags == 0x10) /* a pure ACK from the server */
			acks_before++;
	}
	assert_true(answer > 0);
	/* one per 16 KiB read (each more than two segments), and the last one covers all */
	assert_true(acks_before >= 300 / 16);
	assert_int_equal(frames[answer - 1].flags, 0x10);
	assert_int_equal(frames[answer - 1].ack, client_nxt);
}

/* Data that no later event acknowledges (a small request left without an answer) is
 * acknowledged by mirror_tick() once its delayed ACK has been due for 200 ms, stamped when it
 * was due (40 ms after the data); not before. */
static void test_delayed_ack_by_tick(void **state)
{
	struct run r;
	uint64_t t = 1000 * SEC;
	int syns;
	long payload;
	size_t n;

	(void)state;
	run_start(&r, "tick");
	event(&r, 1, SSLC_ROLE_SERVER, LOOP, 443, OTHER, 40200, SSLC_EVENT_DATA, SSLC_DIR_RECV,
	      "SUBSCRIBE\r\n", t);
	mirror_tick(r.m, t + 100 * 1000000ULL);
	mirror_tick(r.m, t + 239 * 1000000ULL);
	mirror_end(r.m); /* the close acknowledges it too: count what came before it */
	run_finish(&r, &syns, &payload);
	n = r.frames;
	/* SYN, SYN-ACK, ACK, the request, then the close's ACK, FIN, FIN, ACK */
	assert_int_equal(n, 8);
	run_start(&r, "tick2");
	event(&r, 1, SSLC_ROLE_SERVER, LOOP, 443, OTHER, 40200, SSLC_EVENT_DATA, SSLC_DIR_RECV,
	      "SUBSCRIBE\r\n", t);
	mirror_tick(r.m, t + 240 * 1000000ULL);
	run_finish(&r, &syns, &payload);
	assert_int_equal(frames[4].flags, 0x10);
	assert_int_equal(frames[4].payload, 0);
	assert_int_equal(frames[4].sport, 443);
	assert_int_equal(frames[4].ts_ns, t + 40 * 1000000ULL);
	assert_int_equal(frames[4].ack, frames[3].seq + 11);
}

static int setup(void **state)
{
	(void)state;
	return test_tmpdir_make(dir);
}

static int teardown(void **state)
{
	(void)state;
	return test_tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_both_ends_overlapping),
	    cmocka_unit_test(test_one_end_whole_session_first),
	    cmocka_unit_test(test_not_the_other_end),
	    cmocka_unit_test(test_end_counts_every_frame),
	    cmocka_unit_test(test_batching_does_not_matter),
	    cmocka_unit_test(test_upload_answered_at_once),
	    cmocka_unit_test(test_delayed_ack_by_tick),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
