/* -w FILE (output_pcap.c, output_pcap_rotate.c): the sink's state. Private to output/. */
#ifndef SSLC_OUTPUT_PCAP_IMPL_H
#define SSLC_OUTPUT_PCAP_IMPL_H

#include "output_impl.h"

#include <limits.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#define PCAP_SNAPLEN	  262144
#define FLUSH_INTERVAL_NS 200000000ULL
#define PCAP_HEADER	  24ULL		 /* the global header */
#define PCAP_RECORD	  16ULL		 /* each record's header */
#define RETRY_NS	  10000000000ULL /* a failed rotation is tried again after this */
#define STAMP_LEN	  16		 /* YYYYmmddTHHMMSSZ */

/* A completed file, for `keep`: its path and what orders it (stamp, then the -N suffix). */
struct kept_file {
	char *path;
	char stamp[STAMP_LEN + 1];
	unsigned n;
	uint64_t size;
};

struct pcap_output {
	struct output base;
	pcap_t *dead;
	pcap_dumper_t *dumper;
	FILE *file;
	uint64_t last_flush_ns;
	/* written since the last flush that succeeded: counted as sent only by the next */
	uint64_t pending, pending_bytes;
	bool seekable; /* a regular file: can be cut back to where it was complete */
	off_t good;    /* its size after the last flush that succeeded */

	/* rotation (rot all zeros: none) */
	struct output_rotation rot;
	char *path;
	uint64_t file_bytes, file_frames; /* in the file after the last flush that succeeded */
	time_t started;			  /* when this file began (UTC), for its final name */
	time_t next_turn;		  /* rot.interval_s: the next multiple */
	uint64_t retry_ns;		  /* after a failure: no new attempt before this */
	struct kept_file *kept;		  /* rot.keep(_bytes): completed files, oldest first */
	size_t n_kept;
	uint64_t kept_bytes; /* their sizes added up */
	/* for output_rotation_news() */
	uint64_t news_completed;
	unsigned news_removed;
	char news_last[PATH_MAX];
	bool news_failed;
	char news_error[PATH_MAX + 200];
};

static inline uint64_t pcapout_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

extern const struct output_ops output_pcap_ops;
/* output_pcap.c */
int pcapout_flush_now(struct pcap_output *p);
bool pcapout_is_stdout(const char *path);
int pcapout_open_dumper(const char *path, pcap_t *dead, FILE **file, pcap_dumper_t **dumper,
			bool *seekable, char *err, size_t err_len);
/* output_pcap_rotate.c */
void pcapout_rotate(struct pcap_output *p, time_t started);
int pcapout_news(struct output *base, char *msg, size_t len);
int pcapout_setup_rotation(struct pcap_output *p, const struct output_rotation *rot, char *err,
			   size_t err_len);

#endif
