/* The agent's send queue (tunnel/queue.c): records go in whole or not at all, come out in order
 * across the end of the ring, are counted as sent only once whole, a drained queue starts again
 * at the beginning of its buffer, and closing it counts what was thrown away; a frame pushed in
 * two parts comes out whole, also across the end of the ring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include <sslcollector/pcap_stream.h>

#include "queue.h"

#define QSIZE 1000u

/* A pcap record header for a frame of len bytes, then the frame, whose bytes are tag, tag+1, ...
 * Frames with an even tag are pushed in two parts (headers and payload, as the agent's forge
 * hands them over), split at a third of their length. */
static void push_frame(struct queue *q, uint8_t tag, size_t len, int want)
{
	uint8_t hdr[PCAP_STREAM_RECORD_HDR], frame[512];
	size_t split = tag % 2 ? len : len / 3;
	bool was_empty;

	assert_true(len <= sizeof(frame));
	for (size_t i = 0; i < len; i++)
		frame[i] = (uint8_t)(tag + i);
	pcap_stream_record_header(hdr, (uint32_t)len, 0);
	assert_int_equal(
	    queue_push(q, hdr, sizeof(hdr), frame, split, frame + split, len - split, &was_empty),
	    want);
}

/* Takes everything out in peeks of at most chunk bytes into out; returns the bytes taken. */
static size_t drain(struct queue *q, size_t chunk, uint8_t *out, struct queue_counts *done)
{
	const uint8_t *p;
	size_t n, got = 0;

	while ((n = queue_peek(q, &p)) > 0) {
		if (n > chunk)
			n = chunk;
		memcpy(out + got, p, n);
		got += n;
		queue_consume(q, n, done);
	}
	return got;
}

static void check_frame_at(const uint8_t *rec, uint8_t tag, size_t len)
{
	uint32_t caplen;

	memcpy(&caplen, rec + 8, sizeof(caplen));
	assert_int_equal(caplen, len);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(rec[PCAP_STREAM_RECORD_HDR + i], (uint8_t)(tag + i));
}

static void test_in_order_across_the_end(void **state)
{
	struct queue q;
	struct queue_counts done = {0};
	uint8_t out[4 * QSIZE];
	const uint8_t *p;
	size_t rec = PCAP_STREAM_RECORD_HDR + 300;

	(void)state;
	assert_int_equal(queue_init(&q, QSIZE), 0);
	push_frame(&q, 1, 300, -ENOTCONN); /* not open yet */
	queue_open(&q);
	push_frame(&q, 1, 300, 0);
	push_frame(&q, 2, 300, 0);
	push_frame(&q, 3, 300, 0);
	push_frame(&q, 4, 300, -ENOBUFS); /* 3 x 316 = 948: no room for a fourth */
	/* the sender takes the first record and half of the second: a partial record is not sent */
	assert_true(queue_peek(&q, &p) >= rec + 100);
	queue_consume(&q, rec + 100, &done);
	assert_int_equal(done.frames, 1);
	assert_int_equal(done.bytes, 300);
	/* now there is room: this record wraps around the end of the buffer */
	push_frame(&q, 4, 300, 0);
	assert_int_equal(queue_used(&q), 3 * rec - 100);
	memset(out, 0, sizeof(out));
	assert_int_equal(drain(&q, 77, out, &done), 3 * rec - 100);
	check_frame_at(out + rec - 100, 3, 300);
	check_frame_at(out + 2 * rec - 100, 4, 300);
	assert_int_equal(done.frames, 4);
	assert_int_equal(done.bytes, 4 * 300);
	queue_destroy(&q);
}

static void test_drained_queue_starts_at_the_beginning(void **state)
{
	struct queue q;
	struct queue_counts done = {0};
	uint8_t out[QSIZE];
	const uint8_t *p;

	(void)state;
	assert_int_equal(queue_init(&q, QSIZE), 0);
	queue_open(&q);
	for (int round = 0; round < 10; round++) {
		push_frame(&q, (uint8_t)round, 200, 0);
		assert_int_equal(queue_peek(&q, &p), PCAP_STREAM_RECORD_HDR + 200);
		assert_ptr_equal(p, q.buf); /* not further on each time */
		drain(&q, 1000, out, &done);
		check_frame_at(out, (uint8_t)round, 200);
	}
	assert_int_equal(done.frames, 10);
	queue_destroy(&q);
}

static void test_close_counts_what_it_throws_away(void **state)
{
	struct queue q;
	struct queue_counts done = {0}, lost = {0};
	const uint8_t *p;

	(void)state;
	assert_int_equal(queue_init(&q, QSIZE), 0);
	queue_open(&q);
	push_frame(&q, 1, 100, 0);
	push_frame(&q, 2, 150, 0);
	queue_peek(&q, &p);
	queue_consume(&q, 10, &done); /* part of the first record went out */
	queue_close(&q, &lost);
	assert_int_equal(done.frames, 0);
	assert_int_equal(lost.frames, 2);
	assert_int_equal(lost.bytes, 250);
	assert_int_equal(queue_used(&q), 0);
	push_frame(&q, 3, 100, -ENOTCONN);
	/* a new session starts with an empty queue at a record boundary */
	queue_open(&q);
	push_frame(&q, 3, 100, 0);
	assert_int_equal(queue_peek(&q, &p), PCAP_STREAM_RECORD_HDR + 100);
	queue_consume(&q, PCAP_STREAM_RECORD_HDR + 100, &done);
	assert_int_equal(done.frames, 1);
	assert_int_equal(done.bytes, 100);
	queue_destroy(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_in_order_across_the_end),
	    cmocka_unit_test(test_drained_queue_starts_at_the_beginning),
	    cmocka_unit_test(test_close_counts_what_it_throws_away),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
