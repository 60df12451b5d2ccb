/* Writes a pcap of forged connections for check_forge_pcap.py, which checks it with scapy:
 * every IP and TCP checksum recomputed, both directions of every connection reassembled and
 * compared byte for byte with what was written here (files next to the pcap, described by
 * manifest.json). Flows at MTU 576, 1500, 9000 and 65535, IPv4 and IPv6, tagged and untagged,
 * with gaps (one over 4 GiB), FIN from either side and RST.
 * usage: test_forge_pcap OUTDIR */
#include <arpa/inet.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "sslcollector/forge.h"

struct pcap_sink {
	pcap_dumper_t *dumper;
	uint64_t frames;
};

static int dump_frame(void *ctx, const uint8_t *frame, size_t len, uint64_t ts_ns)
{
	struct pcap_sink *s = ctx;
	struct pcap_pkthdr h = {
	    .ts = {.tv_sec = (time_t)(ts_ns / 1000000000u),
		   .tv_usec = (suseconds_t)(ts_ns % 1000000000u / 1000)},
	    .caplen = (bpf_u_int32)len,
	    .len = (bpf_u_int32)len,
	};

	pcap_dump((u_char *)s->dumper, &h, frame);
	s->frames++;
	return 0;
}

/* d: data, g: gap, f: FIN/ACK close, r: RST */
struct step {
	char kind;
	bool from_client;
	uint64_t len;
};

struct flow_def {
	int forge; /* index into the forges below */
	int family;
	uint16_t client_port;
	const struct step *steps;
};

static const struct forge_config forge_cfgs[] = {
    {.mtu = 1500},
    {.mtu = 9000, .vlan = 42},
    {.mtu = 576},
    {.mtu = 65535, .vlan = 4094},
};

#define KIB 1024u
static const struct step s_web[] = {
    {'d', true, 300}, {'d', false, 16 * KIB}, {'d', false, 16 * KIB}, {'d', false, 7000},
    {'d', true, 1},   {'d', false, 0},	      {'g', true, 5000},      {'d', true, 2000},
    {'d', false, 1},  {'f', true, 0},	      {0, false, 0},
};
static const struct step s_big_gap[] = {
    {'d', true, 120},	       {'d', false, 4000}, {'g', false, (5ull << 30) + 7},
    {'d', false, 3000},	       {'d', true, 77},	   {'g', true, 1},
    {'d', true, 1460 * 3 + 1}, {'r', false, 0},	   {0, false, 0},
};
static const struct step s_post[] = {
    {'d', true, 300 * KIB}, {'d', false, 5000}, {'d', true, 9},
    {'d', false, 8960},	    {'f', false, 0},	{0, false, 0},
};
static const struct step s_chat[] = {
    {'d', true, 1},	{'d', false, 2},   {'d', true, 3},   {'d', false, 535},
    {'d', true, 536},	{'d', false, 537}, {'g', false, 99}, {'d', true, 1000},
    {'d', false, 1072}, {'r', true, 0},	   {0, false, 0},
};
static const struct step s_jumbo[] = {
    {'d', true, 64},	{'d', false, 200000}, {'g', true, 1ull << 31},
    {'d', true, 70000}, {'f', true, 0},	      {0, false, 0},
};

static const struct flow_def flows[] = {
    {0, AF_INET, 40001, s_web},	   {0, AF_INET6, 40002, s_big_gap}, {1, AF_INET, 40003, s_post},
    {1, AF_INET6, 40004, s_chat},  {2, AF_INET, 40005, s_chat},	    {2, AF_INET6, 40006, s_web},
    {3, AF_INET6, 40007, s_jumbo}, {3, AF_INET, 40008, s_post},
};
#define N_FLOWS	 (sizeof(flows) / sizeof(flows[0]))
#define N_FORGES (sizeof(forge_cfgs) / sizeof(forge_cfgs[0]))

static void make_tuple(struct forge_tuple *t, int family, uint16_t client_port)
{
	memset(t, 0, sizeof(*t));
	t->family = family;
	if (family == AF_INET) {
		inet_pton(AF_INET, "10.1.0.2", t->client_addr);
		inet_pton(AF_INET, "10.2.0.3", t->server_addr);
	} else {
		inet_pton(AF_INET6, "fd00:1::2", t->client_addr);
		inet_pton(AF_INET6, "fd00:2::3", t->server_addr);
	}
	t->client_port = client_port;
	t->server_port = 443;
	memcpy(t->client_mac, (const uint8_t[]){0x02, 0xaa, 0, 0, 0, 1}, 6);
	memcpy(t->server_mac, (const uint8_t[]){0x02, 0xbb, 0, 0, 0, 2}, 6);
}

static int run_flow(size_t i, struct forge *f, const char *dir, FILE *manifest, uint64_t *ts)
{
	const struct flow_def *def = &flows[i];
	struct forge_tuple t;
	struct forge_flow *fl = NULL;
	uint64_t offset[2] = {0, 0};
	uint32_t rnd = (uint32_t)i * 7919u + 1;
	FILE *out[2] = {NULL, NULL};
	char path[4096], addr[2][INET6_ADDRSTRLEN];
	uint8_t *buf = NULL;
	const char *close = "none";
	int err = 0;

	make_tuple(&t, def->family, def->client_port);
	inet_ntop(def->family, t.client_addr, addr[0], sizeof(addr[0]));
	inet_ntop(def->family, t.server_addr, addr[1], sizeof(addr[1]));
	for (int d = 0; d < 2; d++) {
		snprintf(path, sizeof(path), "%s/flow%zu_%s.bin", dir, i, d ? "s2c" : "c2s");
		out[d] = fopen(path, "wb");
		if (!out[d]) {
			err = -errno;
			fprintf(stderr, "cannot create %s: %s\n", path, strerror(errno));
			goto cleanup;
		}
	}
	fprintf(manifest,
		"%s  {\"family\": %d, \"mtu\": %u, \"vlan\": %d, \"client\": \"%s\", "
		"\"server\": \"%s\", \"client_port\": %u, \"server_port\": %u,\n"
		"   \"client_mac\": \"02:aa:00:00:00:01\", \"server_mac\": \"02:bb:00:00:00:02\",\n"
		"   \"c2s\": \"flow%zu_c2s.bin\", \"s2c\": \"flow%zu_s2c.bin\", \"gaps\": [",
		i ? ",\n" : "", def->family == AF_INET ? 4 : 6, forge_cfgs[def->forge].mtu,
		forge_cfgs[def->forge].vlan, addr[0], addr[1], t.client_port, t.server_port, i, i);
	err = forge_flow_open(f, &t, (*ts)++ * 1000, &fl);
	bool first = true; /* no list entry written yet */

	for (const struct step *s = def->steps; !err && s->kind; s++) {
		int d = s->from_client ? 0 : 1;

		switch (s->kind) {
		case 'd':
			free(buf);
			buf = malloc(s->len ? s->len : 1);
			if (!buf) {
				err = -ENOMEM;
				break;
			}
			for (uint64_t k = 0; k < s->len; k++) {
				rnd = rnd * 1103515245u + 12345u;
				buf[k] = (uint8_t)(rnd >> 16);
			}
			err = forge_flow_data(fl, s->from_client, buf, s->len, (*ts)++ * 1000);
			if (!err && fwrite(buf, 1, s->len, out[d]) != s->len)
				err = -EIO;
			offset[d] += s->len;
			break;
		case 'g':
			err = forge_flow_gap(fl, s->from_client, s->len, (*ts)++ * 1000);
			fprintf(manifest, "%s[\"%s\", %llu, %llu]", first ? "" : ", ",
				d ? "s2c" : "c2s", (unsigned long long)offset[d],
				(unsigned long long)s->len);
			first = false;
			offset[d] += s->len;
			break;
		default:
			close = s->kind == 'f' ? (s->from_client ? "fin-client" : "fin-server")
					       : (s->from_client ? "rst-client" : "rst-server");
			err = forge_flow_close(fl, s->from_client, s->kind == 'r', (*ts)++ * 1000);
			break;
		}
	}
	fprintf(manifest, "],\n   \"writes\": [");
	offset[0] = offset[1] = 0;
	first = true;
	for (const struct step *s = def->steps; s->kind; s++) {
		int d = s->from_client ? 0 : 1;

		if (s->kind == 'd' && s->len) {
			fprintf(manifest, "%s[\"%s\", %llu, %llu]", first ? "" : ", ",
				d ? "s2c" : "c2s", (unsigned long long)offset[d],
				(unsigned long long)s->len);
			first = false;
		}
		offset[d] += s->len;
	}
	fprintf(manifest, "], \"close\": \"%s\"}", close);
	if (err)
		fprintf(stderr, "flow %zu: %s (%s)\n", i, strerror(-err), forge_last_error(f));
cleanup:
	for (int d = 0; d < 2; d++)
		if (out[d] && fclose(out[d]) && !err)
			err = -EIO;
	free(buf);
	forge_flow_free(fl);
	return err;
}

int main(int argc, char **argv)
{
	struct pcap_sink sink = {0};
	struct forge *forges[N_FORGES] = {0};
	char path[4096];
	uint64_t ts = 1700000000ull * 1000000;
	FILE *manifest = NULL;
	pcap_t *p = NULL;
	int err = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	if (mkdir(argv[1], 0700) && errno != EEXIST) {
		fprintf(stderr, "cannot create %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	p = pcap_open_dead(DLT_EN10MB, 262144);
	snprintf(path, sizeof(path), "%s/forge.pcap", argv[1]);
	sink.dumper = p ? pcap_dump_open(p, path) : NULL;
	if (!sink.dumper) {
		fprintf(stderr, "cannot write %s: %s\n", path,
			p ? pcap_geterr(p) : "pcap_open_dead");
		err = -EIO;
		goto cleanup;
	}
	snprintf(path, sizeof(path), "%s/manifest.json", argv[1]);
	manifest = fopen(path, "w");
	if (!manifest) {
		fprintf(stderr, "cannot create %s: %s\n", path, strerror(errno));
		err = -errno;
		goto cleanup;
	}
	for (size_t i = 0; i < N_FORGES && !err; i++)
		err = forge_new(&forge_cfgs[i], dump_frame, &sink, &forges[i]);
	fprintf(manifest, "{\"flows\": [\n");
	for (size_t i = 0; i < N_FLOWS && !err; i++)
		err = run_flow(i, forges[flows[i].forge], argv[1], manifest, &ts);
	fprintf(manifest, "\n]}\n");
cleanup:
	for (size_t i = 0; i < N_FORGES; i++)
		forge_free(forges[i]);
	if (manifest && fclose(manifest) && !err)
		err = -EIO;
	if (sink.dumper)
		pcap_dump_close(sink.dumper);
	if (p)
		pcap_close(p);
	if (err) {
		fprintf(stderr, "test_forge_pcap: failed: %s\n", strerror(-err));
		return 1;
	}
	printf("test_forge_pcap: %llu frames of %zu flows in %s/forge.pcap\n",
	       (unsigned long long)sink.frames, N_FLOWS, argv[1]);
	return 0;
}
