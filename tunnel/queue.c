/* The agent's bounded send queue (see queue.h). */
#include "queue.h"

#include <sslcollector/pcap_stream.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int queue_init(struct queue *q, size_t size)
{
	memset(q, 0, sizeof(*q));
	q->buf = malloc(size);
	if (!q->buf)
		return -ENOMEM;
	q->size = size;
	pthread_mutex_init(&q->lock, NULL);
	return 0;
}

void queue_destroy(struct queue *q)
{
	if (!q->buf)
		return;
	pthread_mutex_destroy(&q->lock);
	free(q->buf);
	q->buf = NULL;
}

static void copy_in(struct queue *q, uint64_t pos, const uint8_t *src, size_t len)
{
	size_t off = (size_t)(pos % q->size);
	size_t first = q->size - off < len ? q->size - off : len;

	memcpy(q->buf + off, src, first);
	memcpy(q->buf, src + first, len - first);
}

static void copy_out(const struct queue *q, uint64_t pos, uint8_t *dst, size_t len)
{
	size_t off = (size_t)(pos % q->size);
	size_t first = q->size - off < len ? q->size - off : len;

	memcpy(dst, q->buf + off, first);
	memcpy(dst + first, q->buf, len - first);
}

int queue_push(struct queue *q, const uint8_t *hdr, size_t hdr_len, const uint8_t *frame,
	       size_t len, const uint8_t *more, size_t more_len, bool *was_empty)
{
	int ret = 0;

	pthread_mutex_lock(&q->lock);
	*was_empty = q->head == q->tail;
	if (!q->open) {
		ret = -ENOTCONN;
	} else if (q->size - (size_t)(q->head - q->tail) < hdr_len + len + more_len) {
		ret = -ENOBUFS;
	} else {
		copy_in(q, q->head, hdr, hdr_len);
		copy_in(q, q->head + hdr_len, frame, len);
		if (more_len)
			copy_in(q, q->head + hdr_len + len, more, more_len);
		q->head += hdr_len + len + more_len;
		q->frames++;
		q->frame_bytes += len + more_len;
	}
	pthread_mutex_unlock(&q->lock);
	return ret;
}

size_t queue_peek(struct queue *q, const uint8_t **data)
{
	size_t used, off, n;

	pthread_mutex_lock(&q->lock);
	used = (size_t)(q->head - q->tail);
	off = (size_t)(q->tail % q->size);
	pthread_mutex_unlock(&q->lock);
	n = q->size - off < used ? q->size - off : used;
	*data = q->buf + off;
	return n;
}

void queue_consume(struct queue *q, size_t n, struct queue_counts *done)
{
	pthread_mutex_lock(&q->lock);
	while (n) {
		if (q->rec_left == 0) {
			uint8_t hdr[PCAP_STREAM_RECORD_HDR];

			copy_out(q, q->tail, hdr, sizeof(hdr));
			memcpy(&q->rec_caplen, hdr + 8, sizeof(q->rec_caplen));
			q->rec_left = PCAP_STREAM_RECORD_HDR + q->rec_caplen;
		}
		size_t take = n < q->rec_left ? n : q->rec_left;

		q->tail += take;
		q->rec_left -= (uint32_t)take;
		n -= take;
		if (q->rec_left == 0) {
			q->frames--;
			q->frame_bytes -= q->rec_caplen;
			done->frames++;
			done->bytes += q->rec_caplen;
		}
	}
	/* Drained: the next frame goes to the start of the ring again, whose lines are still in
	 * the caches, rather than on through all of it (a queue that keeps up stays small). */
	if (q->head == q->tail && q->rec_left == 0)
		q->head = q->tail = 0;
	pthread_mutex_unlock(&q->lock);
}

void queue_open(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->open = true;
	pthread_mutex_unlock(&q->lock);
}

void queue_close(struct queue *q, struct queue_counts *lost)
{
	pthread_mutex_lock(&q->lock);
	q->open = false;
	lost->frames += q->frames;
	lost->bytes += q->frame_bytes;
	q->tail = q->head = 0;
	q->frames = q->frame_bytes = 0;
	q->rec_left = q->rec_caplen = 0;
	pthread_mutex_unlock(&q->lock);
}

size_t queue_used(struct queue *q)
{
	size_t used;

	pthread_mutex_lock(&q->lock);
	used = (size_t)(q->head - q->tail);
	pthread_mutex_unlock(&q->lock);
	return used;
}
