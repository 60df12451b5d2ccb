/* tests/unit/forge_env.c: see forge_env.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "forge_env.h"

void env_open(struct env *e, int family, unsigned mtu, int vlan)
{
	const struct forge_config cfg = {.mtu = mtu, .vlan = vlan};

	env_open_cfg(e, family, &cfg);
}

void env_open_cfg(struct env *e, int family, const struct forge_config *cfg)
{
	struct pframe syn, synack, ack;

	memset(e, 0, sizeof(*e));
	capture_init(&e->cap);
	assert_int_equal(forge_new(cfg, capture_emit, &e->cap, &e->f), 0);
	make_tuple(&e->t, family);
	assert_int_equal(forge_flow_open(e->f, &e->t, 1000, &e->fl), 0);
	assert_non_null(e->fl);
	assert_int_equal(e->cap.n, 3);
	get_frame(&e->cap, 0, &syn);
	get_frame(&e->cap, 1, &synack);
	get_frame(&e->cap, 2, &ack);
	assert_int_equal(syn.flags, TH_SYN);
	assert_int_equal(synack.flags, TH_SYN | TH_ACK);
	assert_int_equal(ack.flags, TH_ACK);
	e->client_nxt = syn.seq + 1;
	e->server_nxt = synack.seq + 1;
}

void env_free(struct env *e)
{
	forge_flow_free(e->fl);
	forge_free(e->f);
	capture_free(&e->cap);
	e->fl = NULL;
	e->f = NULL;
}

size_t check_write(struct env *e, size_t first, bool from_client, const uint8_t *data, size_t len)
{
	size_t mss = forge_mss(e->f, e->t.family);
	size_t nseg = (len + mss - 1) / mss;
	uint32_t *seq = from_client ? &e->client_nxt : &e->server_nxt;
	uint32_t peer_seq = from_client ? e->server_nxt : e->client_nxt;
	size_t unacked = 0, i = first;
	struct pframe p;

	for (size_t k = 0; k < nseg; k++) {
		bool last = k + 1 == nseg;
		size_t want = last ? len - k * mss : mss;

		if (unacked && unacked + want > FORGE_ACK_EVERY) {
			/* never more than FORGE_ACK_EVERY waits: the peer ACKs inside the write */
			get_frame(&e->cap, i++, &p);
			assert_direction(&p, &e->t, !from_client);
			assert_int_equal(p.flags, TH_ACK);
			assert_int_equal(p.payload_len, 0);
			assert_int_equal(p.ack, (uint32_t)(*seq + k * mss));
			unacked = 0;
		}
		get_frame(&e->cap, i++, &p);
		assert_direction(&p, &e->t, from_client);
		assert_int_equal(p.flags, TH_ACK | (last ? TH_PSH : 0));
		assert_int_equal(p.payload_len, want);
		assert_int_equal(p.seq, (uint32_t)(*seq + k * mss));
		assert_int_equal(p.ack, peer_seq);
		assert_int_equal(p.doff, 5);
		assert_memory_equal(p.payload, data + k * mss, want);
		assert_true(p.ip_len <=
			    forge_mss(e->f, e->t.family) + (e->t.family == AF_INET ? 40u : 60u));
		unacked += want;
	}
	get_frame(&e->cap, i++, &p);
	assert_direction(&p, &e->t, !from_client);
	assert_int_equal(p.flags, TH_ACK);
	assert_int_equal(p.payload_len, 0);
	assert_int_equal(p.seq, peer_seq);
	assert_int_equal(p.ack, (uint32_t)(*seq + len));
	*seq += (uint32_t)len;
	return i;
}
