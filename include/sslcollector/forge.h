/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* forge: turns the two byte streams of a TLS session into the Ethernet/IP/TCP frames of a
 * plain TCP connection that an unmodified IDS reassembles. Pure code: no I/O, no privileges,
 * never prints, never exits; errors are negative errno values. Frames leave through the
 * emit callback given to forge_new(), one complete frame per call. */
#ifndef SSLCOLLECTOR_FORGE_H
#define SSLCOLLECTOR_FORGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FORGE_DEFAULT_MTU 1500
#define FORGE_MIN_MTU	  576
#define FORGE_MAX_MTU	  65535
/* Largest frame forge can emit: Ethernet + 802.1Q + FORGE_MAX_MTU. */
#define FORGE_MAX_FRAME (14 + 4 + FORGE_MAX_MTU)

struct forge;
struct forge_flow;

/* Receives every frame forge builds, in order. ts_ns: wall-clock time (CLOCK_REALTIME, ns)
 * to stamp the frame with. A negative return value is passed back to forge's caller; frames
 * after it in the same call are not built. */
typedef int (*forge_emit_fn)(void *ctx, const uint8_t *frame, size_t len, uint64_t ts_ns);
/* The same frame as its headers (Ethernet to TCP options) and its TCP payload, which points
 * into the caller's data (forge_flow_data's) instead of being copied after the headers: for a
 * sink that copies the frame anyway. payload_len may be 0. */
typedef int (*forge_emit_parts_fn)(void *ctx, const uint8_t *hdr, size_t hdr_len,
				   const uint8_t *payload, size_t payload_len, uint64_t ts_ns);

/* How forge acknowledges data. Either way the acknowledgements of a flow follow from the calls
 * made on it and their times alone, never from when the caller flushes its output. */
enum forge_acks {
	/* Every write is followed at once by a pure ACK from the other side (the tests' simple
	 * shape; the agent uses FORGE_ACKS_RECEIVER). */
	FORGE_ACKS_EACH_WRITE = 0,
	/* As a receiving TCP does: the receiver acknowledges data when its application has read
	 * it (forge_flow_data_read) unless it is at most two wire segments (FORGE_PIGGYBACK_SEGS
	 * of a 1500-byte MTU, or of the MTU if smaller), which may wait for the receiver's own
	 * data to carry the ACK; the receiver sends a pure ACK before its own data whenever more
	 * than that waits; never more than FORGE_ACK_EVERY bytes of one side wait (the receiver
	 * ACKs inside a long write); and data that waits is acknowledged FORGE_DELACK_NS after it
	 * was sent (the delayed-ACK timer: at the flow's next call, or by forge_flow_timer). An
	 * IDS inspects only acknowledged data, and Suricata loses a transaction whose large
	 * request is acknowledged only by the first segment of the answer. */
	FORGE_ACKS_RECEIVER = 1,
};

/* FORGE_ACKS_RECEIVER's numbers; FORGE_ACK_EVERY holds in both modes (inside a long write). */
#define FORGE_PIGGYBACK_SEGS 2
/* 64 KiB less one: the SYN-ACK's window (65535, never scaled: RFC 7323), against which an IDS
 * checks the sender's data until the receiver's first segment after it */
#define FORGE_ACK_EVERY (64 * 1024 - 1)
#define FORGE_DELACK_NS 40000000ULL /* Linux's minimum delayed-ACK time */

struct forge_config {
	unsigned mtu; /* IP MTU of the output; 0 means FORGE_DEFAULT_MTU */
	int vlan;     /* 802.1Q VLAN id 1..4094, or 0 / negative for untagged frames */
	/* How the side that receives data acknowledges it (enum forge_acks). */
	enum forge_acks acks;
	/* true: the TCP checksum field of every frame holds only the sum of the pseudo-header
	 * (addresses, protocol, TCP length), folded and not complemented, as Linux leaves it for
	 * checksum offload (CHECKSUM_PARTIAL); the sink completes it: the complement of the sum
	 * over the TCP header and payload, that field included. For a sink whose kernel sums the
	 * payload anyway (output_packet.c's runs): forge skips a pass over every byte. The IPv4
	 * header checksum is always complete. */
	bool tcp_csum_partial;
	/* When set, frames leave through this instead of forge_new()'s emit (emit_ctx is passed
	 * to it just the same). */
	forge_emit_parts_fn emit_parts;
};

/* One TCP connection, named from the client's point of view. Addresses are in network byte
 * order (IPv4 in the first 4 bytes), ports in host byte order. */
struct forge_tuple {
	int family; /* AF_INET or AF_INET6 */
	uint8_t client_addr[16];
	uint8_t server_addr[16];
	uint16_t client_port;
	uint16_t server_port;
	uint8_t client_mac[6];
	uint8_t server_mac[6];
	uint16_t vlan; /* 802.1Q VLAN id 1..4094 of this flow's frames; 0: forge_config's */
};

struct forge_stats {
	uint64_t frames;    /* frames emitted */
	uint64_t bytes;	    /* frame bytes emitted */
	uint64_t payload;   /* TCP payload bytes emitted */
	uint64_t gap_bytes; /* sequence space skipped for gaps */
	uint64_t pure_acks; /* of the frames: ACKs without data, SYN, FIN or RST (the handshake's
			       third too) */
	uint64_t flows_opened;
	uint64_t flows_closed;
	uint64_t emit_errors; /* emit callback failures */
};

int forge_new(const struct forge_config *cfg, forge_emit_fn emit, void *emit_ctx,
	      struct forge **out);
void forge_free(struct forge *f); /* accepts NULL; flows must be freed first */
void forge_get_stats(const struct forge *f, struct forge_stats *st);
/* Largest TCP payload per frame for the family at the configured MTU. */
unsigned forge_mss(const struct forge *f, int family);
/* The message of the last failure on f or its flows that has more to say than its errno
 * (libnet's message, a failed emit callback, a bad tuple); "" if none yet. Valid until f is
 * freed. */
const char *forge_last_error(const struct forge *f);

/* Starts a synthetic connection: SYN, SYN-ACK, ACK with random ISNs, MSS and window-scale
 * options, stamped ts_ns. -EINVAL for a bad tuple (family, zero port). */
int forge_flow_open(struct forge *f, const struct forge_tuple *t, uint64_t ts_ns,
		    struct forge_flow **out);

/* Data written by one side (from_client: client -> server), its receiver not observed. Cut into
 * MSS-sized segments, PSH on the last, acknowledged by the other side as cfg.acks says (with
 * FORGE_ACKS_EACH_WRITE: a pure ACK right after). len 0 emits nothing. */
int forge_flow_data(struct forge_flow *fl, bool from_client, const uint8_t *data, size_t len,
		    uint64_t ts_ns);

/* The same, for data whose receiver's application read it at ts_ns (the observed end read it):
 * with FORGE_ACKS_RECEIVER the receiver acknowledges it now unless it is small enough to wait
 * for a piggyback. */
int forge_flow_data_read(struct forge_flow *fl, bool from_client, const uint8_t *data, size_t len,
			 uint64_t ts_ns);

/* Pure ACKs for everything either side sent that is not acknowledged yet; emits nothing when
 * all is acknowledged. */
int forge_flow_ack(struct forge_flow *fl, uint64_t ts_ns);

/* FORGE_ACKS_RECEIVER's delayed-ACK timer: the pure ACKs of data that has waited
 * FORGE_DELACK_NS by now_ns, each stamped with its own deadline. For a caller whose flow has
 * no further calls for a while; the flow's next call sends them too. */
int forge_flow_timer(struct forge_flow *fl, uint64_t now_ns);

/* len bytes from one side were lost: their sequence space is skipped without data and the
 * other side acknowledges past the hole, so the IDS records a gap, not a desynchronised
 * stream. Any length (large gaps are acknowledged in steps that stay inside the window). */
int forge_flow_gap(struct forge_flow *fl, bool from_client, uint64_t len, uint64_t ts_ns);

/* Ends the connection. reset: an RST from the closing side. Otherwise FIN/ACK from the closing
 * side (from_client), FIN/ACK from the other, final ACK. Further data/gap calls on a closed
 * flow return -EPIPE. Calling it twice is harmless (returns 0, emits nothing). */
int forge_flow_close(struct forge_flow *fl, bool from_client, bool reset, uint64_t ts_ns);

bool forge_flow_is_closed(const struct forge_flow *fl);
const struct forge_tuple *forge_flow_tuple(const struct forge_flow *fl);
/* Accepts NULL. Frees without emitting anything. */
void forge_flow_free(struct forge_flow *fl);

/* Internet checksum helpers, exposed for the sinks and the tests. csum_partial returns the
 * 32-bit running sum, csum_fold the final complemented 16-bit checksum (network order).
 * When a sum is chained over several pieces, every piece but the last has an even length. */
uint32_t forge_csum_partial(const void *data, size_t len, uint32_t sum);
uint16_t forge_csum_fold(uint32_t sum);

/* A TCP segment too large for an MTU, cut into segments that fit (forge/cut.c): for a sink
 * whose MTU is smaller than the one the frames were forged for (the collector's -o). */
struct forge_cut {
	const uint8_t *frame; /* the frame being cut (not copied: keep it until done) */
	size_t hdr_len;	      /* Ethernet to the end of the TCP header */
	size_t payload;	      /* TCP payload bytes */
	size_t mss;	      /* payload of every segment but the last */
	unsigned count;	      /* segments */
	uint8_t l3, l4;	      /* offsets of the IP and TCP headers */
	uint8_t flags;	      /* TCP flags of the frame */
	bool v6;
};

/* Parses frame (Ethernet, one optional 802.1Q/802.1ad tag, IPv4 not fragmented or IPv6 without
 * extension headers, TCP; bytes after the IP packet are ignored) for a cut at mtu (largest IP
 * packet). Returns the number of segments, 1 when the packet fits; -EBADMSG for lengths that
 * do not add up, -EPROTONOSUPPORT for anything else than such TCP or for SYN, RST and URG
 * segments (nothing a sender cuts), -EMSGSIZE when the headers alone do not fit the MTU. */
int forge_cut_init(struct forge_cut *c, const uint8_t *frame, size_t len, unsigned mtu);
/* Writes segment i (0 .. count-1) into out (room for hdr_len + mss bytes) and returns its
 * length: the frame's headers with the IP length, IPv4 id + i and header checksum, sequence
 * number + i * mss, FIN and PSH only on the last segment and CWR only on the first, a complete
 * TCP checksum (whatever the frame's held), and its piece of the payload. 0 for i >= count. */
size_t forge_cut_segment(const struct forge_cut *c, unsigned i, uint8_t *out);

#endif /* SSLCOLLECTOR_FORGE_H */
