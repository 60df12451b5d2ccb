/* The socket attribution rule of memory-BIO programs (bpf/attrib.h), replayed on event
 * sequences: those recorded from Node.js 20 (server and client, bpftrace on its SSL calls and
 * the sock_send_length/sock_recv_length tracepoints), Python's asyncio and Dovecot's
 * imap-login as they were observed, and hand-made ones for what must not be guessed: two
 * sockets before one read, candidates that disagree, a socket that is another SSL object's,
 * bytes that are not TLS, a socket BIO.
 *
 * The replay keeps the state where the BPF program keeps it (bpf/capture_attrib.h): the
 * thread's window, a session per SSL object with its candidate, the owner of each socket.
 * "expect X A" checks that SSL object X is bound to socket A at that point of the sequence;
 * it is placed before the first call whose data must be mirrored.
 * Sabotages: ATTRIB_CONFIRMATIONS 1 makes test_disagreeing_candidates and
 * test_ambiguous_window bind; without the recv_multi check test_ambiguous_window binds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/types.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attrib.h"

#define MAX_OBJ 8

struct sim_session {
	struct attrib_cand cand;
	__u64 bound; /* socket; 0: none */
	bool nested; /* bound by its own call's socket operation */
};

struct sim {
	struct attrib_window w;
	struct sim_session s[MAX_OBJ]; /* SSL object X, Y, Z... = index 0, 1, 2 */
	int owner[MAX_OBJ];	       /* socket A, B, C... -> SSL object + 1; 0: none */
	bool in_call, call_named;
	int call_obj;
	int conflicts, binds;
};

/* SSL objects are X.., sockets A..; their values as the BPF program would see pointers. */
static int obj(char c)
{
	assert_true(c >= 'X' && c < 'X' + MAX_OBJ - 2);
	return c - 'X';
}

static int sock(char c)
{
	assert_true(c >= 'A' && c < 'A' + MAX_OBJ);
	return c - 'A';
}

static __u64 sk_val(int s)
{
	return 0xffff888100000000ULL + ((__u64)s + 1) * 0x1000;
}

static int sk_idx(__u64 v)
{
	return (int)((v - 0xffff888100000000ULL) / 0x1000) - 1;
}

static __u64 ssl_val(int o)
{
	return 0x2c3d0000ULL + ((__u64)o + 1) * 0x800;
}

static int ssl_idx(__u64 v)
{
	return (int)((v - 0x2c3d0000ULL) / 0x800) - 1;
}

static void observe(struct sim *m, int o, __u64 sk)
{
	struct sim_session *s = &m->s[o];
	int owner = m->owner[sk_idx(sk)];

	if (s->bound && s->nested)
		return;
	switch (attrib_judge(&s->cand, sk, s->bound, owner && owner != o + 1)) {
	case ATTRIB_CONFLICT:
		m->conflicts++;
		break;
	case ATTRIB_BIND:
		s->bound = sk;
		s->cand = (struct attrib_cand){0};
		m->owner[sk_idx(sk)] = o + 1;
		m->binds++;
		break;
	default:
		break;
	}
}

static bool reads(const char *f)
{
	return !strcmp(f, "read") || !strcmp(f, "hs");
}

static bool writes(const char *f)
{
	return !strcmp(f, "write") || !strcmp(f, "hs");
}

/* One event: "recv A" / "send A" (outside a call, TLS record header first), "... notls",
 * "enter X read|write|hs", "op A" (the call's own socket operation), "exit X N" (N bytes),
 * "expect X A" / "expect X -". */
static void step(struct sim *m, const char *ev)
{
	char what[8], a[8] = "", b[8] = "";
	int o, ambiguous = 0;

	assert_true(sscanf(ev, "%7s %7s %7s", what, a, b) >= 2);
	if (!strcmp(what, "recv") || !strcmp(what, "send")) {
		int tls = strcmp(b, "notls") != 0;
		__u64 sk = sk_val(sock(a[0]));

		assert_false(m->in_call);
		if (!m->w.follow)
			return;
		if (what[0] == 'r') {
			if (attrib_recv_matters(&m->w, sk))
				attrib_recv(&m->w, sk, tls);
			return;
		}
		if (!m->w.after_ssl)
			return;
		__u64 ssl = attrib_send(&m->w, tls);
		if (ssl)
			observe(m, ssl_idx(ssl), sk);
	} else if (!strcmp(what, "enter")) {
		o = obj(a[0]);
		m->in_call = true;
		m->call_named = false;
		m->call_obj = o;
		if (!m->w.follow)
			return;
		bool bound = m->s[o].bound != 0;
		__u64 sk = attrib_call_enter(&m->w, reads(b) || !bound, &ambiguous);
		if (ambiguous && !bound)
			m->conflicts++;
		if (sk)
			observe(m, o, sk);
	} else if (!strcmp(what, "op")) {
		struct sim_session *s = &m->s[m->call_obj];

		assert_true(m->in_call);
		if (!m->call_named) {
			m->call_named = true;
			s->bound = sk_val(sock(a[0]));
			s->nested = true;
			m->owner[sock(a[0])] = m->call_obj + 1;
		}
	} else if (!strcmp(what, "exit")) {
		o = obj(a[0]);
		assert_true(m->in_call && m->call_obj == o);
		m->in_call = false;
		bool named = m->call_named || (m->s[o].bound && m->s[o].nested);
		/* the function of the call: remembered at entry in the BPF program */
		static const char *const fn[] = {"read", "write", "hs"};
		const char *f = fn[b[0] == 'w' ? 1 : b[0] == 'h' ? 2 : 0];
		long n = strtol(b + 1, NULL, 10);
		if (!named || m->w.follow)
			attrib_call_exit(&m->w, ssl_val(o), named, writes(f) || n == 0);
	} else if (!strcmp(what, "expect")) {
		o = obj(a[0]);
		if (b[0] == '-')
			assert_int_equal(m->s[o].bound, 0);
		else
			assert_int_equal(m->s[o].bound, sk_val(sock(b[0])));
	} else {
		fail_msg("bad event '%s'", ev);
	}
}

/* exit events: "exit X rN" (read returned N), "exit X wN", "exit X hN" */
static void run(struct sim *m, const char *const *evs)
{
	for (size_t i = 0; evs[i]; i++)
		step(m, evs[i]);
}

/* Node.js 20 https server, recorded: SSL_read drives the handshake (no SSL_do_handshake), the
 * ClientHello is read before the thread's first SSL call, the request arrives in 64 KiB reads
 * that do not begin at a record boundary. */
static void test_node_server(void **state)
{
	(void)state;
	struct sim m = {0};
	static const char *const evs[] = {"recv A",	   "enter X read",
					  "exit X r0",	   "send A",
					  "recv A",	   "enter X read",
					  "expect X A",	   "exit X r16384",
					  "enter X read",  "exit X r16384",
					  "enter X read",  "exit X r0",
					  "send A",	   "recv A notls",
					  "enter X read",  "exit X r16384",
					  "enter X write", "exit X w1048704",
					  "send A",	   "enter X read",
					  "exit X r0",	   NULL};
	run(&m, evs);
	assert_int_equal(m.conflicts, 0);
	assert_int_equal(m.binds, 1);
}

/* Node.js 20 https client, recorded: the request is written while the handshake is still
 * going on (SSL_write returns -1 twice), and the SSL_write after the ServerHello finishes
 * the handshake and sends the 200 KB request at once. */
static void test_node_client(void **state)
{
	(void)state;
	struct sim m = {0};
	static const char *const evs[] = {
	    "enter X read",   "exit X r0",     "send A",    "enter X write", "exit X w0",
	    "enter X write",  "exit X w0",     "recv A",    "enter X write", "expect X A",
	    "exit X w200090", "enter X read",  "exit X r0", "send A",	     "recv A",
	    "enter X read",   "exit X r16384", NULL};
	run(&m, evs);
	assert_int_equal(m.conflicts, 0);
	assert_int_equal(m.binds, 1);
}

/* Python asyncio (SSLObject): SSL_do_handshake steps, then SSL_read_ex/SSL_write_ex. */
static void test_asyncio_client_and_server(void **state)
{
	(void)state;
	struct sim c = {0}, s = {0};
	static const char *const client[] = {
	    "enter X hs", "exit X h0",	  "send A",	  "recv A",	   "enter X hs",
	    "exit X h1",  "send A",	  "expect X A",	  "enter X write", "exit X w11",
	    "send A",	  "recv A notls", "enter X read", "exit X r100",   NULL};
	static const char *const server[] = {
	    "recv B",	 "enter Y hs", "exit Y h0",    "send B",     "recv B",	      "enter Y hs",
	    "exit Y h1", "expect Y B", "enter Y read", "exit Y r11", "enter Y write", "exit Y w5",
	    "send B",	 NULL};
	run(&c, client);
	run(&s, server);
	assert_int_equal(c.conflicts + s.conflicts, 0);
}

/* One event loop, two connections whose handshakes interleave: each to its own socket. */
static void test_interleaved_connections(void **state)
{
	(void)state;
	struct sim m = {0};
	static const char *const evs[] = {
	    "recv A",	    "enter X read",  "exit X r0",  "send A",	 "recv B",
	    "enter Y read", "exit Y r0",     "send B",	   "recv A",	 "enter X read",
	    "expect X A",   "exit X r300",   "recv B",	   "expect Y B", "enter Y read",
	    "exit Y r300",  "enter X write", "exit X w50", "send A",	 "enter Y write",
	    "exit Y w50",   "send B",	     NULL};
	run(&m, evs);
	assert_int_equal(m.conflicts, 0);
	assert_int_equal(m.binds, 2);
}

/* Received on two sockets before one read: no candidate, counted; bound later, by two
 * observations that agree. */
static void test_ambiguous_window(void **state)
{
	(void)state;
	struct sim m = {0};
	static const char *const evs[] = {"enter X read", "exit X r0",	  "recv A",
					  "recv B",	  "enter X read", "exit X r0",
					  "expect X -",	  "recv A",	  "recv B",
					  "enter X read", "exit X r0",	  "expect X -",
					  "recv A",	  "enter X read", "exit X r0",
					  "expect X -",	  "recv A",	  "enter X read",
					  "expect X A",	  "exit X r10",	  NULL};
	run(&m, evs);
	assert_int_equal(m.conflicts, 2);
}

/* The write's ciphertext leaves on A, the read's comes in on B: disagreeing candidates are a
 * conflict, never a binding; two in a row that agree are. */
static void test_disagreeing_candidates(void **state)
{
	(void)state;
	struct sim m = {0};
	static const char *const evs[] = {"enter X write", "exit X w0",	 "send A",     "recv B",
					  "enter X read",  "exit X r0",	 "expect X -", "recv A",
					  "enter X read",  "exit X r0",	 "expect X -", "recv A",
					  "enter X read",  "expect X A", "exit X r5",  NULL};
	run(&m, evs);
	assert_int_equal(m.conflicts, 2);
	assert_int_equal(m.binds, 1);
}

/* A socket that another SSL object owns (a socket BIO, bound by its own calls) is never
 * given to a memory-BIO object; bytes that are not TLS are not an observation. */
static void test_owned_socket_and_plain_bytes(void **state)
{
	(void)state;
	struct sim m = {0};
	static const char *const evs[] = {
	    "enter Y read", "op A",	     "exit Y r10",   "enter X write", "exit X w0",
	    "send A",	    "recv A",	     "enter X read", "exit X r0",     "expect X -",
	    "send C notls", "enter X write", "exit X w0",    "send C notls",  "send B",
	    "recv B",	    "enter X read",  "expect X B",   "exit X r7",     NULL};
	run(&m, evs);
	assert_int_equal(m.s[obj('Y')].bound, sk_val(sock('A')));
	assert_int_equal(m.conflicts, 2);
}

/* A thread whose calls name their socket (nginx, curl: socket BIOs) never follows its socket
 * operations between calls. */
static void test_socket_bio_not_followed(void **state)
{
	(void)state;
	struct sim m = {0};
	static const char *const evs[] = {"enter X hs", "op A",		 "exit X h1", "recv B",
					  "send B",	"enter X read",	 "op A",      "exit X r5",
					  "recv B",	"enter X write", "exit X w5", "send B",
					  NULL};
	run(&m, evs);
	assert_false(m.w.follow);
	assert_int_equal(m.conflicts, 0);
	assert_int_equal(m.binds, 0);
	assert_int_equal(m.s[obj('X')].bound, sk_val(sock('A')));
}

/* Once bound, a disagreeing observation is counted and the binding kept. */
static void test_bound_keeps_binding(void **state)
{
	(void)state;
	struct sim m = {0};
	static const char *const evs[] = {
	    "enter X hs",    "exit X h0",  "send A", "recv A",	     "enter X hs",
	    "exit X h1",     "expect X A", "recv C", "enter X read", "exit X r9",
	    "enter X write", "exit X w9",  "send C", "expect X A",   NULL};
	run(&m, evs);
	assert_int_equal(m.conflicts, 2);
	assert_int_equal(m.binds, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_node_server),
	    cmocka_unit_test(test_node_client),
	    cmocka_unit_test(test_asyncio_client_and_server),
	    cmocka_unit_test(test_interleaved_connections),
	    cmocka_unit_test(test_ambiguous_window),
	    cmocka_unit_test(test_disagreeing_candidates),
	    cmocka_unit_test(test_owned_socket_and_plain_bytes),
	    cmocka_unit_test(test_socket_bio_not_followed),
	    cmocka_unit_test(test_bound_keeps_binding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
