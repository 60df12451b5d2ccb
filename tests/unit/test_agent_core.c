/* The agent's bookkeeping: the connection-id hash map and the --dump-dir files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_tmpdir.h"
#include "dump.h"
#include "u64map.h"

static void test_u64map(void **state)
{
	struct u64map m = {0};
	static int vals[20000];

	(void)state;
	assert_null(u64map_get(&m, 1));
	assert_null(u64map_del(&m, 1));
	for (uint64_t k = 1; k <= 20000; k++)
		assert_int_equal(u64map_put(&m, k * 7919, &vals[k - 1]), 0);
	assert_int_equal(m.len, 20000);
	for (uint64_t k = 1; k <= 20000; k++)
		assert_ptr_equal(u64map_get(&m, k * 7919), &vals[k - 1]);
	/* replace keeps the count */
	assert_int_equal(u64map_put(&m, 7919, &vals[5]), 0);
	assert_int_equal(m.len, 20000);
	assert_ptr_equal(u64map_get(&m, 7919), &vals[5]);
	/* delete half, the rest stays reachable across tombstones */
	for (uint64_t k = 1; k <= 20000; k += 2)
		assert_non_null(u64map_del(&m, k * 7919));
	assert_int_equal(m.len, 10000);
	for (uint64_t k = 1; k <= 20000; k++) {
		if (k % 2)
			assert_null(u64map_get(&m, k * 7919));
		else
			assert_ptr_equal(u64map_get(&m, k * 7919), &vals[k - 1]);
	}
	/* churn: many insert/delete cycles must not grow without bound */
	size_t cap = m.cap;
	for (uint64_t k = 1ULL << 40; k < (1ULL << 40) + 200000; k++) {
		assert_int_equal(u64map_put(&m, k, &vals[0]), 0);
		assert_non_null(u64map_del(&m, k));
	}
	assert_int_equal(m.len, 10000);
	assert_true(m.cap <= cap * 2);
	size_t live = 0;
	for (size_t i = 0; i < m.cap; i++)
		live += u64map_live(&m, i) ? 1 : 0;
	assert_int_equal(live, 10000);
	u64map_free(&m);
}

static struct sslc_event *make_event(uint8_t type, uint8_t dir, uint64_t conn, const char *data,
				     uint64_t len)
{
	size_t dlen = data ? strlen(data) : 0;
	struct sslc_event *e = calloc(1, sizeof(*e) + dlen);

	e->type = type;
	e->dir = dir;
	e->conn_id = conn;
	e->pid = 4242;
	memcpy(e->comm, "curl", 5);
	e->conn.family = 2;
	e->conn.local_addr[0] = 10;
	e->conn.local_addr[3] = 1;
	e->conn.remote_addr[0] = 10;
	e->conn.remote_addr[3] = 2;
	e->conn.local_port = 40000;
	e->conn.remote_port = 443;
	e->data_len = (uint32_t)dlen;
	e->len = data ? dlen : len;
	if (dlen)
		memcpy(e->data, data, dlen);
	return e;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[4096];
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_dump(void **state)
{
	char dir[] = "/tmp/sslc-dump-XXXXXX", path[256], err[256];
	struct dump *d;
	struct sslc_event *e;
	struct stat st;
	char *text;

	(void)state;
	assert_int_equal(test_tmpdir_make(dir), 0);
	assert_int_equal(dump_open(dir, &d, err, sizeof(err)), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	e = make_event(SSLC_EVENT_DATA, SSLC_DIR_SEND, 7, "GET / HTTP/1.1\r\n", 0);
	assert_int_equal(dump_event(d, e, SSLC_ROLE_CLIENT, NULL), 0);
	free(e);
	e = make_event(SSLC_EVENT_GAP, SSLC_DIR_RECV, 7, NULL, 1000);
	assert_int_equal(dump_event(d, e, SSLC_ROLE_CLIENT, NULL), 0);
	free(e);
	e = make_event(SSLC_EVENT_DATA, SSLC_DIR_RECV, 7, "HTTP/1.1 200 OK\r\n", 0);
	assert_int_equal(dump_event(d, e, SSLC_ROLE_CLIENT, NULL), 0);
	free(e);
	e = make_event(SSLC_EVENT_DATA, SSLC_DIR_SEND, 8, "other", 0); /* stays open */
	assert_int_equal(dump_event(d, e, SSLC_ROLE_CLIENT, NULL), 0);
	free(e);
	e = make_event(SSLC_EVENT_CLOSE, 0, 7, NULL, 0);
	e->gap[SSLC_DIR_SEND] = 5;
	e->flags = SSLC_F_CLOSE_RESET;
	assert_int_equal(dump_event(d, e, SSLC_ROLE_CLIENT, NULL), 0);
	free(e);

	snprintf(path, sizeof(path), "%s/conn-7.send", dir);
	assert_string_equal(slurp(path), "GET / HTTP/1.1\r\n");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/conn-7.recv", dir);
	assert_string_equal(slurp(path), "HTTP/1.1 200 OK\r\n");
	snprintf(path, sizeof(path), "%s/conn-7.json", dir);
	text = slurp(path);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"local\": \"10.0.0.1:40000\""));
	assert_non_null(strstr(text, "\"remote\": \"10.0.0.2:443\""));
	assert_non_null(strstr(text, "\"role\": \"client\""));
	assert_non_null(strstr(text, "\"bytes_send\": 16"));
	assert_non_null(strstr(text, "\"bytes_recv\": 17"));
	assert_non_null(strstr(text, "\"gap_recv\": 1000"));
	assert_non_null(strstr(text, "\"gap_send\": 5"));
	assert_non_null(strstr(text, "\"gaps_recv\": [[0,1000]]"));
	assert_non_null(strstr(text, "\"gaps_send\": [[16,5]]"));
	assert_non_null(strstr(text, "\"closed\": true"));
	assert_non_null(strstr(text, "\"reset\": true"));
	snprintf(path, sizeof(path), "%s/conn-8.json", dir);
	assert_null(slurp(path)); /* written when it ends */
	dump_close(d);
	text = slurp(path);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"closed\": false"));

	assert_int_equal(test_tmpdir_remove(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_u64map),
	    cmocka_unit_test(test_dump),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
