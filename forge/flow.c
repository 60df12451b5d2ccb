/* forge/flow.c: one synthetic TCP connection per TLS session: the three-way handshake, data
 * cut to the MSS and acknowledged by the peer (enum forge_acks), gaps acknowledged past,
 * FIN/ACK or RST at the end. The sequence numbers follow the plaintext byte for byte, and the
 * frames follow from the calls and their times alone.
 *
 * When the emit callback fails, the call stops there but its sequence space is consumed all
 * the same: what was not emitted is a hole that the next call's ACKs cover, so the IDS records
 * a gap and the stream offsets stay those of the application's stream. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "forge_internal.h"

enum {
	CLIENT = 0,
	SERVER = 1
};

struct forge_side {
	struct forge_tmpl tmpl; /* headers of the frames this side sends */
	uint32_t snd_nxt;	/* next sequence number this side sends */
	uint32_t una;		/* oldest sequence number of this side the peer has not ACKed */
	uint64_t unacked;	/* not ACKed yet: una + unacked == snd_nxt (mod 2^32) */
	uint64_t wait_ns;	/* unacked > 0: when the oldest of it was sent (delayed ACK) */
	uint16_t ip_id;		/* IPv4 id of the next frame */
};

struct forge_flow {
	struct forge *f;
	struct forge_tuple tuple;
	struct forge_side side[2]; /* [CLIENT], [SERVER] */
	uint64_t last_ns;	   /* time of the latest call */
	uint32_t piggyback_max;	   /* FORGE_ACKS_RECEIVER: bytes that may wait for a piggyback */
	bool closed;
};

static int send_seg(struct forge_flow *fl, int from, uint8_t flags, uint32_t ack,
		    const uint8_t *opts, uint8_t opts_len, const uint8_t *payload, size_t len,
		    uint64_t ts_ns)
{
	struct forge_side *s = &fl->side[from];
	const struct forge_seg seg = {
	    .seq = s->snd_nxt,
	    .ack = ack,
	    .ip_id = s->ip_id++,
	    .flags = flags,
	    .opts_len = opts_len,
	    .opts = opts,
	    .payload = payload,
	    .len = len,
	};
	unsigned mode = (fl->f->csum_partial ? FORGE_TMPL_CSUM_PARTIAL : 0) |
			(fl->f->emit_parts ? FORGE_TMPL_HDR_ONLY : 0);
	size_t n = forge_tmpl_frame(&s->tmpl, &seg, mode, fl->f->frame);
	int err = forge_emit_frame(fl->f, n, payload, len, ts_ns);

	if (!err && !len && flags == FORGE_TH_ACK)
		fl->f->stats.pure_acks++;
	return err;
}

/* The peer of side `from` acknowledges everything `from` has sent, in steps of at most
 * FORGE_ACK_STEP so that no ACK leaves the window. Normally that is one pure ACK. */
static int ack_side(struct forge_flow *fl, int from, uint64_t ts_ns)
{
	struct forge_side *s = &fl->side[from];

	while (s->unacked) {
		uint64_t step = s->unacked < FORGE_ACK_STEP ? s->unacked : FORGE_ACK_STEP;
		uint32_t ack = s->una + (uint32_t)step;
		int err = send_seg(fl, !from, FORGE_TH_ACK, ack, NULL, 0, NULL, 0, ts_ns);

		if (err)
			return err;
		s->una = ack;
		s->unacked -= step;
	}
	return 0;
}

/* Everything either side sent, acknowledged (FORGE_ACKS_EACH_WRITE: also what is left over from
 * a call whose emit failed, so that each call starts acknowledged). */
static int ack_both(struct forge_flow *fl, uint64_t ts_ns)
{
	int err = ack_side(fl, CLIENT, ts_ns);

	return err ? err : ack_side(fl, SERVER, ts_ns);
}

/* FORGE_ACKS_RECEIVER: the delayed ACKs due by now, earliest first, each stamped with its
 * deadline (never before the flow's latest call: events may reach us slightly out of order). */
static int ack_due(struct forge_flow *fl, uint64_t now)
{
	for (;;) {
		int due = -1;
		uint64_t at = 0;

		for (int side = CLIENT; side <= SERVER; side++) {
			const struct forge_side *s = &fl->side[side];
			uint64_t t = s->wait_ns + FORGE_DELACK_NS;

			if (s->unacked && now >= t && (due < 0 || t < at)) {
				due = side;
				at = t;
			}
		}
		if (due < 0)
			return 0;
		int err = ack_side(fl, due, at > fl->last_ns ? at : fl->last_ns);
		if (err)
			return err;
	}
}

static int handshake(struct forge_flow *fl, uint64_t ts_ns)
{
	struct forge_side *c = &fl->side[CLIENT], *s = &fl->side[SERVER];
	unsigned mss = forge_mss(fl->f, fl->tuple.family);
	const uint8_t opts[FORGE_SYN_OPTS_LEN] = {
	    2, 4, (uint8_t)(mss >> 8), (uint8_t)mss, /* MSS */
	    1,					     /* NOP */
	    3, 3, FORGE_WSCALE,			     /* window scale */
	};
	int err;

	err = send_seg(fl, CLIENT, FORGE_TH_SYN, 0, opts, sizeof(opts), NULL, 0, ts_ns);
	if (err)
		return err;
	c->snd_nxt++;
	err = send_seg(fl, SERVER, FORGE_TH_SYN | FORGE_TH_ACK, c->snd_nxt, opts, sizeof(opts),
		       NULL, 0, ts_ns);
	if (err)
		return err;
	s->snd_nxt++;
	c->una = c->snd_nxt;
	s->una = s->snd_nxt;
	return send_seg(fl, CLIENT, FORGE_TH_ACK, s->snd_nxt, NULL, 0, NULL, 0, ts_ns);
}

static int random_start(struct forge_flow *fl)
{
	uint32_t rnd[3];
	ssize_t n = getrandom(rnd, sizeof(rnd), 0);

	if (n < 0)
		return forge_set_error(fl->f, -errno, "getrandom: %s", strerror(errno));
	if ((size_t)n != sizeof(rnd))
		return forge_set_error(fl->f, -EIO, "getrandom: %zd of %zu bytes", n, sizeof(rnd));
	fl->side[CLIENT].snd_nxt = rnd[0];
	/* distinct, so that the two directions can never be mistaken for each other */
	fl->side[SERVER].snd_nxt = rnd[1] != rnd[0] ? rnd[1] : ~rnd[1];
	fl->side[CLIENT].ip_id = (uint16_t)rnd[2];
	fl->side[SERVER].ip_id = (uint16_t)(rnd[2] >> 16);
	return 0;
}

int forge_flow_open(struct forge *f, const struct forge_tuple *t, uint64_t ts_ns,
		    struct forge_flow **out)
{
	struct forge_hdr_desc d;
	struct forge_flow *fl;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!f || !t)
		return -EINVAL;
	if ((t->family != AF_INET && t->family != AF_INET6) || !t->client_port || !t->server_port)
		return forge_set_error(f, -EINVAL,
				       "bad flow tuple: family %d, client port %u, server port %u",
				       t->family, t->client_port, t->server_port);
	if (t->vlan > 4094)
		return forge_set_error(f, -EINVAL, "bad flow tuple: VLAN id %u", t->vlan);
	fl = calloc(1, sizeof(*fl));
	if (!fl)
		return forge_set_error(f, -ENOMEM, "cannot allocate a flow");
	fl->f = f;
	fl->tuple = *t;
	fl->last_ns = ts_ns;
	{
		/* two segments of the wire: of a 1500-byte MTU (the tunnel's 64 KiB frames reach
		 * the IDS cut to such), or of a smaller MTU */
		unsigned wire =
		    1500 - (t->family == AF_INET ? FORGE_IP4_LEN : FORGE_IP6_LEN) - FORGE_TCP_LEN;
		unsigned mss = forge_mss(f, t->family);

		fl->piggyback_max = FORGE_PIGGYBACK_SEGS * (mss < wire ? mss : wire);
	}
	for (int side = CLIENT; side <= SERVER; side++) {
		forge_hdr_desc_init(&d, t, side == CLIENT, t->vlan ? t->vlan : f->vlan);
		err = forge_tmpl_init(&fl->side[side].tmpl, f->ln, &d, f->err, sizeof(f->err));
		if (err)
			goto cleanup;
	}
	err = random_start(fl);
	if (err)
		goto cleanup;
	err = handshake(fl, ts_ns);
	if (err)
		goto cleanup;
	f->stats.flows_opened++;
	*out = fl;
	return 0;
cleanup:
	free(fl);
	return err;
}

/* Data from side `from`. read: its receiver's application has it now (the observed end read
 * it). See enum forge_acks for when the receiver acknowledges. */
static int flow_data(struct forge_flow *fl, int from, const uint8_t *data, size_t len,
		     uint64_t ts_ns, bool read)
{
	struct forge_side *s, *peer;
	size_t mss, off = 0;
	bool piggyback, receiver;
	int err;

	if (!fl || (!data && len))
		return -EINVAL;
	if (fl->closed)
		return -EPIPE;
	if (!len)
		return 0;
	s = &fl->side[from];
	peer = &fl->side[!from];
	mss = forge_mss(fl->f, fl->tuple.family);
	receiver = fl->f->acks == FORGE_ACKS_RECEIVER;
	if (!receiver) {
		err = ack_both(fl, ts_ns);
	} else {
		err = ack_due(fl, ts_ns);
		/* more than a couple of the peer's segments wait: a pure ACK before our data (and
		 * in steps when too far for one ACK) */
		if (!err && peer->unacked > fl->piggyback_max)
			err = ack_side(fl, !from, ts_ns);
	}
	fl->last_ns = ts_ns > fl->last_ns ? ts_ns : fl->last_ns;
	/* the first segment acknowledges all the peer sent */
	piggyback = !err && peer->unacked;
	while (!err && off < len) {
		size_t n = len - off < mss ? len - off : mss;
		bool last = off + n == len;

		/* never more than FORGE_ACK_EVERY bytes wait for the receiver's ACK */
		if (s->unacked && s->unacked + n > FORGE_ACK_EVERY) {
			err = ack_side(fl, from, ts_ns);
			if (err)
				break;
		}
		err =
		    send_seg(fl, from, FORGE_TH_ACK | (last ? FORGE_TH_PSH : 0),
			     piggyback ? peer->snd_nxt : peer->una, NULL, 0, data + off, n, ts_ns);
		if (!err && piggyback) {
			peer->una = peer->snd_nxt;
			peer->unacked = 0;
			piggyback = false;
		}
		if (!s->unacked)
			s->wait_ns = ts_ns;
		s->snd_nxt += (uint32_t)n;
		s->unacked += n;
		off += n;
	}
	if (err) {
		/* the rest of the write is lost: consume its sequence space (see the top) */
		if (!s->unacked)
			s->wait_ns = ts_ns;
		s->snd_nxt += (uint32_t)(len - off);
		s->unacked += len - off;
		return err;
	}
	if (receiver && !(read && s->unacked > fl->piggyback_max))
		return 0; /* waits: for the peer's data, more of ours, or the delayed ACK */
	return ack_side(fl, from, ts_ns);
}

int forge_flow_data(struct forge_flow *fl, bool from_client, const uint8_t *data, size_t len,
		    uint64_t ts_ns)
{
	return flow_data(fl, from_client ? CLIENT : SERVER, data, len, ts_ns, false);
}

int forge_flow_data_read(struct forge_flow *fl, bool from_client, const uint8_t *data, size_t len,
			 uint64_t ts_ns)
{
	return flow_data(fl, from_client ? CLIENT : SERVER, data, len, ts_ns, true);
}

int forge_flow_ack(struct forge_flow *fl, uint64_t ts_ns)
{
	if (!fl)
		return -EINVAL;
	if (fl->closed)
		return 0;
	return ack_both(fl, ts_ns);
}

int forge_flow_timer(struct forge_flow *fl, uint64_t now_ns)
{
	if (!fl)
		return -EINVAL;
	if (fl->closed || fl->f->acks != FORGE_ACKS_RECEIVER)
		return 0;
	return ack_due(fl, now_ns);
}

int forge_flow_gap(struct forge_flow *fl, bool from_client, uint64_t len, uint64_t ts_ns)
{
	struct forge_side *s;

	if (!fl)
		return -EINVAL;
	if (fl->closed)
		return -EPIPE;
	if (!len)
		return 0;
	s = &fl->side[from_client ? CLIENT : SERVER];
	if (fl->f->acks == FORGE_ACKS_RECEIVER) {
		int err = ack_due(fl, ts_ns);

		if (err)
			return err;
	}
	fl->last_ns = ts_ns > fl->last_ns ? ts_ns : fl->last_ns;
	s->snd_nxt += (uint32_t)len;
	/* congruent to len modulo 2^32, so the ACKs end exactly at snd_nxt */
	s->unacked += len <= FORGE_GAP_EXACT_MAX ? len : FORGE_GAP_EXACT_MAX + (uint32_t)len;
	fl->f->stats.gap_bytes += len;
	/* the receiver acknowledges past the hole at once: the IDS records a gap instead of
	 * waiting for bytes that will never come */
	if (fl->f->acks == FORGE_ACKS_RECEIVER)
		return ack_side(fl, from_client ? CLIENT : SERVER, ts_ns);
	return ack_both(fl, ts_ns);
}

int forge_flow_close(struct forge_flow *fl, bool from_client, bool reset, uint64_t ts_ns)
{
	int from = from_client ? CLIENT : SERVER;
	struct forge_side *x, *y;
	int err;

	if (!fl)
		return -EINVAL;
	if (fl->closed)
		return 0;
	fl->closed = true;
	fl->f->stats.flows_closed++;
	err = fl->f->acks == FORGE_ACKS_RECEIVER ? ack_due(fl, ts_ns) : 0;
	if (!err)
		err = ack_both(fl, ts_ns);
	if (err)
		return err;
	x = &fl->side[from];
	y = &fl->side[!from];
	if (reset)
		return send_seg(fl, from, FORGE_TH_RST | FORGE_TH_ACK, y->una, NULL, 0, NULL, 0,
				ts_ns);
	err = send_seg(fl, from, FORGE_TH_FIN | FORGE_TH_ACK, y->una, NULL, 0, NULL, 0, ts_ns);
	if (err)
		return err;
	x->una = ++x->snd_nxt;
	err = send_seg(fl, !from, FORGE_TH_FIN | FORGE_TH_ACK, x->una, NULL, 0, NULL, 0, ts_ns);
	if (err)
		return err;
	y->una = ++y->snd_nxt;
	return send_seg(fl, from, FORGE_TH_ACK, y->una, NULL, 0, NULL, 0, ts_ns);
}

bool forge_flow_is_closed(const struct forge_flow *fl)
{
	return !fl || fl->closed;
}

const struct forge_tuple *forge_flow_tuple(const struct forge_flow *fl)
{
	return fl ? &fl->tuple : NULL;
}

void forge_flow_free(struct forge_flow *fl)
{
	free(fl);
}
