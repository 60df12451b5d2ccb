/* Benchmark agent: replays a pcap file through the tunnel client (tunnel_client_send) to a
 * collector as fast as the send queue accepts, waiting (not dropping) when it is full. It
 * stands in for the real agent, whose frames come from BPF capture.
 *
 *   pcap_replay -t HOST:PORT --ca CA --cert CRT --key KEY -r FILE [--loop N]
 *
 * Prints one line: frames, bytes, seconds, Gbps, frames/s (time from the first frame queued
 * to the last one written to TLS). */
#include <sslcollector/tunnel.h>

#include <errno.h>
#include <getopt.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct frames {
	uint8_t *data;
	size_t len, cap;
	size_t *off; /* frame i: data[off[i] .. off[i+1]) */
	size_t n, n_cap;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int load(const char *path, struct frames *f)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *pkt;
	pcap_t *p = pcap_open_offline(path, err);

	if (!p) {
		fprintf(stderr, "pcap_replay: %s: %s\n", path, err);
		return -1;
	}
	while (pcap_next_ex(p, &h, &pkt) == 1) {
		if (f->len + h->caplen > f->cap) {
			f->cap = f->cap ? f->cap * 2 : 1 << 24;
			f->data = realloc(f->data, f->cap);
		}
		if (f->n + 2 > f->n_cap) {
			f->n_cap = f->n_cap ? f->n_cap * 2 : 1 << 16;
			f->off = realloc(f->off, f->n_cap * sizeof(*f->off));
		}
		if (!f->data || !f->off) {
			fprintf(stderr, "pcap_replay: out of memory\n");
			return -1;
		}
		f->off[f->n++] = f->len;
		memcpy(f->data + f->len, pkt, h->caplen);
		f->len += h->caplen;
	}
	f->off[f->n] = f->len;
	pcap_close(p);
	return f->n ? 0 : -1;
}

static void log_cb(void *ctx, enum tunnel_log_level level, const char *msg)
{
	(void)ctx;
	if (level <= TUNNEL_LOG_WARN)
		fprintf(stderr, "pcap_replay: %s\n", msg);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ca", required_argument, NULL, 'a'},
	    {"cert", required_argument, NULL, 'c'},
	    {"key", required_argument, NULL, 'k'},
	    {"loop", required_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	struct tunnel_client_config cfg = {.log = log_cb};
	struct tunnel_client_stats st;
	struct tunnel_client *tc;
	struct frames f = {0};
	const char *file = NULL;
	char host[256] = "", err[512];
	long loops = 1;
	int c;

	while ((c = getopt_long(argc, argv, "t:r:", opts, NULL)) != -1) {
		switch (c) {
		case 't': {
			char *colon = strrchr(optarg, ':');

			if (!colon || snprintf(host, sizeof(host), "%.*s", (int)(colon - optarg),
					       optarg) >= (int)sizeof(host))
				goto usage;
			cfg.port = (uint16_t)atoi(colon + 1);
			break;
		}
		case 'r':
			file = optarg;
			break;
		case 'a':
			cfg.tls.ca_path = optarg;
			break;
		case 'c':
			cfg.tls.cert_path = optarg;
			break;
		case 'k':
			cfg.tls.key_path = optarg;
			break;
		case 'l':
			loops = atol(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (!host[0] || !file || !cfg.port || loops < 1)
		goto usage;
	cfg.host = host;
	signal(SIGPIPE, SIG_IGN);
	if (load(file, &f))
		return 1;
	if (tunnel_client_start(&cfg, &tc, err, sizeof(err))) {
		fprintf(stderr, "pcap_replay: %s\n", err);
		return 1;
	}
	for (int i = 0; i < 1000 && !tunnel_client_connected(tc); i++)
		usleep(10000);
	if (!tunnel_client_connected(tc)) {
		fprintf(stderr, "pcap_replay: no session with %s after 10 s\n", host);
		return 1;
	}
	double t0 = now_s();
	uint64_t total = (uint64_t)loops * f.n, sent_bytes = 0;

	for (long l = 0; l < loops; l++) {
		for (size_t i = 0; i < f.n; i++) {
			size_t len = f.off[i + 1] - f.off[i];
			int r;

			/* queue full: let the sender thread (and, on a small machine, the
			 * collector) have the CPU rather than spinning */
			while ((r = tunnel_client_send(tc, f.data + f.off[i], len, 0)) == -ENOBUFS)
				nanosleep(&(struct timespec){0, 200000}, NULL);
			if (r) {
				fprintf(stderr, "pcap_replay: send: %s\n", strerror(-r));
				return 1;
			}
			sent_bytes += len;
		}
	}
	do {
		tunnel_client_get_stats(tc, &st);
		if (st.frames_sent < total)
			usleep(1000);
	} while (st.frames_sent < total && st.connected);
	double dt = now_s() - t0;

	tunnel_client_stop(tc, 10000);
	printf("frames %llu bytes %llu seconds %.3f gbps %.3f fps %.0f\n",
	       (unsigned long long)st.frames_sent, (unsigned long long)sent_bytes, dt,
	       (double)sent_bytes * 8 / dt / 1e9, (double)st.frames_sent / dt);
	free(f.data);
	free(f.off);
	return st.frames_sent == total ? 0 : 1;
usage:
	fprintf(stderr, "usage: pcap_replay -t HOST:PORT --ca CA --cert CRT --key KEY -r FILE "
			"[--loop N]\n");
	return 2;
}
