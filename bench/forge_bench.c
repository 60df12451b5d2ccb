/* bench/forge_bench.c: forge's throughput on one core. A flow carries 16 KiB writes (server to
 * client, each followed by the client's ACK) and the emit callback only counts; printed are
 * frames/s and Gbps of output frames at MTU 1500 and 9000, IPv4 and IPv6, for forge (per-flow
 * libnet template, patched per frame) and, as the reference measured in the same run, for the
 * same frames each built by libnet. Median of the runs. Not run by ctest. */
#include <errno.h>
#include <getopt.h>
#include <libnet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "forge_internal.h"

#define WRITE_LEN (16 * 1024)

struct counter {
	uint64_t frames;
	uint64_t bytes;
};

struct result {
	double fps;
	double gbps;
	double frames_per_write;
};

static int count_frame(void *ctx, const uint8_t *frame, size_t len, uint64_t ts_ns)
{
	struct counter *c = ctx;

	(void)frame;
	(void)ts_ns;
	c->frames++;
	c->bytes += len;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make_tuple(struct forge_tuple *t, int family)
{
	memset(t, 0, sizeof(*t));
	t->family = family;
	if (family == AF_INET) {
		memcpy(t->client_addr, (uint8_t[]){192, 0, 2, 10}, 4);
		memcpy(t->server_addr, (uint8_t[]){198, 51, 100, 20}, 4);
	} else {
		memcpy(t->client_addr, (uint8_t[]){0x20, 0x01, 0x0d, 0xb8, [15] = 0x10}, 16);
		memcpy(t->server_addr, (uint8_t[]){0x20, 0x01, 0x0d, 0xb8, [14] = 1, [15] = 0x20},
		       16);
	}
	t->client_port = 40000;
	t->server_port = 443;
	memcpy(t->client_mac, (uint8_t[]){0x02, 0, 0, 0, 0, 1}, 6);
	memcpy(t->server_mac, (uint8_t[]){0x02, 0, 0, 0, 0, 2}, 6);
}

static void finish(struct result *r, const struct counter *c, uint64_t writes, double secs)
{
	r->fps = (double)c->frames / secs;
	r->gbps = (double)c->bytes * 8 / secs / 1e9;
	r->frames_per_write = (double)c->frames / (double)writes;
}

static int run_forge(int family, unsigned mtu, double secs, const uint8_t *data, struct result *r)
{
	const struct forge_config cfg = {.mtu = mtu};
	struct forge_tuple t;
	struct counter c = {0};
	struct forge *f = NULL;
	struct forge_flow *fl = NULL;
	uint64_t writes = 0;
	double t0, t1;
	int err;

	make_tuple(&t, family);
	err = forge_new(&cfg, count_frame, &c, &f);
	if (!err)
		err = forge_flow_open(f, &t, 0, &fl);
	if (err)
		goto cleanup;
	c = (struct counter){0};
	t0 = now_s();
	do {
		for (int i = 0; i < 64 && !err; i++, writes++)
			err = forge_flow_data(fl, false, data, WRITE_LEN, writes);
		t1 = now_s();
	} while (!err && t1 - t0 < secs);
	finish(r, &c, writes, t1 - t0);
cleanup:
	if (err)
		fprintf(stderr, "forge_bench: forge failed: %s (%s)\n", strerror(-err),
			forge_last_error(f));
	forge_flow_free(fl);
	forge_free(f);
	return err;
}

/* The same frames as run_forge(), every one built by libnet from scratch. */
static int run_libnet(int family, unsigned mtu, double secs, const uint8_t *data, struct result *r)
{
	char err_msg[LIBNET_ERRBUF_SIZE + 64] = "";
	struct forge_hdr_desc from_server, from_client;
	struct forge_tuple t;
	struct counter c = {0};
	size_t mss = mtu - (family == AF_INET ? 40 : 60), len = 0;
	uint32_t server_seq = 1000, client_seq = 5000;
	uint16_t server_id = 0, client_id = 0;
	uint64_t writes = 0;
	uint8_t *frame = malloc(FORGE_MAX_FRAME);
	libnet_t *ln = libnet_init(LIBNET_NONE, NULL, err_msg);
	double t0, t1;
	int err = 0;

	if (!frame || !ln) {
		err = -ENOMEM;
		goto cleanup;
	}
	make_tuple(&t, family);
	forge_hdr_desc_init(&from_server, &t, false, 0);
	forge_hdr_desc_init(&from_client, &t, true, 0);
	t0 = now_s();
	do {
		for (int i = 0; i < 64 && !err; i++, writes++) {
			for (size_t off = 0; off < WRITE_LEN && !err; off += mss) {
				size_t n = WRITE_LEN - off < mss ? WRITE_LEN - off : mss;
				struct forge_seg s = {
				    .seq = server_seq,
				    .ack = client_seq,
				    .ip_id = server_id++,
				    .flags =
					FORGE_TH_ACK | (off + n == WRITE_LEN ? FORGE_TH_PSH : 0),
				    .payload = data + off,
				    .len = n,
				};

				err =
				    forge_libnet_frame(ln, &from_server, &s, frame, FORGE_MAX_FRAME,
						       &len, err_msg, sizeof(err_msg));
				count_frame(&c, frame, len, writes);
				server_seq += (uint32_t)n;
			}
			struct forge_seg ack = {.seq = client_seq,
						.ack = server_seq,
						.ip_id = client_id++,
						.flags = FORGE_TH_ACK};

			if (!err)
				err = forge_libnet_frame(ln, &from_client, &ack, frame,
							 FORGE_MAX_FRAME, &len, err_msg,
							 sizeof(err_msg));
			count_frame(&c, frame, len, writes);
		}
		t1 = now_s();
	} while (!err && t1 - t0 < secs);
	finish(r, &c, writes, t1 - t0);
cleanup:
	if (err)
		fprintf(stderr, "forge_bench: libnet failed: %s (%s)\n", strerror(-err), err_msg);
	if (ln)
		libnet_destroy(ln);
	free(frame);
	return err;
}

static int by_gbps(const void *a, const void *b)
{
	double x = ((const struct result *)a)->gbps, y = ((const struct result *)b)->gbps;

	return (x > y) - (x < y);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: forge_bench [-r RUNS] [-s SECONDS]\n"
		     "  -r RUNS     runs per case; the median is printed (default 5)\n"
		     "  -s SECONDS  length of one run (default 1.0)\n");
}

int main(int argc, char **argv)
{
	static const int families[] = {AF_INET, AF_INET6};
	static const unsigned mtus[] = {1500, 9000};
	struct result fr[64], lr[64];
	double secs = 1.0;
	int runs = 5, opt;
	uint8_t *data;

	while ((opt = getopt(argc, argv, "r:s:h")) != -1) {
		switch (opt) {
		case 'r':
			runs = atoi(optarg);
			if (runs < 1 || runs > 64) {
				fprintf(stderr,
					"forge_bench: -r %s: a number of runs from 1 to 64\n",
					optarg);
				return 2;
			}
			break;
		case 's':
			secs = atof(optarg);
			if (!(secs > 0 && secs <= 60)) {
				fprintf(stderr,
					"forge_bench: -s %s: seconds, more than 0, at most 60\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	data = malloc(WRITE_LEN);
	if (!data) {
		fprintf(stderr, "forge_bench: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < WRITE_LEN; i++)
		data[i] = (uint8_t)(i * 131 + 7);

	printf("forge_bench: %d-byte writes, one thread, median of %d runs of %.1f s\n", WRITE_LEN,
	       runs, secs);
	printf("%-5s %5s %8s | %12s %8s | %12s %8s | %7s\n", "", "MTU", "frm/wr", "forge fr/s",
	       "Gbps", "libnet fr/s", "Gbps", "ratio");
	for (size_t fi = 0; fi < 2; fi++) {
		for (size_t mi = 0; mi < 2; mi++) {
			for (int i = 0; i < runs; i++) {
				if (run_forge(families[fi], mtus[mi], secs, data, &fr[i]) ||
				    run_libnet(families[fi], mtus[mi], secs, data, &lr[i])) {
					free(data);
					return 1;
				}
			}
			qsort(fr, (size_t)runs, sizeof(fr[0]), by_gbps);
			qsort(lr, (size_t)runs, sizeof(lr[0]), by_gbps);
			const struct result *f = &fr[runs / 2], *l = &lr[runs / 2];

			printf("%-5s %5u %8.2f | %12.0f %8.2f | %12.0f %8.2f | %6.1fx\n",
			       families[fi] == AF_INET ? "IPv4" : "IPv6", mtus[mi],
			       f->frames_per_write, f->fps, f->gbps, l->fps, l->gbps,
			       f->gbps / l->gbps);
			if (f->frames_per_write != l->frames_per_write)
				printf("      (the two paths emitted different frame counts)\n");
		}
	}
	free(data);
	return 0;
}
