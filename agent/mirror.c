/* Captured events -> forged TCP connections -> outputs (-o, -w, -t). */
#include "mirror.h"
#include "log.h"
#include "localpair.h"
#include "loopguard.h"
#include "outputs.h"
#include "print.h"
#include "u64map.h"

#include "sslcollector/forge.h"
#include "sslcollector/tunnel.h"
#include "tunnel_metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "mirror_impl.h"
#include "fnv1a.h"

/* forge's emit callback: every output gets every frame. An output refusing one frame (it
 * counts the drop) must not stop the others or the flow, so this never fails. */
static int emit(void *ctx, const uint8_t *frame, size_t len, uint64_t ts_ns)
{
	struct mirror *m = ctx;

	loopguard_note_frame(m->guard, frame, len);
	for (size_t i = 0; i < m->n_outs; i++)
		if (output_write(m->outs[i], frame, len, ts_ns) < 0)
			m->emit_errors++;
	/* the tunnel counts its own drops (queue full, disconnected) */
	if (m->tunnel)
		tunnel_client_send(m->tunnel, frame, len, ts_ns);
	return 0;
}

/* Without -w (only -o and -t): the frame's headers and its payload where it lies in the ring
 * buffer record. -o sends the payload from there (mirror_release), the tunnel copies it into
 * its queue. */
static int emit_parts(void *ctx, const uint8_t *hdr, size_t hdr_len, const uint8_t *payload,
		      size_t payload_len, uint64_t ts_ns)
{
	struct mirror *m = ctx;

	loopguard_note_frame(m->guard, hdr, hdr_len);
	for (size_t i = 0; i < m->n_outs; i++)
		if (output_packet_write_parts(m->outs[i], hdr, hdr_len, payload, payload_len) < 0)
			m->emit_errors++;
	if (m->tunnel)
		tunnel_client_send_parts(m->tunnel, hdr, hdr_len, payload, payload_len, ts_ns);
	return 0;
}

/* Ends every open synthetic connection; the next event of each starts a new one. */
static void close_open_flows(struct mirror *m, uint64_t wall)
{
	for (size_t i = 0; i < m->flows.cap; i++) {
		struct flow *f;

		if (!u64map_live(&m->flows, i))
			continue;
		f = m->flows.vals[i];
		if (!f->ff)
			continue;
		forge_flow_close(f->ff, f->local_is_client, false, wall);
		forge_flow_free(f->ff);
		f->ff = NULL;
		m->restarted++;
	}
}

/* A new tunnel session knows nothing of the connections in flight: restart them all, each
 * with a handshake, so the IDS never has to pick up a stream in the middle. */
static void check_tunnel_session(struct mirror *m, uint64_t wall)
{
	uint64_t gen;

	if (!m->tunnel)
		return;
	gen = tunnel_client_generation(m->tunnel);
	if (gen == m->tunnel_gen)
		return;
	m->tunnel_gen = gen;
	close_open_flows(m, wall);
}

/* A stable locally administered Ethernet address for an IP address. */
static void derived_mac(uint8_t first, const uint8_t *addr, size_t alen, uint8_t mac[6])
{
	uint64_t h = fnv1a(FNV1A_OFFSET, addr, alen);

	mac[0] = first;
	for (int i = 1; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * i));
}

static void fill_tuple(struct mirror *m, struct flow *f, const struct sslc_conn *c, uint8_t role)
{
	size_t alen = c->family == AF_INET ? 4 : 16;
	uint8_t local_mac[6] = {0}, remote_mac[6];
	const struct local_addr *la =
	    m->addrs ? local_addrs_find(m->addrs, c->family, c->local_addr) : NULL;
	static const uint8_t zero[6];

	if (la && memcmp(la->mac, zero, 6))
		memcpy(local_mac, la->mac, 6);
	else
		derived_mac(0x06, c->local_addr, alen, local_mac);
	derived_mac(0x02, c->remote_addr, alen, remote_mac);

	f->local_is_client = role != SSLC_ROLE_SERVER;
	f->tuple.family = c->family == AF_INET ? AF_INET : AF_INET6;
	f->tuple.vlan = m->hooks.vlan_of ? m->hooks.vlan_of(m->hooks.vlan_ctx, c) : 0;
	if (f->local_is_client) {
		memcpy(f->tuple.client_addr, c->local_addr, 16);
		memcpy(f->tuple.server_addr, c->remote_addr, 16);
		f->tuple.client_port = c->local_port;
		f->tuple.server_port = c->remote_port;
		memcpy(f->tuple.client_mac, local_mac, 6);
		memcpy(f->tuple.server_mac, remote_mac, 6);
	} else {
		memcpy(f->tuple.client_addr, c->remote_addr, 16);
		memcpy(f->tuple.server_addr, c->local_addr, 16);
		f->tuple.client_port = c->remote_port;
		f->tuple.server_port = c->local_port;
		memcpy(f->tuple.client_mac, remote_mac, 6);
		memcpy(f->tuple.server_mac, local_mac, 6);
	}
}

/* f, the mirrored end of its connection, ends: if the other end may be on this host (the
 * remote address is one of ours), it is remembered (localpair.h). */
static void remember_ended(struct mirror *m, const struct flow *f, uint64_t wall)
{
	const uint8_t *remote = f->local_is_client ? f->tuple.server_addr : f->tuple.client_addr;
	uint8_t family = f->tuple.family == AF_INET ? AF_INET : AF_INET6;

	if (!f->key || (m->addrs && !local_addrs_find(m->addrs, family, remote)))
		return;
	localpair_ended(&m->ended, f->key, f->local_is_client, wall);
}

static struct flow *flow_new(struct mirror *m, const struct sslc_event *e, uint8_t role,
			     uint64_t wall)
{
	struct flow *f = calloc(1, sizeof(*f));
	uint64_t key;

	if (!f)
		return NULL;
	f->conn_id = e->conn_id;
	fill_tuple(m, f, &e->conn, role);
	key = localpair_key(&e->conn);
	if (u64map_get(&m->by_key, key) ||
	    localpair_other_end(&m->ended, key, f->local_is_client, wall)) {
		/* both ends of this connection are on this host: mirror it once */
		f->duplicate = true;
		m->duplicates++;
	} else if (u64map_put(&m->by_key, key, f) == 0) {
		f->key = key;
	}
	if (u64map_put(&m->flows, e->conn_id, f)) {
		if (f->key)
			u64map_del(&m->by_key, f->key);
		free(f);
		return NULL;
	}
	return f;
}

static void flow_free(struct mirror *m, struct flow *f)
{
	if (f->key && u64map_get(&m->by_key, f->key) == f)
		u64map_del(&m->by_key, f->key);
	u64map_del(&m->flows, f->conn_id);
	forge_flow_free(f->ff);
	if (f->cut)
		m->cut_gen++;
	free(f->cut_desc);
	free(f);
}

static void log_forge_error(struct mirror *m, struct flow *f, const char *what, int err,
			    uint64_t now)
{
	char client[64], server[64];

	if (now - m->last_error_log_ns < 10000000000ULL)
		return; /* at most one in 10 s */
	m->last_error_log_ns = now;
	format_endpoint(f->tuple.family == AF_INET ? 2 : 10, f->tuple.client_addr,
			f->tuple.client_port, client, sizeof(client));
	format_endpoint(f->tuple.family == AF_INET ? 2 : 10, f->tuple.server_addr,
			f->tuple.server_port, server, sizeof(server));
	log_warn("mirroring %s -> %s: %s: %s", client, server, what, strerror(-err));
}

static int flow_ensure_open(struct mirror *m, struct flow *f, uint64_t wall)
{
	int ret;

	if (f->ff)
		return 0;
	ret = forge_flow_open(m->forge, &f->tuple, wall, &f->ff);
	if (ret) {
		log_forge_error(m, f, "cannot start the connection", ret, wall);
		return ret;
	}
	m->opened++;
	return 0;
}

/* The connection carries frames only we emitted (loopguard.h): its mirror ends here, and the
 * capture stops copying it, so that the loop through it stops. */
static void cut_flow(struct mirror *m, struct flow *f, const struct sslc_event *e, uint64_t wall)
{
	char client[64], server[64];
	int ret;

	f->cut = true;
	m->loops_cut++;
	if (f->ff) {
		forge_flow_close(f->ff, f->local_is_client, true, wall);
		forge_flow_free(f->ff);
		f->ff = NULL;
	}
	format_endpoint(f->tuple.family == AF_INET ? 2 : 10, f->tuple.client_addr,
			f->tuple.client_port, client, sizeof(client));
	format_endpoint(f->tuple.family == AF_INET ? 2 : 10, f->tuple.server_addr,
			f->tuple.server_port, server, sizeof(server));
	m->cut_gen++;
	f->cut_desc = malloc(200);
	if (f->cut_desc)
		snprintf(f->cut_desc, 200,
			 "loop    %.16s[%u] %s -> %s: carried this agent's own output", e->comm,
			 e->pid, client, server);
	log_warn("%s[%u] %s -> %s carries this agent's own output back to it (a feedback loop: a "
		 "relay of the tunnel, a receiver of -w, a collector whose host mirrors to us): "
		 "connection cut from the mirror",
		 e->comm, e->pid, client, server);
	if (m->hooks.cut && (ret = m->hooks.cut(m->hooks.ctx, f->conn_id, true)) < 0)
		log_error("cannot stop capturing connection %" PRIu64 ": %s; its bytes are "
			  "dropped here",
			  f->conn_id, strerror(-ret));
}

int mirror_event(struct mirror *m, const struct sslc_event *e, uint8_t role, uint64_t wall)
{
	struct flow *f = u64map_get(&m->flows, e->conn_id);
	bool from_client;
	int ret = 0;

	check_tunnel_session(m, wall);
	if (!f) {
		if (e->type == SSLC_EVENT_CLOSE &&
		    !(e->gap[SSLC_DIR_SEND] || e->gap[SSLC_DIR_RECV]))
			return 0; /* a session that never carried data: nothing to mirror */
		f = flow_new(m, e, role, wall);
		if (!f)
			return -ENOMEM;
	}
	if (f->duplicate) {
		if (e->type == SSLC_EVENT_CLOSE)
			flow_free(m, f);
		return 0;
	}
	f->last_ns = wall;
	if (f->cut) {
		if (e->type == SSLC_EVENT_DATA)
			m->loop_bytes_dropped += e->data_len;
		else if (e->type == SSLC_EVENT_CLOSE) {
			if (m->hooks.cut)
				m->hooks.cut(m->hooks.ctx, f->conn_id, false);
			flow_free(m, f);
		}
		return 0;
	}
	if (e->type == SSLC_EVENT_DATA && m->guard &&
	    loopguard_check(m->guard, &f->guard[e->dir & 1], e->data, e->data_len)) {
		m->loop_bytes_dropped += e->data_len;
		cut_flow(m, f, e, wall);
		return 0;
	}
	switch (e->type) {
	case SSLC_EVENT_DATA:
		from_client = (e->dir == SSLC_DIR_SEND) == f->local_is_client;
		if ((ret = flow_ensure_open(m, f, wall)))
			return ret;
		/* a read: the receiver (the local end) has the data now and acknowledges it */
		ret = e->dir == SSLC_DIR_RECV
			  ? forge_flow_data_read(f->ff, from_client, e->data, e->data_len, wall)
			  : forge_flow_data(f->ff, from_client, e->data, e->data_len, wall);
		break;
	case SSLC_EVENT_GAP:
		from_client = (e->dir == SSLC_DIR_SEND) == f->local_is_client;
		if ((ret = flow_ensure_open(m, f, wall)))
			return ret;
		ret = forge_flow_gap(f->ff, from_client, e->len, wall);
		break;
	case SSLC_EVENT_CLOSE:
		for (int dir = 0; dir < 2; dir++) {
			if (!e->gap[dir])
				continue;
			from_client = (dir == SSLC_DIR_SEND) == f->local_is_client;
			if (flow_ensure_open(m, f, wall) == 0)
				forge_flow_gap(f->ff, from_client, e->gap[dir], wall);
		}
		if (f->ff)
			ret = forge_flow_close(f->ff, f->local_is_client,
					       e->flags & SSLC_F_CLOSE_RESET, wall);
		remember_ended(m, f, wall);
		flow_free(m, f);
		return ret;
	}
	if (ret)
		log_forge_error(m, f, "cannot forge frames", ret, wall);
	return ret;
}

void mirror_tick(struct mirror *m, uint64_t wall)
{
	check_tunnel_session(m, wall);
	localpair_expire(&m->ended, wall);
	/* idle connections: close them; new data reopens them with a fresh handshake */
	for (size_t i = 0; i < m->flows.cap; i++) {
		struct flow *f;

		if (!u64map_live(&m->flows, i))
			continue;
		f = m->flows.vals[i];
		if (!f->ff)
			continue;
		if (wall < f->last_ns || wall - f->last_ns < m->idle_ns) {
			/* data that waited for a piggyback that did not come */
			if (wall >= f->last_ns + DELACK_SLACK_NS &&
			    forge_flow_timer(f->ff, wall - DELACK_SLACK_NS) < 0)
				m->emit_errors++;
			continue;
		}
		forge_flow_close(f->ff, f->local_is_client, false, wall);
		forge_flow_free(f->ff);
		f->ff = NULL;
		m->reopened_idle++;
	}
}

/* A failing output is logged once (at most once per 10 s), and when it works again; -w's
 * rotation, when it completes a file or fails to. */
static void report_output(struct mirror *m, size_t i)
{
	struct timespec ts;
	char msg[PATH_MAX + 600];
	int ret = output_rotation_news(m->outs[i], msg, sizeof(msg));

	if (!ret) {
		if (output_failing(m->outs[i]) == m->out_report[i].reported)
			return; /* nothing new: the common case, without a clock read */
		clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
		ret = output_report(m->outs[i], &m->out_report[i],
				    (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec,
				    10000000000ULL, msg, sizeof(msg));
	}
	if (ret > 0)
		log_warn("%s", msg);
	else if (ret < 0)
		log_info("%s", msg);
}

void mirror_flush(struct mirror *m)
{
	for (size_t i = 0; i < m->n_outs; i++) {
		int ret = output_flush(m->outs[i]);

		if (ret < 0)
			m->emit_errors++;
		report_output(m, i);
	}
}

void mirror_reopen(struct mirror *m)
{
	bool any = false;

	for (size_t i = 0; m && i < m->n_outs; i++) {
		char msg[400];
		int ret = output_reopen(m->outs[i], msg, sizeof(msg));

		if (ret == -ENOTSUP)
			continue;
		any = true;
		if (ret < 0)
			log_warn("SIGHUP: %s", msg);
		else
			log_info("SIGHUP: %s", msg);
	}
	if (!any)
		log_info("SIGHUP: no -w file to start again");
}

bool mirror_holds_payloads(const struct mirror *m)
{
	return m && m->hold;
}

void mirror_release(void *ctx)
{
	mirror_flush(ctx);
}

void mirror_set_addrs(struct mirror *m, const struct local_addrs *addrs)
{
	m->addrs = addrs;
}

static void tunnel_log(void *ctx, enum tunnel_log_level level, const char *msg)
{
	(void)ctx;
	log_msg((enum log_level)level, "tunnel: %s", msg);
}

/* The MTU forge cuts data at: --mtu; else -o's MTU; else, with -t, the largest IP packet (the
 * collector cuts the tunnel's frames to the MTU of its -o: one frame of up to 64 KiB instead
 * of 45 to queue, encrypt, decrypt and inject); else (-w alone) 1500. */
static unsigned choose_mtu(const struct sslc_options *o, char *err, size_t err_len, int *ret)
{
	int out_mtu = o->out_iface[0] ? outputs_iface_mtu(o->out_iface, err, err_len) : 0;

	*ret = 0;
	if (out_mtu < 0) {
		*ret = out_mtu;
		return 0;
	}
	if (o->mtu) {
		if (out_mtu > 0 && o->mtu > (unsigned)out_mtu) {
			snprintf(err, err_len,
				 "--mtu %u: larger than the MTU of -o %s (%d); its frames would be "
				 "dropped (raise the interface's MTU or lower --mtu)",
				 o->mtu, o->out_iface, out_mtu);
			*ret = -EINVAL;
			return 0;
		}
		return o->mtu;
	}
	if (out_mtu >= FORGE_MIN_MTU)
		return out_mtu > FORGE_MAX_MTU ? FORGE_MAX_MTU : (unsigned)out_mtu;
	return o->tunnel ? FORGE_MAX_MTU : FORGE_DEFAULT_MTU;
}

int mirror_open(const struct sslc_options *o, const struct mirror_hooks *hooks, struct mirror **out,
		char *err, size_t err_len)
{
	struct forge_config fc = {.vlan = o->vlan, .acks = FORGE_ACKS_RECEIVER};
	struct mirror *m;
	int ret;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->o = o;
	if (hooks)
		m->hooks = *hooks;
	m->idle_ns = (uint64_t)o->idle_timeout_s * 1000000000ULL;
	ret = loopguard_new(&m->guard);
	if (ret) {
		snprintf(err, err_len, "cannot set up the loop guard: %s", strerror(-ret));
		goto fail;
	}
	fc.mtu = choose_mtu(o, err, err_len, &ret);
	if (ret)
		goto fail;
	struct outputs_config oc = {
	    .iface = o->out_iface,
	    .force_iface = o->force_output,
	    .pcap_path = o->pcap_path,
	    .rotation = {o->rotate_bytes, o->rotate_interval_s, o->rotate_keep,
			 o->rotate_keep_bytes, 0},
	};
	struct outputs set;

	ret = outputs_open(&oc, &set, err, err_len);
	if (ret)
		goto fail;
	if (set.packet_one_by_one)
		log_info(OUTPUT_PACKET_ADVICE, o->out_iface, o->out_iface);
	for (size_t i = 0; i < set.n; i++)
		m->outs[m->n_outs++] = set.all[i];
	if (o->tunnel) {
		struct tunnel_client_config tc = {
		    .host = o->tunnel_host,
		    .port = o->tunnel_port,
		    .tls = {o->ca_path, o->cert_path, o->key_path},
		    .queue_bytes = o->queue_bytes,
		    .log = tunnel_log,
		    .on_socket = m->hooks.own_socket,
		    .socket_ctx = m->hooks.ctx,
		};
		char terr[512] = "";

		ret = tunnel_client_start(&tc, &m->tunnel, terr, sizeof(terr));
		if (ret) {
			snprintf(err, err_len, "-t %s: %s", o->tunnel_host, terr);
			goto fail;
		}
	}
	/* -o alone: forge leaves the TCP checksums to the sink, which completes those of frames
	 * sent by themselves (the kernel sums the runs it cuts anyway). Without -w, forge hands
	 * over each frame's payload where it is (-o and -t copy it once, into their batch or
	 * queue); the pcap sink takes whole frames. */
	if (m->n_outs == 1 && !o->pcap_path && !o->tunnel &&
	    output_packet_complete_csum(m->outs[0]) == 0)
		fc.tcp_csum_partial = true;
	if (!o->pcap_path) {
		fc.emit_parts = emit_parts;
		/* -o sends each payload from its ring buffer record: mirror_release() */
		m->hold = true;
		for (size_t i = 0; i < m->n_outs; i++)
			if (output_packet_hold_payloads(m->outs[i]) < 0)
				m->hold = false;
		m->hold = m->hold && m->n_outs > 0;
	}
	ret = forge_new(&fc, emit, m, &m->forge);
	if (ret) {
		snprintf(err, err_len, "cannot set up packet forging: %s", strerror(-ret));
		goto fail;
	}
	log_debug("forging with MTU %u (MSS %u for IPv4)", fc.mtu, forge_mss(m->forge, AF_INET));
	*out = m;
	return 0;
fail:
	mirror_close(m);
	return ret;
}

void mirror_end(struct mirror *m)
{
	struct timespec ts;
	uint64_t now;

	if (!m)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	/* end every open connection properly so the IDS finishes its records */
	for (size_t i = 0; i < m->flows.cap; i++) {
		struct flow *f;

		if (!u64map_live(&m->flows, i))
			continue;
		f = m->flows.vals[i];
		if (f->ff)
			forge_flow_close(f->ff, f->local_is_client, false, now);
		forge_flow_free(f->ff);
		free(f->cut_desc);
		free(f);
	}
	u64map_free(&m->flows); /* empty again */
	u64map_free(&m->by_key);
	for (size_t i = 0; i < m->n_outs; i++)
		if (output_sync(m->outs[i]) < 0)
			m->emit_errors++;
}

void mirror_close(struct mirror *m)
{
	if (!m)
		return;
	mirror_end(m); /* nothing left to do if the caller ended it already */
	localpair_free(&m->ended);
	for (size_t i = 0; i < m->n_outs; i++)
		output_close(m->outs[i]);
	tunnel_client_stop(m->tunnel, 2000);
	forge_free(m->forge);
	loopguard_free(m->guard);
	free(m);
}
