/* output_packet (-o) into a real veth, in a network namespace of its own (root): whatever the
 * sink does with the frames (runs cut by the kernel when the interface has TX offload off, one
 * by one when it has it on), the far end of the veth receives exactly the frames that were
 * written, byte for byte and in order: forged IPv4, IPv6 and 802.1Q-tagged connections with
 * writes from one byte to several runs long, interleaved flows, gaps, and frames a run must not
 * take (TCP options, IP options, a sequence or id that does not follow, a retransmission).
 * Frames forged with partial TCP checksums (forge_config.tcp_csum_partial, what the agent does
 * for -o alone) arrive with the checksums complete, whether sent in runs or one by one.
 * Frames forged for MTU 65535 (the tunnel's) arrive cut to the interface's MTU (or a smaller
 * output_packet_set_mtu()), by the kernel or by forge_cut, as the same frames; what cannot be
 * cut is dropped and counted.
 * Not root: exit 77 (skipped), a failure when CI is set. */

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "forge_check.h"
#include "output.h"

#define MAX_RX	 (1 << 14)
#define SLOT_MAX (14 + 4 + 65535)

struct rx {
	uint8_t *frame[MAX_RX];
	size_t len[MAX_RX];
	size_t n;
};

static void sh(const char *cmd)
{
	int rc = system(cmd);

	if (rc != 0)
		fail_msg("'%s' failed (%d)", cmd, rc);
}

/* a veth pkt0 <-> pkt1 in this process's own network namespace; IPv6 off so that nothing but our
 * frames crosses it */
static int setup_netns(void **state)
{
	(void)state;
	if (unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	sh("sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1");
	sh("ip link add name pkt0 type veth peer name pkt1");
	sh("ip link set pkt0 up && ip link set pkt1 up");
	return 0;
}

static int rx_open(void)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)), one = 1, buf = 64 << 20;

	assert_true(fd >= 0);
	sll.sll_ifindex = (int)if_nametoindex("pkt1");
	assert_int_equal(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	assert_int_equal(setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)), 0);
	/* SO_RCVBUFFORCE: root may go past rmem_max */
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)), 0);
	return fd;
}

/* Everything pkt1 receives until it is quiet for wait_ms, with 802.1Q tags the receive path moved
 * into the metadata put back where they were. */
static void rx_drain(int fd, struct rx *rx, int wait_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	uint8_t buf[70000];

	while (poll(&pfd, 1, wait_ms) > 0) {
		union {
			struct cmsghdr h;
			uint8_t b[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
		} ctl;
		struct iovec iov = {buf, sizeof(buf)};
		struct sockaddr_ll from;
		struct msghdr m = {.msg_name = &from,
				   .msg_namelen = sizeof(from),
				   .msg_iov = &iov,
				   .msg_iovlen = 1,
				   .msg_control = &ctl,
				   .msg_controllen = sizeof(ctl)};
		ssize_t n = recvmsg(fd, &m, 0);
		size_t len;
		uint8_t *f;

		assert_true(n > 0);
		assert_false(m.msg_flags & MSG_TRUNC);
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		assert_true(rx->n < MAX_RX);
		len = (size_t)n;
		f = malloc(len + 4);
		assert_non_null(f);
		memcpy(f, buf, len);
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			struct tpacket_auxdata aux;

			if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA)
				continue;
			memcpy(&aux, CMSG_DATA(c), sizeof(aux));
			if (!(aux.tp_status & TP_STATUS_VLAN_VALID))
				continue;
			uint16_t tpid = aux.tp_status & TP_STATUS_VLAN_TPID_VALID ? aux.tp_vlan_tpid
										  : ETH_P_8021Q;

			memmove(f + 16, f + 12, len - 12);
			f[12] = (uint8_t)(tpid >> 8);
			f[13] = (uint8_t)tpid;
			f[14] = (uint8_t)(aux.tp_vlan_tci >> 8);
			f[15] = (uint8_t)aux.tp_vlan_tci;
			len += 4;
		}
		rx->frame[rx->n] = f;
		rx->len[rx->n++] = len;
	}
}

static void rx_free(struct rx *rx)
{
	for (size_t i = 0; i < rx->n; i++)
		free(rx->frame[i]);
	rx->n = 0;
}

/* set by a test: output_packet_set_mtu() on every output run_case_want() opens */
static unsigned cap_mtu;

/* Frames of a few connections forged for mtu, in the order a mirror would emit them. */
static void forge_workload_mtu(struct capture *cap, int family, int vlan, bool csum_partial,
			       unsigned mtu)
{
	static uint8_t data[300000 + 8];
	/* IPv6 acknowledged as the agent forges it, IPv4 with an ACK after each write */
	struct forge_config fc = {.mtu = mtu,
				  .vlan = vlan,
				  .acks = family == AF_INET6 ? FORGE_ACKS_RECEIVER
							     : FORGE_ACKS_EACH_WRITE,
				  .tcp_csum_partial = csum_partial};
	struct forge_tuple t = {.family = family, .client_port = 40000, .server_port = 443};
	struct forge_flow *f1, *f2;
	struct forge *fg;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	if (family == AF_INET) {
		memcpy(t.client_addr, "\x0a\x00\x00\x01", 4);
		memcpy(t.server_addr, "\x0a\x00\x00\x02", 4);
	} else {
		t.client_addr[0] = t.server_addr[0] = 0xfd;
		t.client_addr[15] = 1;
		t.server_addr[15] = 2;
	}
	memcpy(t.client_mac, "\x02\x00\x00\x00\x00\x01", 6);
	memcpy(t.server_mac, "\x02\x00\x00\x00\x00\x02", 6);
	assert_int_equal(forge_new(&fc, capture_emit, cap, &fg), 0);
	assert_int_equal(forge_flow_open(fg, &t, 1, &f1), 0);
	t.client_port++;
	assert_int_equal(forge_flow_open(fg, &t, 1, &f2), 0);
	const size_t sizes[] = {1, 1459, 1460, 1461, 2920, 4387, 16384, 65536, 70000, 300000};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(forge_flow_data(f1, true, data, sizes[i], 1), 0);
		assert_int_equal(forge_flow_data(f2, false, data + 3, sizes[i], 1), 0);
		assert_int_equal(forge_flow_data_read(f1, false, data + 5, sizes[i], 1), 0);
		if (i % 3 == 2) {
			assert_int_equal(forge_flow_ack(f1, 1), 0);
			assert_int_equal(forge_flow_ack(f2, 1), 0);
		}
	}
	assert_int_equal(forge_flow_gap(f1, false, 5000, 1), 0);
	assert_int_equal(forge_flow_data(f1, false, data, 9000, 1), 0);
	assert_int_equal(forge_flow_close(f1, true, false, 1), 0);
	assert_int_equal(forge_flow_close(f2, false, true, 1), 0);
	forge_flow_free(f1);
	forge_flow_free(f2);
	forge_free(fg);
}

static void forge_workload_csum(struct capture *cap, int family, int vlan, bool csum_partial)
{
	forge_workload_mtu(cap, family, vlan, csum_partial, 1500);
}

static void forge_workload(struct capture *cap, int family, int vlan)
{
	forge_workload_csum(cap, family, vlan, false);
}

/* Copies of frame i of cap, each changed so that it must not join the run before it. */
static void odd_frames(struct capture *cap, struct capture *out)
{
	size_t first = 0;

	/* the first full-size data frame with a full-size data frame after it */
	while (first + 1 < cap->n && !(cap->v[first].len == 1514 && cap->v[first + 1].len == 1514))
		first++;
	assert_true(first + 1 < cap->n);
	for (int kind = 0; kind < 7; kind++) {
		for (size_t k = 0; k < 2; k++) {
			const struct captured *c = &cap->v[first + k];
			uint8_t f[1600];
			size_t len = c->len;

			memcpy(f, c->frame, len);
			if (kind == 6) /* both IPv4 fragments (more fragments): never a run */
				f[14 + 6] |= 0x20;
			if (k == 1) {
				switch (kind) {
				case 0: /* sequence number jumps */
					f[14 + 20 + 7] ^= 0x10;
					break;
				case 1: /* IPv4 id jumps */
					f[14 + 5] ^= 0x10;
					break;
				case 2: /* other port */
					f[14 + 20 + 1] ^= 1;
					break;
				case 3: /* TCP options (NOP NOP NOP NOP) in place of 4 bytes of data
					 */
					memmove(f + 58, f + 54, len - 58);
					memset(f + 54, 1, 4);
					f[14 + 20 + 12] = 6 << 4;
					break;
				case 4: /* IPv4 total length shorter than the frame (padding) */
					f[14 + 3] = (uint8_t)(f[14 + 3] - 2);
					break;
				case 5: /* a retransmission of the frame before */
					memcpy(f, cap->v[first].frame, len);
					break;
				case 6: /* above */
					break;
				}
			}
			capture_emit(out, f, len, 1);
		}
	}
}

enum hold_mode {
	HOLD_NONE,
	HOLD,
	HOLD_LATE
};
static enum hold_mode g_hold;
static uint8_t ring[8 << 20];
static size_t ring_used;

static void expect_same(const struct capture *sent, const struct rx *rx)
{
	assert_int_equal(rx->n, sent->n);
	for (size_t i = 0; i < sent->n; i++) {
		if (rx->len[i] != sent->v[i].len ||
		    memcmp(rx->frame[i], sent->v[i].frame, sent->v[i].len) != 0)
			fail_msg("frame %zu of %zu differs (%zu bytes sent, %zu received)", i,
				 sent->n, sent->v[i].len, rx->len[i]);
	}
}

/* How run_case_want() hands the frames over: HOLD_NONE whole (output_write); otherwise in two
 * parts with the output holding payloads (output_packet_hold_payloads), each payload in a
 * "ring" that is overwritten after every flush, as the capture's ring buffer is reused.
 * HOLD_LATE writes each payload wrong and corrects it after output_packet_write_parts()
 * returns: only an output that sends payloads from where they lie gets them right (flush
 * often enough that the batch is never full in between). */

/* Frame i of a workload: headers, then the payload from the ring. Every third frame leaves
 * its first payload byte among the headers, so the payload piece starts at an odd offset. */
static void write_held(struct output *o, const uint8_t *f, size_t len, size_t i)
{
	struct pframe p;
	size_t h, n;
	uint8_t *r = ring + ring_used;

	if (!parse_frame(f, len, &p) || !p.payload_len) {
		assert_int_equal(output_write(o, f, len, 1), 0);
		return;
	}
	h = (size_t)(p.payload - f) + (i % 3 == 1 && p.payload_len > 1);
	n = len - h;
	assert_true(ring_used + n <= sizeof(ring));
	for (size_t k = 0; k < n; k++)
		r[k] = g_hold == HOLD_LATE ? (uint8_t)~f[h + k] : f[h + k];
	assert_int_equal(output_packet_write_parts(o, f, h, r, n), 0);
	if (g_hold == HOLD_LATE)
		memcpy(r, f + h, n);
	ring_used += n;
}

static void ring_reuse(void)
{
	memset(ring, 0xee, ring_used);
	ring_used = 0;
}

/* Sends cap through -o pkt0 (flushing every `every` frames) and checks that pkt1 receives
 * `want`; partial: cap's TCP checksums are partial (output_packet_complete_csum). */
static void run_case_want(struct capture *cap, const struct capture *want, bool partial,
			  int expect_cuts, size_t every)
{
	struct output_stats st;
	struct output *o;
	struct rx *rx = calloc(1, sizeof(*rx));
	char err[256] = "";
	int fd = rx_open();

	assert_non_null(rx);
	assert_int_equal(output_packet_open("pkt0", &o, err, sizeof(err)), 0);
	assert_int_equal(output_packet_cuts(o), expect_cuts);
	if (cap_mtu)
		assert_int_equal(output_packet_set_mtu(o, cap_mtu), 0);
	if (partial)
		assert_int_equal(output_packet_complete_csum(o), 0);
	if (g_hold)
		assert_int_equal(output_packet_hold_payloads(o), 0);
	for (size_t i = 0; i < cap->n; i++) {
		if (g_hold)
			write_held(o, cap->v[i].frame, cap->v[i].len, i);
		else
			assert_int_equal(output_write(o, cap->v[i].frame, cap->v[i].len, 1), 0);
		if ((i + 1) % every == 0) {
			assert_int_equal(output_flush(o), 0);
			ring_reuse();
			rx_drain(fd, rx, 0); /* keeps the receive buffer from overflowing */
		}
	}
	assert_int_equal(output_flush(o), 0);
	ring_reuse();
	output_get_stats(o, &st);
	output_close(o);
	rx_drain(fd, rx, 200);
	close(fd);
	expect_same(want, rx);
	assert_int_equal(st.frames, want->n);
	assert_int_equal(st.dropped, 0);
	if (expect_cuts)
		assert_true(st.cut_frames > cap->n / 2);
	else
		assert_int_equal(st.cut_frames, 0);
	rx_free(rx);
	free(rx);
}

static void run_case(struct capture *cap, int expect_cuts, size_t every)
{
	run_case_want(cap, cap, false, expect_cuts, every);
}

/* The workloads of families fam[0..n) with VLAN ids vlan[0..n), one after the other, sent with
 * TX offload off (runs cut by the kernel; flushed rarely, then often) and on. */
static void both_modes(const int *fam, const int *vlan, size_t n)
{
	struct capture cap;

	capture_init(&cap);
	for (size_t i = 0; i < n; i++)
		forge_workload(&cap, fam[i], vlan[i]);
	sh("ethtool -K pkt0 tx off >/dev/null");
	run_case(&cap, 1, 1000);
	run_case(&cap, 1, 7); /* runs broken by flushes */
	sh("ethtool -K pkt0 tx on >/dev/null");
	run_case(&cap, 0, 1000);
	capture_free(&cap);
}

static void test_ipv4(void **state)
{
	(void)state;
	both_modes((const int[]){AF_INET}, (const int[]){0}, 1);
}

static void test_ipv6(void **state)
{
	(void)state;
	both_modes((const int[]){AF_INET6}, (const int[]){0}, 1);
}

static void test_vlan(void **state)
{
	(void)state;
	both_modes((const int[]){AF_INET, AF_INET6}, (const int[]){42, 4094}, 2);
}

/* frame with its TCP checksum computed from scratch (RFC 1071 over the pseudo-header and the
 * segment with the checksum field zeroed) */
static void complete_ref(uint8_t *f, size_t len)
{
	struct pframe p;
	uint8_t pseudo[40], *tcp;
	size_t tcp_len, alen;

	parse_frame(f, len, &p); /* the checksum is not right yet: only the layout is used */
	alen = p.family == AF_INET ? 4 : 16;
	tcp = f + p.l3_off + (p.family == AF_INET ? p.ihl * 4u : 40u);
	tcp_len = len - (size_t)(tcp - f);
	memcpy(pseudo, p.src, alen);
	memcpy(pseudo + alen, p.dst, alen);
	pseudo[2 * alen] = 0;
	pseudo[2 * alen + 1] = 6;
	pseudo[2 * alen + 2] = (uint8_t)(tcp_len >> 8);
	pseudo[2 * alen + 3] = (uint8_t)tcp_len;
	tcp[16] = tcp[17] = 0;
	uint16_t c = ref_checksum((const uint8_t *const[]){pseudo, tcp},
				  (const size_t[]){2 * alen + 4, tcp_len}, 2);
	tcp[16] = (uint8_t)(c >> 8);
	tcp[17] = (uint8_t)c;
}

static void test_partial_checksums(void **state)
{
	struct capture cap, want;
	size_t partial = 0;

	(void)state;
	capture_init(&cap);
	capture_init(&want);
	forge_workload_csum(&cap, AF_INET, 0, true);
	forge_workload_csum(&cap, AF_INET6, 7, true);
	for (size_t i = 0; i < cap.n; i++) {
		struct pframe p;
		uint8_t f[1600];

		assert_true(cap.v[i].len <= sizeof(f));
		memcpy(f, cap.v[i].frame, cap.v[i].len);
		assert_true(parse_frame(f, cap.v[i].len, &p));
		partial += !p.tcp_csum_ok;
		complete_ref(f, cap.v[i].len);
		capture_emit(&want, f, cap.v[i].len, 1);
		get_frame(&want, i, &p); /* well formed, checksums right */
	}
	assert_true(partial > cap.n * 9 / 10); /* forge left them partial */
	sh("ethtool -K pkt0 tx off >/dev/null");
	run_case_want(&cap, &want, true, 1, 1000);
	run_case_want(&cap, &want, true, 1, 7);
	sh("ethtool -K pkt0 tx on >/dev/null");
	run_case_want(&cap, &want, true, 0, 1000);
	capture_free(&want);
	capture_free(&cap);
}

static int hold_off(void **state)
{
	(void)state;
	g_hold = HOLD_NONE;
	return 0;
}

/* Payloads sent from where they lie (the agent's -o, from its ring buffer): the same frames
 * arrive, in runs and alone, with checksums completed over headers and payload pieces. */
static void test_payloads_held(void **state)
{
	struct capture cap, want;

	(void)state;
	capture_init(&cap);
	forge_workload(&cap, AF_INET, 0);
	forge_workload(&cap, AF_INET6, 5);
	sh("ethtool -K pkt0 tx off >/dev/null");
	g_hold = HOLD;
	run_case(&cap, 1, 1000);
	g_hold = HOLD_LATE;
	run_case(&cap, 1, 7);
	sh("ethtool -K pkt0 tx on >/dev/null");
	run_case(&cap, 0, 7);
	g_hold = HOLD;
	run_case(&cap, 0, 1000);
	capture_free(&cap);

	/* partial checksums completed over the pieces (odd offsets included) */
	capture_init(&cap);
	capture_init(&want);
	forge_workload_csum(&cap, AF_INET, 0, true);
	forge_workload_csum(&cap, AF_INET6, 7, true);
	for (size_t i = 0; i < cap.n; i++) {
		uint8_t f[1600];

		assert_true(cap.v[i].len <= sizeof(f));
		memcpy(f, cap.v[i].frame, cap.v[i].len);
		complete_ref(f, cap.v[i].len);
		capture_emit(&want, f, cap.v[i].len, 1);
	}
	run_case_want(&cap, &want, true, 0, 1000);
	g_hold = HOLD_LATE;
	run_case_want(&cap, &want, true, 0, 7);
	sh("ethtool -K pkt0 tx off >/dev/null");
	run_case_want(&cap, &want, true, 1, 7);
	g_hold = HOLD_NONE;
	capture_free(&want);
	capture_free(&cap);
}

/* want: the frames of big (forged for MTU 65535) cut at mtu by forge_cut, each checked with
 * the tests' own parser: well formed, checksums right, within the MTU, the big frame's payload
 * in order with the sequence numbers following on, IPv4 ids counting up, PSH only on the last
 * piece, everything else as the big frame had it. */
static size_t cut_model(const struct capture *big, unsigned mtu, struct capture *want)
{
	static uint8_t seg[SLOT_MAX];
	size_t cut = 0;

	for (size_t i = 0; i < big->n; i++) {
		struct forge_cut c;
		struct pframe bp, p;
		size_t off = 0;
		int n = forge_cut_init(&c, big->v[i].frame, big->v[i].len, mtu);

		assert_true(n >= 1);
		if (n == 1) {
			capture_emit(want, big->v[i].frame, big->v[i].len, 1);
			continue;
		}
		cut++;
		get_frame(big, i, &bp);
		for (int k = 0; k < n; k++) {
			size_t l = forge_cut_segment(&c, (unsigned)k, seg);

			capture_emit(want, seg, l, 1);
			get_frame(want, want->n - 1, &p);
			assert_true(p.ip_len <= mtu);
			assert_int_equal(p.seq, bp.seq + (uint32_t)off);
			assert_int_equal(p.ack, bp.ack);
			assert_int_equal(p.sport, bp.sport);
			assert_int_equal(p.win, bp.win);
			assert_int_equal(p.tagged, bp.tagged);
			if (p.family == AF_INET)
				assert_int_equal(p.ip_id, (uint16_t)(bp.ip_id + k));
			assert_int_equal(p.flags, k == n - 1 ? bp.flags : bp.flags & ~TH_PSH);
			assert_true(off + p.payload_len <= bp.payload_len);
			assert_memory_equal(p.payload, bp.payload + off, p.payload_len);
			off += p.payload_len;
		}
		assert_int_equal(off, bp.payload_len);
	}
	return cut;
}

/* Frames forged for the tunnel's MTU 65535 sent on a smaller MTU (the collector's -o): each
 * TCP segment too large arrives cut, by the kernel (TX offload off) or by forge_cut (on), as
 * the same frames; the MTU is the interface's or output_packet_set_mtu()'s. */
static void test_oversized_frames_cut(void **state)
{
	struct capture big, want, want9k;

	(void)state;
	capture_init(&big);
	capture_init(&want);
	capture_init(&want9k);
	forge_workload_mtu(&big, AF_INET, 0, false, 65535);
	forge_workload_mtu(&big, AF_INET6, 7, false, 65535);
	assert_true(cut_model(&big, 1500, &want) > 10);
	assert_true(want.n > 2 * big.n);
	sh("ethtool -K pkt0 tx off >/dev/null");
	run_case_want(&big, &want, false, 1, 1000);
	run_case_want(&big, &want, false, 1, 3);
	sh("ethtool -K pkt0 tx on >/dev/null");
	run_case_want(&big, &want, false, 0, 1000);
	/* a jumbo link cut to 1500 by output_packet_set_mtu, then at its own MTU */
	sh("ip link set pkt0 mtu 9000 && ip link set pkt1 mtu 9000");
	cap_mtu = 1500;
	run_case_want(&big, &want, false, 0, 1000);
	cap_mtu = 0;
	assert_true(cut_model(&big, 9000, &want9k) > 10);
	run_case_want(&big, &want9k, false, 0, 1000);
	sh("ethtool -K pkt0 tx off >/dev/null");
	run_case_want(&big, &want9k, false, 1, 1000);
	sh("ip link set pkt0 mtu 1500 && ip link set pkt1 mtu 1500");
	capture_free(&want9k);
	capture_free(&want);
	capture_free(&big);
}

/* A frame larger than the MTU that is not a TCP segment a sender cuts (a SYN carrying 3000
 * bytes, a UDP datagram) is dropped, counted and explained; the frames around it go out. */
static void test_oversized_uncuttable_dropped(void **state)
{
	static uint8_t f[4000];
	struct output_stats st;
	struct capture cap;
	struct output *o;
	struct rx *rx = calloc(1, sizeof(*rx));
	char err[256] = "";
	size_t big = 0;
	int fd;

	(void)state;
	assert_non_null(rx);
	capture_init(&cap);
	forge_workload_mtu(&cap, AF_INET, 0, false, 3000);
	while (big < cap.n && cap.v[big].len != 3014)
		big++;
	assert_true(big < cap.n);
	sh("ethtool -K pkt0 tx off >/dev/null");
	fd = rx_open();
	assert_int_equal(output_packet_open("pkt0", &o, err, sizeof(err)), 0);
	assert_int_equal(output_write(o, cap.v[0].frame, cap.v[0].len, 1), 0); /* the SYN */
	memcpy(f, cap.v[big].frame, 3014);
	f[14 + 20 + 13] |= TH_SYN;
	assert_int_equal(output_write(o, f, 3014, 1), -EMSGSIZE);
	assert_non_null(strstr(output_last_error(o), "not a TCP segment that can be cut"));
	f[14 + 20 + 13] &= (uint8_t)~TH_SYN;
	f[14 + 9] = 17; /* UDP */
	assert_int_equal(output_write(o, f, 3014, 1), -EMSGSIZE);
	assert_int_equal(output_write(o, cap.v[1].frame, cap.v[1].len, 1), 0);
	assert_int_equal(output_flush(o), 0);
	output_get_stats(o, &st);
	output_close(o);
	rx_drain(fd, rx, 200);
	close(fd);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(st.frames, 2);
	assert_int_equal(rx->n, 2);
	assert_memory_equal(rx->frame[1], cap.v[1].frame, cap.v[1].len);
	rx_free(rx);
	free(rx);
	capture_free(&cap);
}

static void test_frames_a_run_must_not_take(void **state)
{
	struct capture cap, odd;
	struct output_stats st;
	struct output *o;
	struct rx *rx = calloc(1, sizeof(*rx));
	char err[256] = "";
	int fd;

	(void)state;
	assert_non_null(rx);
	capture_init(&cap);
	capture_init(&odd);
	forge_workload(&cap, AF_INET, 0);
	odd_frames(&cap, &odd);
	sh("ethtool -K pkt0 tx off >/dev/null");
	fd = rx_open();
	assert_int_equal(output_packet_open("pkt0", &o, err, sizeof(err)), 0);
	for (size_t i = 0; i < odd.n; i++)
		assert_int_equal(output_write(o, odd.v[i].frame, odd.v[i].len, 1), 0);
	assert_int_equal(output_flush(o), 0);
	output_get_stats(o, &st);
	output_close(o);
	rx_drain(fd, rx, 200);
	close(fd);
	expect_same(&odd, rx);
	assert_int_equal(st.cut_frames, 0);
	rx_free(rx);
	free(rx);
	capture_free(&odd);
	capture_free(&cap);
}

/* Interface down: every frame is refused and counted as dropped, runs by their frames, none
 * silently (also those written while a full batch was being refused). */
static void test_refused_frames_counted(void **state)
{
	struct output_stats st;
	struct capture cap;
	struct output *o;
	char err[256] = "";
	int failed = 0;

	(void)state;
	capture_init(&cap);
	forge_workload(&cap, AF_INET, 0);
	sh("ethtool -K pkt0 tx off >/dev/null && ip link set pkt0 down");
	assert_int_equal(output_packet_open("pkt0", &o, err, sizeof(err)), 0);
	for (size_t i = 0; i < cap.n; i++)
		failed += output_write(o, cap.v[i].frame, cap.v[i].len, 1) < 0;
	failed += output_flush(o) < 0;
	output_get_stats(o, &st);
	output_close(o);
	sh("ip link set pkt0 up");
	assert_true(failed > 0);
	assert_int_equal(st.frames, 0);
	assert_int_equal(st.dropped, cap.n);
	assert_true(st.errors > 0);
	capture_free(&cap);
}

/* The interface is removed, then created again under the same name (a new index): frames
 * written meanwhile are dropped and counted, the output says why, and within the next
 * recheck (1 s) it sends on the new interface again, exactly what it is given. */
static void test_interface_recreated(void **state)
{
	struct output_stats st;
	struct capture cap;
	struct output *o;
	struct rx *rx = calloc(1, sizeof(*rx));
	char err[256] = "";
	int fd;

	(void)state;
	assert_non_null(rx);
	capture_init(&cap);
	forge_workload(&cap, AF_INET, 0);
	sh("ethtool -K pkt0 tx on >/dev/null");
	assert_int_equal(output_packet_open("pkt0", &o, err, sizeof(err)), 0);
	for (size_t i = 0; i < cap.n; i++)
		assert_int_equal(output_write(o, cap.v[i].frame, cap.v[i].len, 1), 0);
	assert_int_equal(output_flush(o), 0);
	assert_false(output_failing(o));

	sh("ip link del pkt0");
	for (size_t i = 0; i < cap.n; i++)
		output_write(o, cap.v[i].frame, cap.v[i].len, 1);
	assert_true(output_flush(o) < 0);
	assert_true(output_failing(o));
	assert_non_null(strstr(output_last_error(o), "pkt0 is gone"));
	output_get_stats(o, &st);
	assert_int_equal(st.frames, cap.n);
	assert_int_equal(st.dropped, cap.n);

	sh("ip link add name pkt0 type veth peer name pkt1");
	sh("ip link set pkt0 up && ip link set pkt1 up");
	fd = rx_open();
	usleep(1100 * 1000); /* the output looks for the interface again every second */
	output_flush(o);
	assert_false(output_failing(o));
	assert_string_equal(output_last_error(o), "");
	for (size_t i = 0; i < cap.n; i++)
		assert_int_equal(output_write(o, cap.v[i].frame, cap.v[i].len, 1), 0);
	assert_int_equal(output_flush(o), 0);
	output_get_stats(o, &st);
	output_close(o);
	rx_drain(fd, rx, 200);
	close(fd);
	expect_same(&cap, rx);
	assert_int_equal(st.frames, 2 * cap.n);
	assert_int_equal(st.dropped, cap.n);
	rx_free(rx);
	free(rx);
	capture_free(&cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv4),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_vlan),
	    cmocka_unit_test(test_partial_checksums),
	    cmocka_unit_test_teardown(test_payloads_held, hold_off),
	    cmocka_unit_test(test_oversized_frames_cut),
	    cmocka_unit_test(test_oversized_uncuttable_dropped),
	    cmocka_unit_test(test_frames_a_run_must_not_take),
	    cmocka_unit_test(test_refused_frames_counted),
	    cmocka_unit_test(test_interface_recreated),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "needs root (a network namespace and a veth)\n");
		return getenv("CI") ? 1 : 77;
	}
	return cmocka_run_group_tests(tests, setup_netns, NULL);
}
