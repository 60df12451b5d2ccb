/* tunnel_peer: a peer of the collector for its load tests (test_collector_load.py): good
 * agents that measure, and bad ones that flood. TLS records are made in memory and written
 * to the socket in large chunks, so one core makes records much faster than a collector
 * can read them.
 *
 *   tunnel_peer --connect ADDR:PORT [--bind ADDR] [--ca F --cert F --key F] [--seconds S] MODE
 *     hold N        N plain TCP connections (no TLS), reopened when closed
 *     connect       a TLS handshake; "accepted MS" (the collector's ticket came: exit 0) or
 *                   "refused MS WHY" (exit 3)
 *     idle          handshake and pcap header, then nothing, no keepalive: "closed S" or "open"
 *     tiny          a valid PCAP-over-IP stream in 1-byte TLS records: "records N"
 *     keyupdate     TLS KeyUpdates asking for an answer, never reading: "keyupdates N"
 *     probe IFACE RATE SIZE  frames of SIZE bytes, RATE a second; receives them on IFACE
 *                   (AF_PACKET) and prints JSON: sent, received, latency p50/p99/max ms, MB/s;
 *                   probes running side by side must use different SIZEs
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x53534c4350524f42ULL /* "SSLCPROB" */

static struct sockaddr_in peer, src;
static bool have_src;
static const char *ca, *cert, *key;
static double seconds = 5;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "tunnel_peer: %s: %s\n", what, strerror(errno));
	ERR_print_errors_fp(stderr);
	exit(1);
}

static int tcp_connect(bool nonblock)
{
	int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);

	if (fd < 0)
		die("socket");
	if (have_src && bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
		die("bind");
	if (connect(fd, (struct sockaddr *)&peer, sizeof(peer)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

static int got_ticket(SSL *ssl, SSL_SESSION *s)
{
	(void)s;
	*(bool *)SSL_get_app_data(ssl) = true;
	return 0;
}

static bool ticket;

/* A TLS session over a blocking socket: NULL and why when refused. */
static SSL *tls_open(int *fdp, char *why, size_t why_len)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	int fd = tcp_connect(false);

	if (fd < 0 || !ctx)
		die("connect");
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		die("certificates");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(ctx,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, got_ticket);
	SSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY); /* SSL_read returns after the ticket */
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_set_app_data(ssl, &ticket);
	ticket = false;
	if (SSL_connect(ssl) != 1)
		goto refused;
	/* TLS 1.3: accepted once the collector's ticket comes */
	struct timeval tv = {5, 0};
	char b;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (!ticket) {
		size_t got;

		ERR_clear_error();
		if (SSL_read_ex(ssl, &b, 1, &got) != 1 && !ticket &&
		    SSL_get_error(ssl, 0) != SSL_ERROR_WANT_READ)
			goto refused;
	}
	tv.tv_sec = 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	*fdp = fd;
	return ssl;
refused:;
	unsigned long e = ERR_peek_error();

	snprintf(why, why_len, "%s", e ? ERR_reason_error_string(e) : "closed");
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	return NULL;
}

static SSL *tls_open_or_die(int *fd)
{
	char why[200];
	SSL *ssl = tls_open(fd, why, sizeof(why));

	if (!ssl) {
		fprintf(stderr, "tunnel_peer: refused: %s\n", why);
		exit(3);
	}
	return ssl;
}

/* From now on the records go into memory; flush() writes them out in bulk. */
static BIO *to_memory(SSL *ssl)
{
	BIO *mem = BIO_new(BIO_s_mem());

	SSL_set0_wbio(ssl, mem); /* the socket BIO stays for reading */
	return mem;
}

static bool flush(BIO *mem, int fd)
{
	char *p;
	long n = BIO_get_mem_data(mem, &p);

	while (n > 0) {
		ssize_t w = write(fd, p, (size_t)n);

		if (w <= 0)
			return false;
		p += w;
		n -= w;
	}
	(void)BIO_reset(mem);
	return true;
}

static void pcap_global(uint8_t h[24])
{
	uint32_t v[6] = {0xa1b2c3d4u, 2 | 4u << 16, 0, 0, 262144, 1};

	memcpy(h, v, 24);
}

/* One Ethernet/IPv4/TCP frame of size bytes (at least 54 + 24) carrying the probe marker. */
static size_t make_frame(uint8_t *f, size_t size, uint64_t seq, uint64_t ts)
{
	uint16_t iplen = (uint16_t)(size - 14);
	uint64_t m = MAGIC;

	memset(f, 0, size);
	memcpy(f, "\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00", 14);
	f[14] = 0x45;
	f[16] = (uint8_t)(iplen >> 8);
	f[17] = (uint8_t)iplen;
	f[22] = 64;
	f[23] = 6;
	memcpy(f + 26, "\x0a\0\0\x01\x0a\0\0\x02", 8);
	f[34] = 0x30, f[35] = 0x39, f[36] = 0x01, f[37] = 0xbb; /* 12345 -> 443 */
	f[46] = 0x50;
	f[47] = 0x18; /* PSH ACK */
	f[48] = 0xff;
	memcpy(f + 54, &m, 8);
	memcpy(f + 62, &seq, 8);
	memcpy(f + 70, &ts, 8);
	return size;
}

static void record(uint8_t *out, const uint8_t *frame, size_t len)
{
	uint32_t h[4] = {(uint32_t)time(NULL), 0, (uint32_t)len, (uint32_t)len};

	memcpy(out, h, 16);
	memcpy(out + 16, frame, len);
}

static int mode_hold(int n)
{
	int *fds = calloc((size_t)n, sizeof(int));
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9), reopened = 0;
	struct pollfd *p = calloc((size_t)n, sizeof(*p));

	for (int i = 0; i < n; i++)
		fds[i] = tcp_connect(true);
	while (now_ns() < end) {
		for (int i = 0; i < n; i++) {
			p[i].fd = fds[i];
			p[i].events = POLLIN;
		}
		poll(p, (nfds_t)n, 50);
		for (int i = 0; i < n; i++) {
			char b[256];

			if (fds[i] >= 0 && !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (fds[i] >= 0 && (p[i].revents & POLLIN) &&
			    read(fds[i], b, sizeof(b)) > 0)
				continue;
			if (fds[i] >= 0)
				close(fds[i]);
			fds[i] = tcp_connect(true);
			reopened++;
		}
	}
	int open_now = 0;

	for (int i = 0; i < n; i++)
		open_now += fds[i] >= 0;
	printf("held %d reopened %llu\n", open_now, (unsigned long long)reopened);
	return 0;
}

static int mode_connect(void)
{
	uint64_t t0 = now_ns();
	char why[200];
	int fd;
	SSL *ssl = tls_open(&fd, why, sizeof(why));
	double ms = (double)(now_ns() - t0) / 1e6;

	if (!ssl) {
		printf("refused %.1f %s\n", ms, why);
		return 3;
	}
	printf("accepted %.1f\n", ms);
	SSL_shutdown(ssl);
	return 0;
}

static int mode_idle(void)
{
	int fd;
	SSL *ssl = tls_open_or_die(&fd);
	uint8_t h[24];
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9);
	size_t w;

	pcap_global(h);
	SSL_write_ex(ssl, h, sizeof(h), &w);
	while (now_ns() < end) {
		struct pollfd p = {fd, POLLIN, 0};
		char b[64];
		size_t got;

		if (poll(&p, 1, 100) > 0 && SSL_read_ex(ssl, b, sizeof(b), &got) != 1 &&
		    SSL_get_error(ssl, 0) != SSL_ERROR_WANT_READ) {
			printf("closed %.1f\n", (double)(now_ns() - t0) / 1e9);
			return 0;
		}
	}
	printf("open\n");
	return 0;
}

static int mode_tiny(void)
{
	int fd;
	SSL *ssl = tls_open_or_die(&fd);
	BIO *mem = to_memory(ssl);
	uint8_t stream[24 + 16 + 80], frame[80];
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9), records = 0, seq = 0;
	size_t w, off = 0;

	pcap_global(stream);
	SSL_write_ex(ssl, stream, 24, &w);
	while (now_ns() < end) {
		for (int batch = 0; batch < 4096; batch++) {
			if (off == 0)
				record(stream, frame, make_frame(frame, sizeof(frame), seq++, 0));
			SSL_write_ex(ssl, stream + off, 1, &w); /* one record per byte */
			off = (off + 1) % (16 + sizeof(frame));
			records++;
		}
		if (!flush(mem, fd))
			break;
	}
	printf("records %llu\n", (unsigned long long)records);
	return 0;
}

static int mode_keyupdate(void)
{
	int fd;
	SSL *ssl = tls_open_or_die(&fd);
	BIO *mem = to_memory(ssl);
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9), n = 0;
	uint8_t h[24];
	size_t w;

	pcap_global(h);
	SSL_write_ex(ssl, h, sizeof(h), &w);
	/* a send that blocks (the collector stopped reading) must not hold us past the end */
	struct timeval tv = {0, 200000};

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (now_ns() < end) {
		for (int i = 0; i < 256; i++) {
			if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1 ||
			    SSL_do_handshake(ssl) != 1)
				break;
			n++;
		}
		ERR_clear_error();
		if (!flush(mem, fd) && errno != EAGAIN)
			break;
	}
	printf("keyupdates %llu\n", (unsigned long long)n);
	return 0;
}

struct probe {
	int sock;
	atomic_bool stop;
	uint64_t received, bytes, max_seq;
	size_t size; /* the frames' size tells two probes on one interface apart */
	double *lat_ms;
	size_t n_lat, cap_lat;
};

static void *receiver(void *arg)
{
	struct probe *p = arg;
	static uint8_t buf[70000];

	while (!atomic_load(&p->stop)) {
		struct pollfd pf = {p->sock, POLLIN, 0};
		uint64_t m, seq, ts;

		if (poll(&pf, 1, 50) <= 0)
			continue;
		ssize_t n = recv(p->sock, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 78 || ((size_t)n != p->size && (size_t)n != p->size + 4))
			continue;
		memcpy(&m, buf + 54, 8);
		if (m != MAGIC) { /* a VLAN tag from the collector moves the marker by 4 */
			if (n < 82 || (memcpy(&m, buf + 58, 8), m != MAGIC))
				continue;
			memmove(buf + 54, buf + 58, 24);
		}
		memcpy(&seq, buf + 62, 8);
		memcpy(&ts, buf + 70, 8);
		if (!ts) /* a flood's frame, not ours */
			continue;
		p->received++;
		p->bytes += (uint64_t)n;
		if (p->n_lat < p->cap_lat)
			p->lat_ms[p->n_lat++] = (double)(now_ns() - ts) / 1e6;
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int mode_probe(const char *iface, double rate, size_t size)
{
	struct probe p = {.cap_lat = 10000000, .size = size};
	struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	int rcv = 16 << 20, fd;
	pthread_t th;

	if (size < 78 || size > 65535 + 14)
		die("probe SIZE: from 78 to 65549");
	p.lat_ms = malloc(p.cap_lat * sizeof(double));
	p.sock = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	ll.sll_ifindex = (int)if_nametoindex(iface);
	if (p.sock < 0 || !ll.sll_ifindex || bind(p.sock, (struct sockaddr *)&ll, sizeof(ll)) < 0)
		die("AF_PACKET on the probe interface");
	setsockopt(p.sock, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
	pthread_create(&th, NULL, receiver, &p);

	SSL *ssl = tls_open_or_die(&fd);
	uint8_t *rec = malloc(16 + size), *frame = malloc(size), h[24];
	uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9), sent = 0;
	size_t w;

	pcap_global(h);
	SSL_write_ex(ssl, h, sizeof(h), &w);
	while (now_ns() < end) {
		uint64_t due = start + (uint64_t)((double)sent * 1e9 / rate), now = now_ns();

		if (now < due) {
			struct timespec ts = {0, (long)(due - now)};

			nanosleep(&ts, NULL);
			continue;
		}
		record(rec, frame, make_frame(frame, size, sent, now_ns()));
		if (SSL_write_ex(ssl, rec, 16 + size, &w) != 1)
			die("SSL_write");
		sent++;
	}
	usleep(300000); /* the last frames */
	atomic_store(&p.stop, true);
	pthread_join(th, NULL);
	qsort(p.lat_ms, p.n_lat, sizeof(double), cmp_double);
	double p50 = p.n_lat ? p.lat_ms[p.n_lat / 2] : -1,
	       p99 = p.n_lat ? p.lat_ms[p.n_lat * 99 / 100] : -1,
	       max = p.n_lat ? p.lat_ms[p.n_lat - 1] : -1;

	printf("{\"sent\": %llu, \"received\": %llu, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
	       "\"max_ms\": %.3f, \"mb_per_s\": %.3f}\n",
	       (unsigned long long)sent, (unsigned long long)p.received, p50, p99, max,
	       (double)p.received * (double)size / seconds / 1e6);
	SSL_shutdown(ssl);
	return 0;
}

/* a test tool exits without freeing its sessions */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}

static void usage(void)
{
	fprintf(stderr, "usage: tunnel_peer --connect ADDR:PORT [--bind ADDR] [--ca F --cert F "
			"--key F] [--seconds S] hold N|connect|idle|tiny|keyupdate|probe IFACE "
			"RATE SIZE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int i = 1;

	for (; i < argc && !strncmp(argv[i], "--", 2); i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		if (!strcmp(o, "--connect")) {
			char host[64];
			const char *colon = strrchr(v, ':');

			if (!colon || (size_t)(colon - v) >= sizeof(host))
				usage();
			snprintf(host, sizeof(host), "%.*s", (int)(colon - v), v);
			peer.sin_family = AF_INET;
			peer.sin_port = htons((uint16_t)atoi(colon + 1));
			if (inet_pton(AF_INET, host, &peer.sin_addr) != 1)
				usage();
		} else if (!strcmp(o, "--bind")) {
			src.sin_family = AF_INET;
			have_src = inet_pton(AF_INET, v, &src.sin_addr) == 1;
		} else if (!strcmp(o, "--ca")) {
			ca = v;
		} else if (!strcmp(o, "--cert")) {
			cert = v;
		} else if (!strcmp(o, "--key")) {
			key = v;
		} else if (!strcmp(o, "--seconds")) {
			seconds = atof(v);
		} else {
			usage();
		}
	}
	if (i >= argc || !peer.sin_port)
		usage();
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[i], "hold") && i + 1 < argc)
		return mode_hold(atoi(argv[i + 1]));
	if (!ca || !cert || !key)
		usage();
	if (!strcmp(argv[i], "connect"))
		return mode_connect();
	if (!strcmp(argv[i], "idle"))
		return mode_idle();
	if (!strcmp(argv[i], "tiny"))
		return mode_tiny();
	if (!strcmp(argv[i], "keyupdate"))
		return mode_keyupdate();
	if (!strcmp(argv[i], "probe") && i + 3 < argc)
		return mode_probe(argv[i + 1], atof(argv[i + 2]), (size_t)atoll(argv[i + 3]));
	usage();
}
