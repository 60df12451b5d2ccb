/* Frame sinks shared by the agent and the collector: -o IFACE (AF_PACKET, batched sends; runs of
 * data frames cut by the kernel when the interface has TX offload off) and -w FILE (classic
 * pcap, mode 0600, flushed at least every second). */
#ifndef SSLC_OUTPUT_H
#define SSLC_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct output;

struct output_stats {
	uint64_t frames;  /* frames written or sent */
	uint64_t bytes;	  /* their bytes */
	uint64_t dropped; /* frames the kernel or the file refused */
	uint64_t errors;  /* failed send/write calls */
	uint64_t
	    cut_frames; /* -o: frames sent in runs that the kernel cut (see output_packet_cuts) */
	uint64_t files_completed; /* -w with rotation: files completed and renamed */
};

/* Opens an AF_PACKET socket (protocol 0: it receives nothing) bound to ifname. Frames are
 * queued and sent in batches by output_flush() or when the batch is full. */
int output_packet_open(const char *ifname, struct output **out, char *err, size_t err_len);
/* For -o: frames whose IP packet is larger than mtu (when it is below the interface's MTU) are
 * cut as frames larger than the interface's MTU are: TCP segments into segments that fit,
 * anything else dropped and counted. 0 removes the cap. -EINVAL for other sinks or mtu < 68. */
int output_packet_set_mtu(struct output *o, unsigned mtu);
/* For -o: the MTU frames are cut at (the interface's, read every second, or the cap), 0 when
 * unknown or for other sinks. */
unsigned output_packet_mtu(const struct output *o);
/* For -o: 1 when consecutive data frames of one TCP direction are sent as one and cut by the
 * kernel into the same frames (the interface has TX checksum offload and TSO off), 0 when every
 * frame is sent as it is. Read from the interface at open and then every second. -1 for other
 * sinks. */
int output_packet_cuts(const struct output *o);
/* For -o: every TCP frame written from now on carries the partial checksum of
 * forge_config.tcp_csum_partial; the output completes the checksums of the frames it sends by
 * themselves (the kernel sums the runs it cuts). -EINVAL for other sinks. */
int output_packet_complete_csum(struct output *o);
/* For -o: output_write() of the frame hdr[0..hdr_len) followed by payload[0..payload_len),
 * copied once into the batch (forge_config.emit_parts). -EINVAL for other sinks. */
int output_packet_write_parts(struct output *o, const uint8_t *hdr, size_t hdr_len,
			      const uint8_t *payload, size_t payload_len);
/* For -o: from now on the payloads given to output_packet_write_parts() are not copied but
 * sent from where they lie, so they must stay as they are until the next output_flush() (the
 * headers are still copied). For payloads in the capture's ring buffer, released only after
 * that flush. -EINVAL for other sinks. */
int output_packet_hold_payloads(struct output *o);
/* What the agent and the collector log when output_packet_cuts() is 0 (two %s: the interface). */
#define OUTPUT_PACKET_ADVICE                                                                       \
	"-o %s: the interface offloads TX checksums or segmentation, so frames are sent one by "   \
	"one; 'ethtool -K %s tx off' lets the kernel cut runs of data frames (less CPU)"
/* -w rotation (both roles): the file being written always has the name given; a file that is
 * complete is renamed NAME.YYYYmmddTHHMMSSZ.EXT after the time it was started (UTC; "-1", "-2"...
 * added when that name is taken), and a new file is started under the name. */
struct output_rotation {
	uint64_t max_bytes;  /* before a frame would make the file larger than this (0: never) */
	unsigned interval_s; /* at every multiple of this many seconds since 1970 UTC, once the
			      * file holds a frame (0: never) */
	unsigned keep;	     /* completed files kept: beyond this many, the oldest are removed,
			      * earlier runs' included (0: every one kept) */
	uint64_t keep_bytes; /* the same by their total size: the oldest are removed while the
			      * completed files add up to more than this (0: no limit) */
	unsigned owner_uid;  /* keep: besides the current user's, the completed files of this
			      * uid count and may be removed (the collector's --user); 0: none.
			      * Others' files, links and names dated in the future are left alone */
};
/* Creates a pcap file, mode 0600, microsecond timestamps, Ethernet. Without rotation (rot NULL
 * or all zeros) an existing file is truncated; with it, an existing pcap that holds frames is
 * first completed as above (named after its first frame's time), and path must be a regular
 * file or not exist yet (else -EINVAL). */
int output_pcap_open(const char *path, const struct output_rotation *rot, struct output **out,
		     char *err, size_t err_len);
/* -w with rotation, for the log (returns as output_report() does): 1 when starting a new file
 * or removing an old one failed (a warning: the frames go on into the file being written, and
 * it is tried again in 10 s), -1 when files were completed since the last call (an info), 0
 * when nothing happened or for other sinks. msg gets the line. */
int output_rotation_news(struct output *o, char *msg, size_t len);
/* -w with rotation: 0 when this process (as the user it runs as now) can rename the file and
 * create new ones in its directory; else a negative errno and err says why. 0 without
 * rotation or for other sinks. */
int output_pcap_can_rotate(const struct output *o, char *err, size_t err_len);
/* True for -w with rotation by size or time. */
bool output_pcap_rotates(const struct output *o);

/* Queues one frame. ts_ns: CLOCK_REALTIME nanoseconds. Returns 0 or a negative errno. */
int output_write(struct output *o, const uint8_t *frame, size_t len, uint64_t ts_ns);
/* Sends/writes what is queued; -w writes its file at most every 200 ms. */
int output_flush(struct output *o);
/* Sends/writes everything queued now, -w too (before final counters are read). */
int output_sync(struct output *o);
void output_get_stats(const struct output *o, struct output_stats *st);
/* "-o veth0" / "-w file.pcap", for logs and metrics labels. */
const char *output_name(const struct output *o);
/* Why the last frame was refused or dropped ("" if none yet). */
const char *output_last_error(const struct output *o);
/* True while the output refuses frames: its last send (-o) or flush to the file (-w) failed,
 * for output_last_error()'s reason, and none has succeeded since. -o looks an interface that
 * is gone up again by name every second and sends on it once it is back. */
bool output_failing(const struct output *o);
/* Logging a failing output without flooding the log, one per output: output_report() returns 1
 * when o is failing and that is not reported yet, and no report was made in the last
 * period_ns; -1 when o works again after such a report; else 0. For 1 and -1, msg gets the
 * line for the log (a warning, an info). */
struct output_report {
	bool reported;
	uint64_t last_ns;
};
int output_report(const struct output *o, struct output_report *r, uint64_t now_ns,
		  uint64_t period_ns, char *msg, size_t len);
/* -w: starts a new file under the same name after the file was moved away (log rotation):
 * returns 1, or 0 when the name still refers to the file being written (nothing is done), or
 * a negative errno (the frames go on into the file being written); -ENOTSUP for -o. msg gets
 * a line for the log in every case. */
int output_reopen(struct output *o, char *msg, size_t len);
/* Flushes and closes; accepts NULL. */
void output_close(struct output *o);

/* The MTU of a network interface, or a negative errno. */
int iface_mtu(const char *ifname);
/* How many IPv4 and non-link-local IPv6 addresses ifname has (the first one written into
 * first), or a negative errno. */
int iface_routable_addrs(const char *ifname, char *first, size_t first_len);
/* -o onto ifname: refused (-EINVAL, message in err) when it has such addresses, unless
 * forced: the frames are plaintext and would leave on a real network. */
int output_packet_check_iface(const char *ifname, bool force, char *err, size_t err_len);

#endif
