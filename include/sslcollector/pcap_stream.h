/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* PCAP-over-IP, the byte stream inside the agent -> collector TLS tunnel: a 24-byte classic
 * pcap global header, then 16-byte record headers each followed by one Ethernet frame. The
 * encoder helpers write what the agent sends; the decoder is the collector's incremental,
 * allocation-free parser of that untrusted stream (it has a libFuzzer harness). Pure code: no
 * I/O, never prints. */
#ifndef SSLCOLLECTOR_PCAP_STREAM_H
#define SSLCOLLECTOR_PCAP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCAP_STREAM_MAGIC_USEC	  0xa1b2c3d4u /* classic pcap, microsecond timestamps */
#define PCAP_STREAM_MAGIC_NSEC	  0xa1b23c4du /* nanosecond variant (accepted, never sent) */
#define PCAP_STREAM_VERSION_MAJOR 2
#define PCAP_STREAM_VERSION_MINOR 4
#define PCAP_STREAM_SNAPLEN	  262144u /* what we send */
#define PCAP_STREAM_MIN_SNAPLEN	  65535u  /* the least a peer may announce */
#define PCAP_STREAM_LINKTYPE_ETH  1u	  /* LINKTYPE_ETHERNET */
#define PCAP_STREAM_GLOBAL_HDR	  24u
#define PCAP_STREAM_RECORD_HDR	  16u
#define PCAP_STREAM_ETH_HDR	  14u
#define PCAP_STREAM_VLAN_HDR	  4u

/* Writes the global header we send (host byte order, microseconds, snaplen 262144, linktype
 * Ethernet) into out[PCAP_STREAM_GLOBAL_HDR]. */
void pcap_stream_global_header(uint8_t out[PCAP_STREAM_GLOBAL_HDR]);
/* Writes the record header of a frame of len bytes stamped ts_ns (CLOCK_REALTIME ns) into
 * out[PCAP_STREAM_RECORD_HDR], host byte order. */
void pcap_stream_record_header(uint8_t out[PCAP_STREAM_RECORD_HDR], uint32_t len, uint64_t ts_ns);

/* What pcap_stream_next() returns. Errors are negative; each has a stable name (a metrics
 * label) and a message (pcap_stream_error_name / pcap_stream_describe). */
enum pcap_stream_result {
	PCAP_STREAM_NEED_MORE = 0, /* all input consumed, no complete frame yet */
	PCAP_STREAM_FRAME = 1,	   /* *frame holds one validated frame */
	PCAP_STREAM_ERR_BAD_MAGIC = -1,
	PCAP_STREAM_ERR_BAD_VERSION = -2,
	PCAP_STREAM_ERR_BAD_SNAPLEN = -3,
	PCAP_STREAM_ERR_BAD_LINKTYPE = -4,
	PCAP_STREAM_ERR_BAD_TIMESTAMP = -5,	  /* fraction of a second out of range */
	PCAP_STREAM_ERR_CAPLEN_MISMATCH = -6,	  /* caplen != origlen: truncated capture */
	PCAP_STREAM_ERR_CAPLEN_OVER_SNAPLEN = -7, /* caplen > the header's snaplen */
	PCAP_STREAM_ERR_FRAME_TOO_SHORT = -8,	  /* shorter than an Ethernet (+802.1Q) header */
	PCAP_STREAM_ERR_FRAME_TOO_LARGE = -9,	  /* more than limits.mtu after L2 headers */
	PCAP_STREAM_ERR_TRUNCATED = -10,	  /* the stream ended inside a header or record */
	PCAP_STREAM_ERR_FAILED = -11,		  /* a previous error: the decoder is stopped */
};

struct pcap_stream_limits {
	/* Largest IP packet (the output interface's MTU): a frame may be at most this plus its
	 * Ethernet header and, when it has one, one 802.1Q/802.1ad tag. */
	uint32_t mtu;
};

struct pcap_stream_frame {
	const uint8_t *data; /* valid until the next call on the decoder or its input */
	uint32_t len;
	uint64_t ts_ns;	  /* record timestamp, ns since the epoch */
	bool vlan_tagged; /* outer ethertype 0x8100 or 0x88a8 */
};

/* Decoder state. Opaque in spirit: use the functions below. */
struct pcap_stream_decoder {
	int state;
	int error;    /* the first error, sticky */
	bool swapped; /* the peer writes the other byte order */
	bool nsec;    /* nanosecond timestamps */
	uint32_t mtu;
	uint32_t snaplen;
	uint8_t hdr[PCAP_STREAM_GLOBAL_HDR]; /* global or record header being gathered */
	uint32_t hdr_have;
	uint32_t caplen, origlen; /* current record */
	uint64_t ts_ns;
	uint32_t bad_value; /* the offending field, for the message */
	uint8_t *buf;	    /* caller's buffer for frames split across inputs */
	size_t buf_len;
	uint32_t buf_have;
	uint64_t offset;      /* stream bytes consumed */
	uint64_t item_offset; /* where the header being decoded starts */
	uint64_t records;     /* records decoded */
};

/* The frame buffer size the decoder needs for these limits. */
size_t pcap_stream_frame_buf_size(const struct pcap_stream_limits *lim);

/* Prepares d. buf (buf_len >= pcap_stream_frame_buf_size(lim)) holds frames that arrive split
 * across several inputs; frames that arrive whole are returned in place, without a copy.
 * Returns 0, or -EINVAL for an MTU below 68 or above 65535 or a buffer too small. */
int pcap_stream_decoder_init(struct pcap_stream_decoder *d, const struct pcap_stream_limits *lim,
			     uint8_t *buf, size_t buf_len);

/* Consumes input from *data and *len (both advanced) until one frame is complete
 * (PCAP_STREAM_FRAME, *frame filled), the input is used up (PCAP_STREAM_NEED_MORE) or the
 * stream is invalid (a negative pcap_stream_result; the decoder stays failed). Feed the bytes
 * in any split, even one at a time: the result is the same. */
int pcap_stream_next(struct pcap_stream_decoder *d, const uint8_t **data, size_t *len,
		     struct pcap_stream_frame *frame);

/* The peer closed the stream: 0 at a record boundary (or before any byte), else
 * PCAP_STREAM_ERR_TRUNCATED (or the decoder's earlier error). */
int pcap_stream_finish(struct pcap_stream_decoder *d);

/* "bad_magic", "frame_too_large", ...: a stable identifier for metrics labels. */
const char *pcap_stream_error_name(int result);
/* A sentence naming the bad value and what to do, e.g. "record 3 (stream offset 1564): frame of
 * 9014 bytes is larger than IP packets of at most 1500 bytes allow (1514 bytes, 1518 with a VLAN
 * tag); run the agent with --mtu 1500 or less" (the hint only below the largest IP packet).
 * Returns out. */
const char *pcap_stream_describe(const struct pcap_stream_decoder *d, int result, char *out,
				 size_t out_len);

#endif /* SSLCOLLECTOR_PCAP_STREAM_H */
