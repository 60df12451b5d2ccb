/* The BPF <-> agent records: layout fixed, so that a BPF object and an agent built apart agree.
 * (event.h also asserts the sizes at compile time; this checks every field's offset.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sslcollector/event.h"

static void test_event_offsets(void **state)
{
	(void)state;
	assert_int_equal(offsetof(struct sslc_event, type), 0);
	assert_int_equal(offsetof(struct sslc_event, dir), 1);
	assert_int_equal(offsetof(struct sslc_event, flags), 2);
	assert_int_equal(offsetof(struct sslc_event, func), 3);
	assert_int_equal(offsetof(struct sslc_event, pid), 4);
	assert_int_equal(offsetof(struct sslc_event, tid), 8);
	assert_int_equal(offsetof(struct sslc_event, data_len), 12);
	assert_int_equal(offsetof(struct sslc_event, ts_ns), 16);
	assert_int_equal(offsetof(struct sslc_event, conn_id), 24);
	assert_int_equal(offsetof(struct sslc_event, len), 32);
	assert_int_equal(offsetof(struct sslc_event, off), 40);
	assert_int_equal(offsetof(struct sslc_event, gap), 48);
	assert_int_equal(offsetof(struct sslc_event, conn), 64);
	assert_int_equal(offsetof(struct sslc_event, comm), 128);
	assert_int_equal(offsetof(struct sslc_event, data), 144);
	assert_int_equal(sizeof(struct sslc_event), 144);
}

/* known_libs' key: written by agent/capture.c, read by bpf/capture.bpf.c's check_new_library */
static void test_lib_key_offsets(void **state)
{
	(void)state;
	assert_int_equal(offsetof(struct sslc_lib_key, dev), 0);
	assert_int_equal(offsetof(struct sslc_lib_key, ino), 8);
	assert_int_equal(sizeof(struct sslc_lib_key), 16);
}

static void test_conn_offsets(void **state)
{
	(void)state;
	assert_int_equal(offsetof(struct sslc_conn, local_addr), 0);
	assert_int_equal(offsetof(struct sslc_conn, remote_addr), 16);
	assert_int_equal(offsetof(struct sslc_conn, local_port), 32);
	assert_int_equal(offsetof(struct sslc_conn, remote_port), 34);
	assert_int_equal(offsetof(struct sslc_conn, family), 36);
	assert_int_equal(offsetof(struct sslc_conn, role), 37);
	assert_int_equal(offsetof(struct sslc_conn, lib), 38);
	assert_int_equal(offsetof(struct sslc_conn, netns), 40);
	assert_int_equal(offsetof(struct sslc_conn, cgroup), 48);
	assert_int_equal(offsetof(struct sslc_conn, netns_cookie), 56);
	assert_int_equal(sizeof(struct sslc_conn), 64);
	/* every record, header plus the largest chunk, fits a u32 length */
	assert_true(sizeof(struct sslc_event) + SSLC_CHUNK_MAX < UINT32_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_event_offsets),
	    cmocka_unit_test(test_conn_offsets),
	    cmocka_unit_test(test_lib_key_offsets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
