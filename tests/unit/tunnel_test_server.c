/* The tunnel tests' loopback collector (see tunnel_test_server.h). */
#include "tunnel_test_server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int make_frame(uint8_t *f, uint32_t i)
{
	int len = 60 + (int)(i * 37 % 1440);

	memset(f, 0, 14);
	f[12] = 0x08;
	memcpy(f + 14, &i, sizeof(i));
	for (int j = 18; j < len; j++)
		f[j] = (uint8_t)(i + (uint32_t)j);
	return len;
}

static bool frame_ok(const struct pcap_stream_frame *fr, uint32_t expect_index)
{
	uint8_t want[1600];
	int len = make_frame(want, expect_index);

	return fr->len == (uint32_t)len && !memcmp(fr->data, want, (size_t)len);
}

static int handshake(struct server *s, struct tunnel_conn *c)
{
	uint64_t deadline = now_ms() + 5000;

	for (;;) {
		int r = tunnel_conn_handshake(c);
		struct pollfd p = {.fd = tunnel_conn_fd(c), .events = r == 2 ? POLLOUT : POLLIN};

		if (r <= 0) {
			s->hs_ret = r;
			s->failure = tunnel_conn_failure(c);
			snprintf(s->error, sizeof(s->error), "%s", tunnel_conn_error(c));
			if (r == 0)
				snprintf(s->subject, sizeof(s->subject), "%s",
					 tunnel_conn_subject(c));
			return r;
		}
		if (now_ms() > deadline) {
			s->hs_ret = -ETIMEDOUT;
			return -ETIMEDOUT;
		}
		poll(&p, 1, 100);
	}
}

static void serve_stream(struct server *s, struct tunnel_conn *c)
{
	struct pcap_stream_limits lim = {.mtu = 1500};
	struct pcap_stream_decoder d;
	static uint8_t fbuf[1518], rbuf[65536];
	uint64_t session_frames = 0;

	assert_int_equal(pcap_stream_decoder_init(&d, &lim, fbuf, sizeof(fbuf)), 0);
	for (;;) {
		ssize_t n = tunnel_conn_read(c, rbuf, sizeof(rbuf));
		struct pollfd p = {.fd = tunnel_conn_fd(c), .events = POLLIN};

		if (n == -EAGAIN) {
			poll(&p, 1, 100);
			continue;
		}
		if (n <= 0) {
			s->end = pcap_stream_finish(&d);
			return;
		}
		const uint8_t *data = rbuf;
		size_t left = (size_t)n;
		struct pcap_stream_frame f;
		int r;

		while ((r = pcap_stream_next(&d, &data, &left, &f)) == PCAP_STREAM_FRAME) {
			uint32_t idx;

			memcpy(&idx, f.data + 14, sizeof(idx));
			if (!frame_ok(&f, idx))
				s->bad_frames++;
			s->frames++;
			s->bytes += f.len;
			if (s->close_after && ++session_frames == s->close_after && s->conns == 1)
				return;
		}
		if (r < 0) {
			s->end = r;
			return;
		}
	}
}

static void *server_thread(void *arg)
{
	struct server *s = arg;

	while (s->conns < s->max_conns) {
		struct pollfd p = {.fd = s->lfd, .events = POLLIN};
		struct tunnel_conn *c;
		int fd;

		if (poll(&p, 1, 15000) <= 0)
			break;
		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		s->conns++;
		if (tunnel_conn_new(s->ts, fd, &c))
			break;
		if (handshake(s, c) == 0) {
			if (s->read_data)
				serve_stream(s, c);
			else
				while (!atomic_load(&s->release))
					usleep(10000);
		}
		tunnel_conn_free(c);
	}
	atomic_store(&s->done, true);
	return NULL;
}

void server_start6(struct server *s, const char *dir, const char *pki, bool read_data,
		   int max_conns, bool v6)
{
	struct tunnel_tls_files f;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct sockaddr *sa = v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a;
	socklen_t len = v6 ? sizeof(a6) : sizeof(a);
	char ca[512], crt[512], key[512], err[512];

	memset(s, 0, sizeof(*s));
	snprintf(ca, sizeof(ca), "%s/%s/ca.crt", dir, pki);
	snprintf(crt, sizeof(crt), "%s/%s/collector.crt", dir, pki);
	snprintf(key, sizeof(key), "%s/%s/collector.key", dir, pki);
	f = (struct tunnel_tls_files){ca, crt, key};
	if (tunnel_server_new(&f, &s->ts, err, sizeof(err)))
		fail_msg("tunnel_server_new: %s", err);
	s->lfd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, sa, len), 0);
	assert_int_equal(listen(s->lfd, 16), 0);
	assert_int_equal(getsockname(s->lfd, sa, &len), 0);
	s->port = ntohs(v6 ? a6.sin6_port : a.sin_port);
	s->read_data = read_data;
	s->max_conns = max_conns;
	assert_int_equal(pthread_create(&s->thread, NULL, server_thread, s), 0);
}

void server_join(struct server *s)
{
	atomic_store(&s->release, true);
	pthread_join(s->thread, NULL);
	close(s->lfd);
	tunnel_server_free(s->ts);
}
