/* A minimal collector for the tunnel tests: accepts on loopback (IPv4 or IPv6) in a thread,
 * completes the handshake with tunnel_server/tunnel_conn, then decodes and checks the frames
 * (or, for queue tests, never reads). */
#ifndef SSLC_TEST_TUNNEL_SERVER_H
#define SSLC_TEST_TUNNEL_SERVER_H

#include <sslcollector/pcap_stream.h>
#include <sslcollector/tunnel.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct server {
	struct tunnel_server *ts;
	int lfd;
	uint16_t port;
	pthread_t thread;
	bool read_data;	      /* false: complete the handshake, then never read */
	int max_conns;	      /* connections to serve before the thread ends */
	uint64_t close_after; /* close the first session after this many frames (0: never) */
	_Atomic bool release; /* lets a non-reading server finish */
	/* results */
	int conns;
	int hs_ret;
	enum tunnel_hs_failure failure;
	char error[320], subject[256];
	uint64_t frames, bytes, bad_frames;
	int end; /* pcap_stream_finish() of the last session */
	_Atomic bool done;
};

uint64_t now_ms(void);
/* Frame number i of the tests: its length and bytes follow from i (stored at offset 14). */
int make_frame(uint8_t *f, uint32_t i);
/* Listens on loopback with dir/pki's collector certificate and starts the thread. */
void server_start6(struct server *s, const char *dir, const char *pki, bool read_data,
		   int max_conns, bool v6);
void server_join(struct server *s);

#endif
