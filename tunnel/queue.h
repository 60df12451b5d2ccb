/* Internal to tunnel/: the agent's bounded send queue, a byte ring of PCAP-over-IP records.
 * Any thread pushes (a short copy under a mutex, never I/O); the one sender thread peeks at
 * contiguous bytes, writes them to TLS straight from the ring, then consumes them. The queue
 * walks the record headers it consumes to count whole frames sent. */
#ifndef SSLC_TUNNEL_QUEUE_H
#define SSLC_TUNNEL_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct queue {
	pthread_mutex_t lock;
	uint8_t *buf;
	size_t size;
	uint64_t head, tail; /* byte positions; used = head - tail; both 0 again once drained */
	bool open;	     /* accepting frames (a session is up) */
	uint64_t frames;     /* frames at least partly in the ring */
	uint64_t frame_bytes;
	/* the record being consumed */
	uint32_t rec_left; /* bytes of it not consumed yet (header + frame), 0 at a boundary */
	uint32_t rec_caplen;
};

struct queue_counts {
	uint64_t frames, bytes;
};

int queue_init(struct queue *q, size_t size);
void queue_destroy(struct queue *q);

/* Copies record header + frame in, the frame given as frame[0..len) then more[0..more_len)
 * (more may be NULL with more_len 0). -ENOTCONN when closed, -ENOBUFS when it does not fit.
 * *was_empty tells whether the sender may be asleep. */
int queue_push(struct queue *q, const uint8_t *hdr, size_t hdr_len, const uint8_t *frame,
	       size_t len, const uint8_t *more, size_t more_len, bool *was_empty);
/* Contiguous bytes at the tail (0 when empty). They stay put until consumed. */
size_t queue_peek(struct queue *q, const uint8_t **data);
/* n bytes of the peeked data were written; adds the frames completed to *done. */
void queue_consume(struct queue *q, size_t n, struct queue_counts *done);
/* Starts accepting frames (a new session). */
void queue_open(struct queue *q);
/* Stops accepting and empties the ring; *lost gets what was thrown away. */
void queue_close(struct queue *q, struct queue_counts *lost);
size_t queue_used(struct queue *q);

#endif
