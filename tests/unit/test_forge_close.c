/* Forge's gaps, connection ends and failures: gaps of every size acknowledged past in steps
 * inside the window, FIN/ACK and RST sequences, -EPIPE after close, bad tuples, emit callback
 * errors passed back (and what the next call does about the lost frames), the counters. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "forge_env.h"

#define STEP   ((uint64_t)1 << 29)
#define WINDOW ((uint64_t)65535 << 14)
#define GIB    ((uint64_t)1 << 30)

/* Checks frames [first, end) as the peer's ACKs of a gap of `len` from the given side: each
 * a pure ACK from the peer, advancing by more than 0 and at most 512 MiB (inside the scaled
 * window, far from 2^31), the last at the gap's end. Returns the number of ACKs. */
static size_t check_gap_acks(struct env *e, size_t first, bool from_client, uint64_t acked_len)
{
	uint32_t *seq = from_client ? &e->client_nxt : &e->server_nxt;
	uint32_t peer_seq = from_client ? e->server_nxt : e->client_nxt;
	uint32_t ack = *seq;
	uint64_t covered = 0;
	struct pframe p;
	size_t i;

	for (i = first; i < e->cap.n; i++) {
		get_frame(&e->cap, i, &p);
		assert_direction(&p, &e->t, !from_client);
		assert_int_equal(p.flags, TH_ACK);
		assert_int_equal(p.payload_len, 0);
		assert_int_equal(p.seq, peer_seq);
		uint32_t step = p.ack - ack;

		assert_true(step > 0);
		assert_true(step <= STEP);
		assert_true(step < WINDOW);
		covered += step;
		ack = p.ack;
	}
	assert_int_equal(covered, acked_len);
	*seq = ack;
	return i - first;
}

static void test_gap_small(void **state)
{
	const uint8_t data[10] = "0123456789";
	struct env e;
	struct forge_stats st;
	uint32_t before;

	(void)state;
	env_open(&e, AF_INET, 1500, 0);
	assert_int_equal(forge_flow_data(e.fl, true, data, 10, 1), 0);
	size_t next = check_write(&e, 3, true, data, 10);

	before = e.client_nxt;
	assert_int_equal(forge_flow_gap(e.fl, true, 1000, 2), 0);
	assert_int_equal(e.cap.n, next + 1);
	assert_int_equal(check_gap_acks(&e, next, true, 1000), 1);
	assert_int_equal(e.client_nxt, before + 1000);
	/* data after the hole starts where the hole ends */
	assert_int_equal(forge_flow_data(e.fl, true, data, 10, 3), 0);
	assert_int_equal(check_write(&e, next + 1, true, data, 10), e.cap.n);
	/* a gap of 0 bytes is nothing */
	assert_int_equal(forge_flow_gap(e.fl, false, 0, 4), 0);
	forge_get_stats(e.f, &st);
	assert_int_equal(st.gap_bytes, 1000);
	assert_int_equal(st.frames, e.cap.n);
	env_free(&e);
}

/* 5 GiB + 123 bytes from the server: 11 ACKs of at most 512 MiB, the last at the gap's end
 * modulo 2^32, and the next data exactly there. */
static void test_gap_over_4gib(void **state)
{
	const uint64_t len = 5 * GIB + 123;
	const uint8_t data[3] = {1, 2, 3};
	struct env e;
	struct forge_stats st;
	uint32_t before;

	(void)state;
	env_open(&e, AF_INET6, 1500, 0);
	before = e.server_nxt;
	assert_int_equal(forge_flow_gap(e.fl, false, len, 1), 0);
	assert_int_equal(check_gap_acks(&e, 3, false, len), 11);
	assert_int_equal(e.server_nxt, (uint32_t)(before + len));
	size_t next = e.cap.n;

	assert_int_equal(forge_flow_data(e.fl, false, data, 3, 2), 0);
	assert_int_equal(check_write(&e, next, false, data, 3), e.cap.n);
	/* the client's side is untouched */
	assert_int_equal(forge_flow_data(e.fl, true, data, 3, 2), 0);
	assert_int_equal(check_write(&e, next + 2, true, data, 3), e.cap.n);
	forge_get_stats(e.f, &st);
	assert_int_equal(st.gap_bytes, len);
	env_free(&e);
}

/* Beyond 1 TiB the ACKs cover 1 TiB + (len mod 4 GiB): 2049 of them, and the sequence number
 * on the wire is still the exact one modulo 2^32. */
static void test_gap_beyond_exact(void **state)
{
	const uint64_t len = ((uint64_t)1 << 40) + ((uint64_t)7 << 32) + 77;
	const uint64_t acked = ((uint64_t)1 << 40) + 77;
	struct env e;
	struct forge_stats st;
	uint32_t before;

	(void)state;
	env_open(&e, AF_INET, 1500, 0);
	before = e.client_nxt;
	assert_int_equal(forge_flow_gap(e.fl, true, len, 1), 0);
	assert_int_equal(check_gap_acks(&e, 3, true, acked), 2049);
	assert_int_equal(e.client_nxt, (uint32_t)(before + len));
	size_t next = e.cap.n;

	assert_int_equal(forge_flow_gap(e.fl, true, UINT64_MAX, 2), 0);
	check_gap_acks(&e, next, true, ((uint64_t)1 << 40) + 0xffffffffu);
	forge_get_stats(e.f, &st);
	assert_int_equal(st.gap_bytes, len + UINT64_MAX); /* wraps, as a counter does */
	env_free(&e);
}

static void check_fin(bool client_closes)
{
	const uint8_t data[2000] = {9};
	struct env e;
	struct pframe fin1, fin2, last;
	struct forge_stats st;

	env_open(&e, client_closes ? AF_INET : AF_INET6, 1500, 0);
	assert_int_equal(forge_flow_data(e.fl, !client_closes, data, sizeof(data), 1), 0);
	size_t next = check_write(&e, 3, !client_closes, data, sizeof(data));
	uint32_t x = client_closes ? e.client_nxt : e.server_nxt;
	uint32_t y = client_closes ? e.server_nxt : e.client_nxt;

	assert_int_equal(forge_flow_close(e.fl, client_closes, false, 77), 0);
	assert_int_equal(e.cap.n, next + 3);
	get_frame(&e.cap, next, &fin1);
	get_frame(&e.cap, next + 1, &fin2);
	get_frame(&e.cap, next + 2, &last);
	assert_direction(&fin1, &e.t, client_closes);
	assert_direction(&fin2, &e.t, !client_closes);
	assert_direction(&last, &e.t, client_closes);
	assert_int_equal(fin1.flags, TH_FIN | TH_ACK);
	assert_int_equal(fin1.seq, x);
	assert_int_equal(fin1.ack, y);
	assert_int_equal(fin2.flags, TH_FIN | TH_ACK);
	assert_int_equal(fin2.seq, y);
	assert_int_equal(fin2.ack, x + 1);
	assert_int_equal(last.flags, TH_ACK);
	assert_int_equal(last.seq, x + 1);
	assert_int_equal(last.ack, y + 1);
	for (size_t i = next; i < e.cap.n; i++) {
		assert_int_equal(e.cap.v[i].ts_ns, 77);
		assert_int_equal(e.cap.v[i].len, 14 + (client_closes ? 20 : 40) + 20);
	}
	assert_true(forge_flow_is_closed(e.fl));
	forge_get_stats(e.f, &st);
	assert_int_equal(st.flows_closed, 1);
	env_free(&e);
}

static void test_fin(void **state)
{
	(void)state;
	check_fin(true);
	check_fin(false);
}

static void test_rst(void **state)
{
	(void)state;
	for (int client_resets = 0; client_resets < 2; client_resets++) {
		const uint8_t data[100] = {1};
		struct env e;
		struct pframe p;

		env_open(&e, AF_INET, 1500, 0);
		assert_int_equal(forge_flow_data(e.fl, true, data, sizeof(data), 1), 0);
		size_t next = check_write(&e, 3, true, data, sizeof(data));

		assert_int_equal(forge_flow_close(e.fl, client_resets, true, 5), 0);
		assert_int_equal(e.cap.n, next + 1);
		get_frame(&e.cap, next, &p);
		assert_direction(&p, &e.t, client_resets);
		assert_int_equal(p.flags, TH_RST | TH_ACK);
		assert_int_equal(p.seq, client_resets ? e.client_nxt : e.server_nxt);
		assert_int_equal(p.ack, client_resets ? e.server_nxt : e.client_nxt);
		assert_int_equal(p.payload_len, 0);
		assert_true(forge_flow_is_closed(e.fl));
		env_free(&e);
	}
}

static void test_after_close(void **state)
{
	const uint8_t data[4] = "abcd";
	struct env e;
	struct forge_stats st;

	(void)state;
	env_open(&e, AF_INET6, 1500, 0);
	assert_int_equal(forge_flow_close(e.fl, false, false, 1), 0);
	size_t n = e.cap.n;

	assert_int_equal(n, 6);
	assert_int_equal(forge_flow_data(e.fl, true, data, 4, 2), -EPIPE);
	assert_int_equal(forge_flow_data(e.fl, false, data, 0, 2), -EPIPE);
	assert_int_equal(forge_flow_gap(e.fl, true, 10, 2), -EPIPE);
	assert_int_equal(forge_flow_close(e.fl, true, false, 2), 0);
	assert_int_equal(forge_flow_close(e.fl, false, true, 2), 0);
	assert_int_equal(e.cap.n, n);
	forge_get_stats(e.f, &st);
	assert_int_equal(st.flows_closed, 1);
	assert_int_equal(st.frames, n);
	env_free(&e);
}

static void test_bad_tuple(void **state)
{
	static char sentinel;
	struct capture cap;
	struct forge *f;
	struct forge_flow *fl;
	struct forge_tuple t;

	(void)state;
	capture_init(&cap);
	assert_int_equal(forge_new(NULL, capture_emit, &cap, &f), 0);
	for (int i = 0; i < 5; i++) {
		make_tuple(&t, AF_INET);
		if (i == 0)
			t.family = AF_UNIX;
		else if (i == 1)
			t.family = 0;
		else if (i == 2)
			t.client_port = 0;
		else if (i == 3)
			t.server_port = 0;
		else
			t.family = AF_PACKET;
		fl = (struct forge_flow *)&sentinel;
		assert_int_equal(forge_flow_open(f, &t, 1, &fl), -EINVAL);
		assert_null(fl);
		assert_true(strstr(forge_last_error(f), "bad flow tuple") != NULL);
	}
	make_tuple(&t, AF_INET);
	assert_int_equal(forge_flow_open(f, NULL, 1, &fl), -EINVAL);
	assert_int_equal(forge_flow_open(NULL, &t, 1, &fl), -EINVAL);
	assert_int_equal(forge_flow_open(f, &t, 1, NULL), -EINVAL);
	assert_int_equal(cap.n, 0);
	assert_int_equal(forge_flow_data(NULL, true, (const uint8_t *)"x", 1, 1), -EINVAL);
	assert_int_equal(forge_flow_gap(NULL, true, 1, 1), -EINVAL);
	assert_int_equal(forge_flow_close(NULL, true, false, 1), -EINVAL);
	assert_true(forge_flow_is_closed(NULL));
	assert_null(forge_flow_tuple(NULL));
	/* a good tuple still opens; data NULL with a length is refused */
	assert_int_equal(forge_flow_open(f, &t, 1, &fl), 0);
	assert_int_equal(forge_flow_data(fl, true, NULL, 5, 1), -EINVAL);
	assert_int_equal(cap.n, 3);
	struct forge_stats st;

	forge_get_stats(f, &st);
	assert_int_equal(st.flows_opened, 1);
	forge_flow_free(fl);
	forge_free(f);
	capture_free(&cap);
}

/* The callback's error comes back, no frame after it is built, and the next call first ACKs
 * the lost part so that the IDS records a gap instead of losing its place. */
static void test_emit_error_data(void **state)
{
	uint8_t data[5 * 1460];
	struct env e;
	struct forge_stats st;
	struct pframe p;

	(void)state;
	memset(data, 0x33, sizeof(data));
	env_open(&e, AF_INET, 1500, 0);
	uint32_t start = e.client_nxt;

	e.cap.fail_at = e.cap.calls + 2; /* the third segment */
	e.cap.fail_err = -ENOBUFS;
	assert_int_equal(forge_flow_data(e.fl, true, data, sizeof(data), 1), -ENOBUFS);
	assert_int_equal(e.cap.n, 3 + 2);
	assert_int_equal(e.cap.calls, 3 + 3);
	forge_get_stats(e.f, &st);
	assert_int_equal(st.emit_errors, 1);
	assert_int_equal(st.frames, 5);
	assert_int_equal(st.payload, 2 * 1460);
	assert_true(strstr(forge_last_error(e.f), "emit") != NULL);

	/* next write: first the server's ACK of the whole lost write, then the data after it */
	assert_int_equal(forge_flow_data(e.fl, true, data, 10, 2), 0);
	get_frame(&e.cap, 5, &p);
	assert_direction(&p, &e.t, false);
	assert_int_equal(p.flags, TH_ACK);
	assert_int_equal(p.ack, (uint32_t)(start + sizeof(data)));
	e.client_nxt = start + (uint32_t)sizeof(data);
	assert_int_equal(check_write(&e, 6, true, data, 10), e.cap.n);
	env_free(&e);
}

static void test_emit_error_open_close(void **state)
{
	struct capture cap;
	struct forge *f;
	struct forge_flow *fl = NULL;
	struct forge_tuple t;
	struct forge_stats st;

	(void)state;
	capture_init(&cap);
	make_tuple(&t, AF_INET6);
	assert_int_equal(forge_new(NULL, capture_emit, &cap, &f), 0);
	cap.fail_at = 1; /* the SYN-ACK */
	cap.fail_err = -EIO;
	assert_int_equal(forge_flow_open(f, &t, 1, &fl), -EIO);
	assert_null(fl);
	assert_int_equal(cap.n, 1);
	forge_get_stats(f, &st);
	assert_int_equal(st.flows_opened, 0);
	assert_int_equal(st.emit_errors, 1);

	/* a close whose second frame fails: the error, the flow closed all the same */
	assert_int_equal(forge_flow_open(f, &t, 1, &fl), 0);
	cap.fail_at = cap.calls + 1;
	cap.fail_err = -EAGAIN;
	assert_int_equal(forge_flow_close(fl, true, false, 2), -EAGAIN);
	assert_true(forge_flow_is_closed(fl));
	assert_int_equal(forge_flow_close(fl, true, false, 2), 0);
	assert_int_equal(forge_flow_data(fl, true, (const uint8_t *)"x", 1, 2), -EPIPE);
	assert_int_equal(cap.n, 1 + 3 + 1);
	forge_get_stats(f, &st);
	assert_int_equal(st.emit_errors, 2);
	assert_int_equal(st.flows_closed, 1);
	forge_flow_free(fl);
	forge_free(f);
	capture_free(&cap);
}

/* The counters after a scripted session on two flows. */
static void test_stats(void **state)
{
	const uint8_t data[4000] = {7};
	struct capture cap;
	struct forge *f;
	struct forge_flow *a, *b;
	struct forge_tuple t4, t6;
	struct forge_stats st;
	uint64_t bytes = 0;

	(void)state;
	capture_init(&cap);
	make_tuple(&t4, AF_INET);
	make_tuple(&t6, AF_INET6);
	assert_int_equal(
	    forge_new(&(struct forge_config){.mtu = 1500, .vlan = 5}, capture_emit, &cap, &f), 0);
	assert_int_equal(forge_flow_open(f, &t4, 1, &a), 0);
	assert_int_equal(forge_flow_open(f, &t6, 1, &b), 0);
	assert_int_equal(forge_flow_data(a, true, data, 4000, 2), 0);  /* 3 + 1 frames */
	assert_int_equal(forge_flow_data(b, false, data, 1000, 2), 0); /* 1 + 1 */
	assert_int_equal(forge_flow_gap(a, false, 12345, 3), 0);       /* 1 */
	assert_int_equal(forge_flow_close(a, true, false, 4), 0);      /* 3 */
	assert_int_equal(forge_flow_close(b, false, true, 4), 0);      /* 1 */
	forge_get_stats(f, &st);
	for (size_t i = 0; i < cap.n; i++)
		bytes += cap.v[i].len;
	assert_int_equal(cap.n, 3 + 3 + 4 + 2 + 1 + 3 + 1);
	assert_int_equal(st.frames, cap.n);
	assert_int_equal(st.bytes, bytes);
	assert_int_equal(st.payload, 5000);
	assert_int_equal(st.gap_bytes, 12345);
	assert_int_equal(st.flows_opened, 2);
	assert_int_equal(st.flows_closed, 2);
	assert_int_equal(st.emit_errors, 0);
	forge_get_stats(NULL, &st);
	assert_int_equal(st.frames, 0);
	forge_flow_free(a);
	forge_flow_free(b);
	forge_free(f);
	capture_free(&cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gap_small),
	    cmocka_unit_test(test_gap_over_4gib),
	    cmocka_unit_test(test_gap_beyond_exact),
	    cmocka_unit_test(test_fin),
	    cmocka_unit_test(test_rst),
	    cmocka_unit_test(test_after_close),
	    cmocka_unit_test(test_bad_tuple),
	    cmocka_unit_test(test_emit_error_data),
	    cmocka_unit_test(test_emit_error_open_close),
	    cmocka_unit_test(test_stats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
