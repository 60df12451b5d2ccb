/* The loop guard (agent/loopguard.h) inside agent/mirror.c, driven by hand-made capture events
 * into -w: a connection whose captured bytes are this mirror's own output (what a relay of the
 * tunnel, a renamed collector or a TLS upload of `-w -` reads or writes) is cut after a few
 * samples, and the cut is reported through the hook; a connection that carries the same
 * application bytes again (a download repeated), or another agent's output, is mirrored whole.
 * Sabotage: without the loopguard_check() call in mirror_event() the relay is never cut and
 * test_own_output_is_cut fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_tmpdir.h"
#include "loopguard.h"
#include "mirror.h"
#include "options.h"

#define SEC 1000000000ULL

static char dir[] = "/tmp/sslc-test-loopguard-XXXXXX";
static const uint8_t LOOP[4] = {127, 0, 0, 1};
static const uint8_t PEER[4] = {192, 0, 2, 7};

struct run {
	struct sslc_options opts;
	struct mirror *m;
	char path[300];
	uint64_t cuts[8];
	size_t n_cuts, n_uncuts;
};

static int on_cut(void *ctx, uint64_t conn_id, bool on)
{
	struct run *r = ctx;

	if (on && r->n_cuts < 8)
		r->cuts[r->n_cuts++] = conn_id;
	else if (!on)
		r->n_uncuts++;
	return 0;
}

static void run_start(struct run *r, const char *name)
{
	char err[512] = "";
	char *argv[] = {"sslcollector", "-I", "any", "-w", r->path, "-q", NULL};
	struct mirror_hooks hooks = {.cut = on_cut, .ctx = r};

	memset(r, 0, sizeof(*r));
	snprintf(r->path, sizeof(r->path), "%s/%s.pcap", dir, name);
	assert_int_equal(options_parse(6, argv, &r->opts, err, sizeof(err)), 0);
	hooks.ctx = r;
	assert_int_equal(mirror_open(&r->opts, &hooks, &r->m, err, sizeof(err)), 0);
}

static void event(struct run *r, uint64_t id, uint16_t port, uint8_t type, uint8_t dir_,
		  const void *data, size_t len, uint64_t wall)
{
	struct sslc_event *e = calloc(1, sizeof(*e) + len);

	assert_non_null(e);
	e->type = type;
	e->dir = dir_;
	e->conn_id = id;
	e->data_len = type == SSLC_EVENT_DATA ? (uint32_t)len : 0;
	e->len = len;
	if (len)
		memcpy(e->data, data, len);
	memcpy(e->conn.local_addr, LOOP, 4);
	memcpy(e->conn.remote_addr, PEER, 4);
	e->conn.local_port = port;
	e->conn.remote_port = 443;
	e->conn.family = AF_INET;
	e->conn.role = SSLC_ROLE_CLIENT;
	strcpy(e->comm, "relay");
	assert_int_equal(mirror_event(r->m, e, SSLC_ROLE_CLIENT, wall), 0);
	free(e);
}

/* A connection that receives data in chunks of 16 KiB (what a TLS reader gets), then ends. */
static void receive(struct run *r, uint64_t id, uint16_t port, const uint8_t *data, size_t len,
		    uint64_t wall)
{
	event(r, id, port, SSLC_EVENT_DATA, SSLC_DIR_SEND, "GET / HTTP/1.1\r\n\r\n", 18, wall);
	for (size_t off = 0; off < len; off += 16384)
		event(r, id, port, SSLC_EVENT_DATA, SSLC_DIR_RECV, data + off,
		      len - off < 16384 ? len - off : 16384, wall + off);
	event(r, id, port, SSLC_EVENT_CLOSE, 0, NULL, 0, wall + len + 1);
	mirror_flush(r->m);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Payload bytes of the pcap's frames whose client port is port. */
static size_t payload_of(const char *path, uint16_t port)
{
	size_t n, off = 24, total = 0;
	uint8_t *buf = read_file(path, &n);

	while (off + 16 <= n) {
		uint32_t caplen;
		const uint8_t *ip, *tcp;

		memcpy(&caplen, buf + off + 8, 4);
		ip = buf + off + 16 + 14;
		tcp = ip + (ip[0] & 15) * 4;
		if ((tcp[0] << 8 | tcp[1]) == port || (tcp[2] << 8 | tcp[3]) == port)
			total +=
			    (size_t)((ip[2] << 8 | ip[3]) - (ip[0] & 15) * 4 - (tcp[12] >> 4) * 4);
		off += 16 + caplen;
	}
	free(buf);
	return total;
}

static uint8_t *download(size_t len)
{
	uint8_t *d = malloc(len);

	assert_non_null(d);
	for (size_t i = 0; i < len; i++)
		d[i] = (uint8_t)(i * 7 + (i >> 9));
	return d;
}

#define DOWNLOAD (300 * 1024)

static void test_own_output_is_cut(void **state)
{
	struct run r;
	uint8_t *app = download(DOWNLOAD), *out;
	size_t out_len;

	(void)state;
	run_start(&r, "relay");
	receive(&r, 1, 40001, app, DOWNLOAD, 1 * SEC);
	out = read_file(r.path, &out_len); /* what a reader of -w - or of the tunnel gets */
	assert_true(out_len > DOWNLOAD);
	receive(&r, 2, 40002, out, out_len, 2 * SEC);
	/* the same application bytes again: not ours, mirrored whole */
	receive(&r, 3, 40003, app, DOWNLOAD, 3 * SEC);
	mirror_close(r.m);
	assert_int_equal(r.n_cuts, 1);
	assert_int_equal(r.cuts[0], 2);
	assert_int_equal(r.n_uncuts, 1);
	assert_int_equal(payload_of(r.path, 40001), 18 + DOWNLOAD);
	assert_int_equal(payload_of(r.path, 40003), 18 + DOWNLOAD);
	/* cut within the first samples: at most 3 strides of the relay were mirrored */
	assert_true(payload_of(r.path, 40002) <= 18 + 3 * LOOPGUARD_STRIDE);
	free(out);
	free(app);
}

/* Another agent's output (its own random sequence numbers and key): not a loop of ours. */
static void test_other_output_is_mirrored(void **state)
{
	struct run a, b;
	uint8_t *app = download(DOWNLOAD), *other;
	size_t other_len;

	(void)state;
	run_start(&a, "other-a");
	receive(&a, 1, 40001, app, DOWNLOAD, 1 * SEC);
	mirror_close(a.m);
	other = read_file(a.path, &other_len);
	run_start(&b, "other-b");
	receive(&b, 1, 40001, app, DOWNLOAD, 1 * SEC); /* the same events as a's */
	receive(&b, 2, 40002, other, other_len, 2 * SEC);
	mirror_close(b.m);
	assert_int_equal(b.n_cuts, 0);
	assert_int_equal(payload_of(b.path, 40002), 18 + other_len);
	free(other);
	free(app);
}

/* Every frame noted is found again, inside any bytes around it; nothing in bytes never sent. */
static void test_scan_finds_frames(void **state)
{
	struct loopguard *lg, *other;
	uint8_t frame[14 + 20 + 20 + 10] = {0}, buf[300];

	(void)state;
	assert_int_equal(loopguard_new(&lg), 0);
	assert_int_equal(loopguard_new(&other), 0);
	frame[12] = 0x08;
	frame[14] = 0x45;
	for (size_t i = 15; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 13);
	loopguard_note_frame(lg, frame, sizeof(frame));
	for (size_t at = 0; at + sizeof(frame) <= sizeof(buf); at += 37) {
		memset(buf, 'x', sizeof(buf));
		memcpy(buf + at, frame, sizeof(frame));
		assert_int_equal(loopguard_scan(lg, buf, sizeof(buf)), 1);
		assert_int_equal(loopguard_scan(other, buf, sizeof(buf)), 0);
	}
	/* the checksums may be completed on the way: still ours */
	memcpy(buf, frame, sizeof(frame));
	buf[14 + 10] ^= 0xff;
	buf[14 + 20 + 17] ^= 0xff;
	assert_int_equal(loopguard_scan(lg, buf, sizeof(frame)), 1);
	/* any other header byte: not ours */
	buf[14 + 20 + 5] ^= 1; /* the sequence number */
	assert_int_equal(loopguard_scan(lg, buf, sizeof(frame)), 0);
	/* cut short: not found, never read past the end */
	assert_int_equal(loopguard_scan(lg, frame, 14 + 20 + 19), 0);
	loopguard_free(lg);
	loopguard_free(other);
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
	    cmocka_unit_test(test_scan_finds_frames),
	    cmocka_unit_test(test_own_output_is_cut),
	    cmocka_unit_test(test_other_output_is_mirrored),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
