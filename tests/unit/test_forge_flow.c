/* Forge's synthetic TCP connections on the wire: the handshake, segmentation at several MTUs,
 * sequence and acknowledgement numbers of both sides, IPv6, the 802.1Q tag, IP ids and
 * timestamps. Every frame is parsed and its checksums recomputed by forge_check.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "forge_env.h"

static void check_handshake(int family, unsigned mtu)
{
	struct env e;
	struct pframe syn, synack, ack;
	unsigned mss = mtu - (family == AF_INET ? 40 : 60);

	env_open(&e, family, mtu, 0);
	get_frame(&e.cap, 0, &syn);
	get_frame(&e.cap, 1, &synack);
	get_frame(&e.cap, 2, &ack);
	assert_direction(&syn, &e.t, true);
	assert_direction(&synack, &e.t, false);
	assert_direction(&ack, &e.t, true);

	assert_int_equal(syn.flags, TH_SYN);
	assert_int_equal(syn.ack, 0);
	assert_int_equal(syn.payload_len, 0);
	assert_int_equal(synack.flags, TH_SYN | TH_ACK);
	assert_int_equal(synack.ack, (uint32_t)(syn.seq + 1));
	assert_int_equal(synack.payload_len, 0);
	assert_int_equal(ack.flags, TH_ACK);
	assert_int_equal(ack.seq, (uint32_t)(syn.seq + 1));
	assert_int_equal(ack.ack, (uint32_t)(synack.seq + 1));
	assert_int_equal(ack.payload_len, 0);
	assert_int_not_equal(syn.seq, synack.seq);

	/* MSS and window scale on both SYNs, nothing on the ACK */
	for (int i = 0; i < 2; i++) {
		const struct pframe *p = i ? &synack : &syn;

		assert_int_equal(p->doff, 7);
		assert_true(p->has_mss);
		assert_int_equal(p->mss, mss);
		assert_true(p->has_wscale);
		assert_int_equal(p->wscale, 14);
	}
	assert_int_equal(ack.doff, 5);
	assert_false(ack.has_mss || ack.has_wscale);
	assert_int_equal(forge_mss(e.f, family), mss);

	/* stamped with the open's time */
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(e.cap.v[i].ts_ns, 1000);
	struct forge_stats st;

	forge_get_stats(e.f, &st);
	assert_int_equal(st.frames, 3);
	assert_int_equal(st.bytes, e.cap.v[0].len + e.cap.v[1].len + e.cap.v[2].len);
	assert_int_equal(st.flows_opened, 1);
	assert_int_equal(st.payload, 0);
	assert_false(forge_flow_is_closed(e.fl));
	assert_memory_equal(forge_flow_tuple(e.fl), &e.t, sizeof(e.t));
	env_free(&e);
}

static void test_handshake_ipv4(void **state)
{
	(void)state;
	check_handshake(AF_INET, 1500);
	check_handshake(AF_INET, 9000);
}

static void test_handshake_ipv6(void **state)
{
	(void)state;
	check_handshake(AF_INET6, 1500);
	check_handshake(AF_INET6, 576);
}

/* Eight connections: their ISNs are not all the same (random, not a constant). */
static void test_isns_random(void **state)
{
	uint32_t isn[8][2];
	bool client_differs = false, server_differs = false;

	(void)state;
	for (int i = 0; i < 8; i++) {
		struct env e;
		struct pframe syn, synack;

		env_open(&e, AF_INET, 1500, 0);
		get_frame(&e.cap, 0, &syn);
		get_frame(&e.cap, 1, &synack);
		isn[i][0] = syn.seq;
		isn[i][1] = synack.seq;
		env_free(&e);
	}
	for (int i = 1; i < 8; i++) {
		client_differs |= isn[i][0] != isn[0][0];
		server_differs |= isn[i][1] != isn[0][1];
	}
	assert_true(client_differs);
	assert_true(server_differs);
}

static void test_segmentation(void **state)
{
	static const unsigned mtus[] = {576, 1500, 9000, 65535};
	static const int families[] = {AF_INET, AF_INET6};

	(void)state;
	for (size_t fi = 0; fi < 2; fi++) {
		for (size_t mi = 0; mi < 4; mi++) {
			struct env e;
			size_t next = 3;

			env_open(&e, families[fi], mtus[mi], 0);
			size_t mss = forge_mss(e.f, families[fi]);
			const size_t lens[] = {1, mss - 1, mss, mss + 1, 3 * mss + 17, 200000};

			assert_int_equal(mss, mtus[mi] - (families[fi] == AF_INET ? 40 : 60));
			for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
				uint8_t *data = pattern(lens[li], (unsigned)li);
				bool from_client = li % 2;

				assert_int_equal(
				    forge_flow_data(e.fl, from_client, data, lens[li], 2000 + li),
				    0);
				size_t end = check_write(&e, next, from_client, data, lens[li]);

				assert_int_equal(e.cap.n, end);
				/* full segments fill the MTU exactly */
				if (lens[li] > mss)
					assert_int_equal(e.cap.v[next].len, 14 + mtus[mi]);
				for (size_t i = next; i < end; i++)
					assert_int_equal(e.cap.v[i].ts_ns, 2000 + li);
				next = end;
				free(data);
			}
			env_free(&e);
		}
	}
}

/* Writes from both sides, alternating and repeated: every segment acknowledges all the
 * peer has sent, sequence numbers advance by payload bytes. */
static void test_both_sides(void **state)
{
	static const size_t lens[] = {100, 5000, 1, 1460, 70000, 3, 2921};
	static const bool client[] = {true, false, true, true, false, false, true};
	struct env e;
	size_t next = 3;
	uint32_t client_isn, server_isn;
	uint64_t sent[2] = {0, 0};

	(void)state;
	env_open(&e, AF_INET, 1500, 0);
	client_isn = e.client_nxt;
	server_isn = e.server_nxt;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint8_t *data = pattern(lens[i], (unsigned)i + 7);

		assert_int_equal(forge_flow_data(e.fl, client[i], data, lens[i], i), 0);
		next = check_write(&e, next, client[i], data, lens[i]);
		assert_int_equal(e.cap.n, next);
		sent[client[i] ? 0 : 1] += lens[i];
		free(data);
	}
	assert_int_equal(e.client_nxt, (uint32_t)(client_isn + sent[0]));
	assert_int_equal(e.server_nxt, (uint32_t)(server_isn + sent[1]));
	struct forge_stats st;

	forge_get_stats(e.f, &st);
	assert_int_equal(st.payload, sent[0] + sent[1]);
	assert_int_equal(st.frames, e.cap.n);
	env_free(&e);
}

#define MS 1000000ULL

/* Pure ACKs captured in [first, cap.n): how many, checking that each one is from_client's. */
static size_t pure_acks(const struct env *e, size_t first, bool from_client)
{
	struct pframe p;
	size_t n = 0;

	for (size_t i = first; i < e->cap.n; i++) {
		get_frame(&e->cap, i, &p);
		if (p.payload_len || p.flags != TH_ACK)
			continue;
		assert_direction(&p, &e->t, from_client);
		n++;
	}
	return n;
}

/* FORGE_ACKS_RECEIVER, small amounts: a request written by the client waits for the answer to
 * carry its ACK (no pure ACK between them); the answer, written by the server, waits too;
 * forge_flow_timer() acknowledges it FORGE_DELACK_NS after it was sent, stamped then, and
 * not before. */
static void test_receiver_acks_piggyback(void **state)
{
	const struct forge_config cfg = {.mtu = 1500, .acks = FORGE_ACKS_RECEIVER};
	uint8_t *data = pattern(3000, 5);
	struct pframe p;
	struct env e;

	(void)state;
	env_open_cfg(&e, AF_INET, &cfg);
	assert_int_equal(forge_flow_data(e.fl, true, data, 100, 2000), 0);
	assert_int_equal(e.cap.n, 4); /* the request, no ACK */
	assert_int_equal(forge_flow_data(e.fl, false, data, 2000, 3000), 0);
	assert_int_equal(e.cap.n, 6); /* 2 segments of the answer, no ACK before or after */
	for (size_t i = 4; i < 6; i++) {
		get_frame(&e.cap, i, &p);
		assert_direction(&p, &e.t, false);
		assert_int_equal(p.ack, e.client_nxt + 100); /* the request, piggybacked */
		assert_int_equal(p.seq, (uint32_t)(e.server_nxt + (i - 4) * 1460));
	}
	assert_int_equal(forge_flow_timer(e.fl, 3000 + FORGE_DELACK_NS - 1), 0);
	assert_int_equal(e.cap.n, 6);
	assert_int_equal(forge_flow_timer(e.fl, 3000 + FORGE_DELACK_NS + 5 * MS), 0);
	assert_int_equal(e.cap.n, 7);
	get_frame(&e.cap, 6, &p);
	assert_direction(&p, &e.t, true);
	assert_int_equal(p.flags, TH_ACK);
	assert_int_equal(p.ack, e.server_nxt + 2000);
	assert_int_equal(e.cap.v[6].ts_ns, 3000 + FORGE_DELACK_NS);	   /* when it was due */
	assert_int_equal(forge_flow_timer(e.fl, 10 * FORGE_DELACK_NS), 0); /* nothing waits */
	assert_int_equal(e.cap.n, 7);
	free(data);
	env_free(&e);
}

/* FORGE_ACKS_RECEIVER, what must not wait: data the receiver's application read is
 * acknowledged at once when it is more than two wire segments; more than that waiting makes
 * the receiver send a pure ACK before its own data (the shape Suricata needs: an upload
 * answered at once); data that waited past FORGE_DELACK_NS is acknowledged at the next call,
 * before it and stamped when it was due. */
static void test_receiver_acks_required(void **state)
{
	const struct forge_config cfg = {.mtu = 1500, .acks = FORGE_ACKS_RECEIVER};
	uint8_t *data = pattern(300000, 9);
	uint64_t t = 1 * MS;
	struct pframe p;
	struct env e;
	size_t n;

	(void)state;
	env_open_cfg(&e, AF_INET, &cfg);
	/* reads: 2920 bytes (two segments) wait, 2921 do not */
	assert_int_equal(forge_flow_data_read(e.fl, true, data, 2920, t), 0);
	assert_int_equal(e.cap.n, 5);
	assert_int_equal(forge_flow_data_read(e.fl, true, data, 1, t), 0);
	assert_int_equal(e.cap.n, 7); /* the byte, then the server's ACK of all */
	get_frame(&e.cap, 6, &p);
	assert_direction(&p, &e.t, false);
	assert_int_equal(p.flags, TH_ACK);
	assert_int_equal(p.ack, e.client_nxt + 2921);
	e.client_nxt += 2921;
	/* an upload written by the client (its receiver not observed) in 16 KiB writes: never
	 * more than 64 KiB waits; the answer comes after a pure ACK of the rest */
	n = e.cap.n;
	for (size_t off = 0; off < 300000; off += 16384) {
		size_t len = 300000 - off < 16384 ? 300000 - off : 16384;

		assert_int_equal(forge_flow_data(e.fl, true, data + off, len, t), 0);
	}
	assert_int_equal(pure_acks(&e, n, false), 300000 / 65536); /* 4 inside it */
	n = e.cap.n;
	assert_int_equal(forge_flow_data(e.fl, false, data, 10, t), 0);
	assert_int_equal(e.cap.n, n + 2);
	get_frame(&e.cap, n, &p);
	assert_direction(&p, &e.t, false);
	assert_int_equal(p.flags, TH_ACK);
	assert_int_equal(p.payload_len, 0);
	assert_int_equal(p.ack, e.client_nxt + 300000); /* all of it, before the answer */
	e.client_nxt += 300000;
	get_frame(&e.cap, n + 1, &p);
	assert_int_equal(p.payload_len, 10);
	/* the answer's 10 bytes waited 50 ms: the client's next request is preceded by their
	 * delayed ACK, stamped when it was due */
	n = e.cap.n;
	assert_int_equal(forge_flow_data(e.fl, true, data, 10, t + 50 * MS), 0);
	assert_int_equal(e.cap.n, n + 2);
	get_frame(&e.cap, n, &p);
	assert_direction(&p, &e.t, true);
	assert_int_equal(p.flags, TH_ACK);
	assert_int_equal(p.payload_len, 0);
	assert_int_equal(e.cap.v[n].ts_ns, t + FORGE_DELACK_NS);
	assert_int_equal(e.cap.v[n + 1].ts_ns, t + 50 * MS);
	e.client_nxt += 10;
	e.server_nxt += 10;
	/* one large read: acknowledged inside it at least every 64 KiB, and at its end */
	n = e.cap.n;
	assert_int_equal(forge_flow_data_read(e.fl, false, data, 300000, t + 60 * MS), 0);
	/* the client's 10 bytes ride on the first segment; 4 ACKs inside, 1 at the end */
	assert_int_equal(pure_acks(&e, n, true), 300000 / 65536 + 1);
	get_frame(&e.cap, e.cap.n - 1, &p);
	assert_int_equal(p.ack, e.server_nxt + 300000);
	free(data);
	env_free(&e);
}

/* Whatever the writes, no side ever has more than FORGE_ACK_EVERY bytes unacknowledged, and
 * before either side's data at most two wire segments of the other side wait. Checked frame by
 * frame on a mixed exchange, at MTU 1500, 9000 and 65535 (the tunnel's: its frames reach the
 * IDS cut to 1500, so two segments are still counted at 1500). */
static void test_receiver_acks_bounds(void **state)
{
	/* 8232: an MSS of 8192, whose eighth segment ends exactly 64 KiB after the ACK */
	static const unsigned mtus[] = {1500, 8232, 9000, 65535};
	uint8_t *data = pattern(200000, 3);

	(void)state;
	for (size_t m = 0; m < sizeof(mtus) / sizeof(mtus[0]); m++) {
		const struct forge_config cfg = {.mtu = mtus[m], .acks = FORGE_ACKS_RECEIVER};
		uint64_t sent[2] = {0}, acked[2] = {0};
		uint32_t isn[2];
		struct env e;
		unsigned rnd = 12345;

		env_open_cfg(&e, AF_INET, &cfg);
		isn[0] = e.client_nxt;
		isn[1] = e.server_nxt;
		for (int i = 0; i < 400; i++) {
			bool client = (rnd = rnd * 1103515245 + 12345) >> 16 & 1;
			size_t len =
			    1 + ((rnd >> 8) % 5 == 0 ? (rnd >> 4) % 200000 : (rnd >> 4) % 3000);
			bool read = (rnd >> 20) & 1;

			if (read)
				assert_int_equal(forge_flow_data_read(e.fl, client, data, len, 7),
						 0);
			else
				assert_int_equal(forge_flow_data(e.fl, client, data, len, 7), 0);
		}
		for (size_t i = 3; i < e.cap.n; i++) {
			struct pframe p;
			int from;

			get_frame(&e.cap, i, &p);
			from = p.sport == e.t.client_port ? 0 : 1;
			if (p.payload_len) {
				/* the sender's own data: at most two wire segments of the other's
				 * wait for it (piggybacked or not) */
				assert_true(sent[!from] - acked[!from] <= 2 * 1460);
				sent[from] += p.payload_len;
				assert_int_equal((uint32_t)(p.seq + p.payload_len - isn[from]),
						 (uint32_t)sent[from]);
			}
			acked[!from] = (uint32_t)(p.ack - isn[!from]);
			/* and never more than the SYN-ACK's window, which is not scaled (RFC
			 * 7323): an IDS checks the data against it until the receiver's first
			 * segment */
			assert_true(sent[from] - acked[from] <= FORGE_ACK_EVERY);
			assert_true(sent[from] - acked[from] <= 65535);
		}
		env_free(&e);
	}
	free(data);
}

static void test_zero_byte_write(void **state)
{
	struct env e;
	struct forge_stats st;
	uint8_t byte = 'x';

	(void)state;
	env_open(&e, AF_INET6, 1500, 0);
	assert_int_equal(forge_flow_data(e.fl, true, &byte, 0, 5), 0);
	assert_int_equal(forge_flow_data(e.fl, false, NULL, 0, 5), 0);
	assert_int_equal(e.cap.n, 3);
	forge_get_stats(e.f, &st);
	assert_int_equal(st.frames, 3);
	/* and nothing moved: the next write starts where the handshake ended */
	assert_int_equal(forge_flow_data(e.fl, true, &byte, 1, 6), 0);
	assert_int_equal(check_write(&e, 3, true, &byte, 1), 5);
	env_free(&e);
}

static void test_one_byte_write(void **state)
{
	struct env e;
	struct pframe p;
	const uint8_t byte = 0xa5;

	(void)state;
	for (int fam = 0; fam < 2; fam++) {
		env_open(&e, fam ? AF_INET6 : AF_INET, 1500, 0);
		assert_int_equal(forge_flow_data(e.fl, false, &byte, 1, 9), 0);
		assert_int_equal(e.cap.n, 5);
		get_frame(&e.cap, 3, &p);
		assert_int_equal(p.flags, TH_ACK | TH_PSH);
		assert_int_equal(p.payload_len, 1);
		assert_int_equal(p.payload[0], 0xa5);
		/* 14 + IP + 20 + 1: an odd-length segment, checksum padded */
		assert_int_equal(e.cap.v[3].len, 14 + (fam ? 40 : 20) + 20 + 1);
		assert_int_equal(check_write(&e, 3, false, &byte, 1), 5);
		env_free(&e);
	}
}

/* A long write: the peer ACKs along the way, so the IDS never holds more than FORGE_ACK_EVERY
 * (64 KiB less one) unacknowledged, and the last ACK covers everything. */
static void test_long_write(void **state)
{
	const size_t len = 3 * 1024 * 1024 + 5;
	uint8_t *data = pattern(len, 3);
	struct env e;
	struct pframe p;
	uint32_t start, acked, nxt;
	size_t offset = 0, acks = 0;

	(void)state;
	env_open(&e, AF_INET, 1500, 0);
	start = acked = nxt = e.server_nxt;
	assert_int_equal(forge_flow_data(e.fl, false, data, len, 1), 0);
	for (size_t i = 3; i < e.cap.n; i++) {
		get_frame(&e.cap, i, &p);
		if (p.payload_len) {
			assert_direction(&p, &e.t, false);
			assert_int_equal(p.seq, nxt);
			assert_memory_equal(p.payload, data + offset, p.payload_len);
			offset += p.payload_len;
			nxt += (uint32_t)p.payload_len;
			assert_true(nxt - acked <= FORGE_ACK_EVERY);
			assert_int_equal(p.flags, TH_ACK | (offset == len ? TH_PSH : 0));
		} else {
			assert_direction(&p, &e.t, true);
			assert_int_equal(p.flags, TH_ACK);
			assert_int_equal(p.ack, nxt);
			acked = p.ack;
			acks++;
		}
	}
	assert_int_equal(offset, len);
	assert_int_equal(acked, (uint32_t)(start + len));
	/* after every 44 segments of 1460 bytes (64240 bytes: 45 would exceed 65535), and at the
	 * end */
	assert_int_equal(acks, len / (44 * 1460) + 1);
	{
		struct forge_stats st;

		forge_get_stats(e.f, &st);
		assert_int_equal(st.pure_acks, acks + 1); /* and the handshake's third frame */
	}
	free(data);
	env_free(&e);
}

static void check_vlan(int family, int vlan)
{
	struct env e;
	struct pframe p;
	uint8_t data[3000];
	uint16_t type = family == AF_INET ? 0x0800 : 0x86dd;

	memset(data, 0x42, sizeof(data));
	env_open(&e, family, 1500, vlan);
	assert_int_equal(forge_flow_data(e.fl, true, data, sizeof(data), 1), 0);
	assert_int_equal(forge_flow_close(e.fl, true, false, 2), 0);
	for (size_t i = 0; i < e.cap.n; i++) {
		const uint8_t *f = e.cap.v[i].frame;

		get_frame(&e.cap, i, &p);
		/* dst, src, TPID 0x8100, TCI (PCP 0, DEI 0, VID), then the IP ethertype */
		assert_int_equal(f[12], 0x81);
		assert_int_equal(f[13], 0x00);
		assert_int_equal(f[14], vlan >> 8);
		assert_int_equal(f[15], vlan & 0xff);
		assert_int_equal(f[16], type >> 8);
		assert_int_equal(f[17], type & 0xff);
		assert_true(p.tagged);
		assert_int_equal(p.tci, vlan);
		assert_int_equal(p.l3_off, 18);
		assert_int_equal(f[18] >> 4, family == AF_INET ? 4 : 6);
	}
	/* a full segment: 18 bytes of link header and an IP packet of exactly the MTU */
	assert_int_equal(e.cap.v[3].len, 18 + 1500);
	assert_int_equal(check_write(&e, 3, true, data, sizeof(data)), 3 + 3 + 1);
	env_free(&e);
}

static void test_vlan(void **state)
{
	(void)state;
	check_vlan(AF_INET, 100);
	check_vlan(AF_INET6, 100);
	check_vlan(AF_INET, 1);
	check_vlan(AF_INET6, 4094);

	/* vlan 0 or negative: untagged, ethertype right after the addresses */
	for (int vlan = -1; vlan <= 0; vlan++) {
		struct env e;
		struct pframe p;

		env_open(&e, AF_INET6, 1500, vlan);
		get_frame(&e.cap, 0, &p);
		assert_false(p.tagged);
		assert_int_equal(e.cap.v[0].frame[12], 0x86);
		assert_int_equal(e.cap.v[0].frame[13], 0xdd);
		assert_int_equal(p.l3_off, 14);
		env_free(&e);
	}
}

/* A flow's own VLAN id (forge_tuple.vlan: a container's network namespace) overrides the
 * forge's for every frame of that flow only; 0 keeps the forge's; 4095 is refused. */
static void test_vlan_per_flow(void **state)
{
	struct capture cap;
	struct forge *f;
	struct forge_flow *a, *b, *c;
	struct forge_tuple t;
	struct pframe p;
	uint8_t data[2000] = {7};

	(void)state;
	capture_init(&cap);
	assert_int_equal(forge_new(&(struct forge_config){.vlan = 10}, capture_emit, &cap, &f), 0);
	make_tuple(&t, AF_INET);
	t.vlan = 321;
	assert_int_equal(forge_flow_open(f, &t, 1, &a), 0);
	t.vlan = 0; /* the same addresses and ports: another namespace's connection */
	assert_int_equal(forge_flow_open(f, &t, 2, &b), 0);
	assert_int_equal(forge_flow_data(a, true, data, sizeof(data), 3), 0);
	assert_int_equal(forge_flow_data(b, false, data, sizeof(data), 4), 0);
	assert_int_equal(forge_flow_close(a, true, true, 5), 0);
	assert_int_equal(forge_flow_close(b, true, true, 6), 0);
	size_t tagged321 = 0, tagged10 = 0;
	for (size_t i = 0; i < cap.n; i++) {
		get_frame(&cap, i, &p);
		assert_true(p.tagged);
		assert_true(p.tci == 321 || p.tci == 10);
		tagged321 += p.tci == 321;
		tagged10 += p.tci == 10;
		/* the frames of a (stamped 1, 3, 5) carry 321; those of b (2, 4, 6) the default */
		assert_int_equal(p.tci, cap.v[i].ts_ns % 2 ? 321 : 10);
	}
	assert_true(tagged321 >= 3 + 2 + 1 && tagged10 >= 3 + 2 + 1);
	t.vlan = 4095;
	c = NULL;
	assert_int_equal(forge_flow_open(f, &t, 7, &c), -EINVAL);
	assert_null(c);
	forge_flow_free(a);
	forge_flow_free(b);
	forge_free(f);
	capture_free(&cap);
}

/* IPv4 ids count up by one per frame in each direction, independently. */
static void test_ip_ids(void **state)
{
	struct env e;
	struct pframe p;
	uint8_t data[5000] = {1};
	bool seen[2] = {false, false};
	uint16_t next_id[2] = {0, 0};

	(void)state;
	env_open(&e, AF_INET, 1500, 0);
	assert_int_equal(forge_flow_data(e.fl, true, data, sizeof(data), 1), 0);
	assert_int_equal(forge_flow_data(e.fl, false, data, 3000, 1), 0);
	assert_int_equal(forge_flow_close(e.fl, false, false, 1), 0);
	for (size_t i = 0; i < e.cap.n; i++) {
		get_frame(&e.cap, i, &p);
		int dir = p.sport == e.t.client_port ? 0 : 1;

		if (seen[dir])
			assert_int_equal(p.ip_id, next_id[dir]);
		seen[dir] = true;
		next_id[dir] = (uint16_t)(p.ip_id + 1);
	}
	assert_true(seen[0] && seen[1]);
	env_free(&e);
}

static void test_config(void **state)
{
	static char sentinel;
	struct capture cap;
	struct forge *f;
	const struct forge_config bad[] = {
	    {.mtu = 575},
	    {.mtu = 65536},
	    {.mtu = 1500, .vlan = 4095},
	};

	(void)state;
	capture_init(&cap);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = (struct forge *)&sentinel;
		assert_int_equal(forge_new(&bad[i], capture_emit, &cap, &f), -EINVAL);
		assert_null(f);
	}
	assert_int_equal(forge_new(NULL, NULL, &cap, &f), -EINVAL);
	assert_int_equal(forge_new(NULL, capture_emit, &cap, NULL), -EINVAL);

	/* no config, or mtu 0: the default MTU */
	assert_int_equal(forge_new(NULL, capture_emit, &cap, &f), 0);
	assert_int_equal(forge_mss(f, AF_INET), 1460);
	assert_int_equal(forge_mss(f, AF_INET6), 1440);
	assert_int_equal(forge_mss(f, AF_UNIX), 0);
	assert_string_equal(forge_last_error(f), "");
	forge_free(f);
	assert_int_equal(
	    forge_new(&(struct forge_config){.mtu = 0, .vlan = 7}, capture_emit, &cap, &f), 0);
	assert_int_equal(forge_mss(f, AF_INET), 1460);
	forge_free(f);
	assert_int_equal(forge_new(&(struct forge_config){.mtu = 65535}, capture_emit, &cap, &f),
			 0);
	assert_int_equal(forge_mss(f, AF_INET), 65495);
	assert_int_equal(forge_mss(f, AF_INET6), 65475);
	forge_free(f);
	assert_int_equal(cap.n, 0);
	forge_free(NULL);
	forge_flow_free(NULL);
	capture_free(&cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_ipv4),
	    cmocka_unit_test(test_handshake_ipv6),
	    cmocka_unit_test(test_isns_random),
	    cmocka_unit_test(test_segmentation),
	    cmocka_unit_test(test_both_sides),
	    cmocka_unit_test(test_receiver_acks_piggyback),
	    cmocka_unit_test(test_receiver_acks_required),
	    cmocka_unit_test(test_receiver_acks_bounds),
	    cmocka_unit_test(test_zero_byte_write),
	    cmocka_unit_test(test_one_byte_write),
	    cmocka_unit_test(test_long_write),
	    cmocka_unit_test(test_vlan),
	    cmocka_unit_test(test_vlan_per_flow),
	    cmocka_unit_test(test_ip_ids),
	    cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
