/* Who may be an agent, and stay one: revocation lists (--crl, and any inside --ca), the
 * allowlist (--allow), both read again on SIGHUP with every session checked against them;
 * at most --max-sessions-per-agent sessions per subject (the oldest gives way, so an agent
 * whose old session hangs half-open reconnects at once); a subject live with two different
 * certificates is logged; sessions that send nothing for --agent-idle-timeout are closed
 * (agents send a TLS KeyUpdate every 15 s when they have nothing else to send). */
#include "collector_impl.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool check_peer(void *ctx, const char *subject, const uint8_t sha256[32], char *why,
		       size_t why_len)
{
	struct collector *c = ctx;

	if (allowlist_allows(&c->allow, subject, sha256))
		return true;
	snprintf(why, why_len, "neither its subject nor its fingerprint is in --allow %s",
		 c->opts->allow_path);
	return false;
}

static int load_lists(struct collector *c, bool at_start, char *err, size_t err_len)
{
	const struct sslc_options *o = c->opts;
	struct allowlist fresh = {0};
	unsigned n_crls = 0;
	int ret;

	if (o->allow_path && (ret = allowlist_load(&fresh, o->allow_path, err, err_len)))
		return ret;
	ret = tunnel_server_load_crls(c->srv, o->ca_path, o->crl_path, &n_crls, err, err_len);
	if (ret) {
		allowlist_free(&fresh);
		return ret;
	}
	if (o->allow_path) {
		allowlist_free(&c->allow);
		c->allow = fresh;
		tunnel_server_set_peer_check(c->srv, check_peer, c);
		if (!allowlist_size(&c->allow))
			log_warn("--allow %s: empty: no agent is accepted", o->allow_path);
	}
	if (n_crls || o->allow_path)
		log_info("%s%u revocation list%s%s%s, %zu allowlist entr%s",
			 at_start ? "" : "SIGHUP: ", n_crls, n_crls == 1 ? "" : "s",
			 o->crl_path ? " (--crl " : "", o->crl_path ? o->crl_path : "",
			 allowlist_size(&c->allow), allowlist_size(&c->allow) == 1 ? "y" : "ies");
	return 0;
}

int authz_setup(struct collector *c, char *err, size_t err_len)
{
	return load_lists(c, true, err, err_len);
}

void authz_reload(struct collector *c)
{
	char err[512];
	unsigned dropped = 0;

	if (!c->opts->crl_path && !c->opts->allow_path)
		return;
	c->st.reloads++;
	if (load_lists(c, false, err, sizeof(err))) {
		c->st.reload_failures++;
		log_error("SIGHUP: %s; the lists in force are kept", err);
		return;
	}
	for (struct peer *a = c->peers; a; a = a->next) {
		if (a->state != PEER_ESTABLISHED || tunnel_conn_recheck(a->conn) == 0)
			continue;
		log_warn("agent %s %s: disconnected: %s", a->subj->subject, a->addr,
			 tunnel_conn_error(a->conn));
		peer_close(c, a, DISC_UNAUTHORISED);
		dropped++;
	}
	if (dropped)
		log_info("SIGHUP: %u session%s closed as no longer authorised", dropped,
			 dropped == 1 ? "" : "s");
}

static void hex(const uint8_t fp[32], char out[20])
{
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", fp[i]);
}

void authz_established(struct collector *c, struct peer *a)
{
	struct peer *oldest = NULL;
	unsigned live = 0;
	bool conflict = false;
	char mine[20], theirs[20];

	tunnel_conn_fingerprint(a->conn, a->fp);
	for (struct peer *b = c->peers; b; b = b->next) {
		if (b == a || b->state != PEER_ESTABLISHED || b->subj != a->subj)
			continue;
		live++;
		if (!oldest || b->since_ms < oldest->since_ms)
			oldest = b;
		if (!conflict && memcmp(b->fp, a->fp, 32)) {
			conflict = true;
			c->st.certificate_conflicts++;
			hex(a->fp, mine);
			hex(b->fp, theirs);
			log_warn(
			    "agent %s %s: connected with certificate sha256:%s... while %s holds "
			    "a session with another certificate of that subject "
			    "(sha256:%s...): two hosts share a name, or a key was stolen; "
			    "they share its counters and VLAN",
			    a->subj->subject, a->addr, mine, b->addr, theirs);
		}
	}
	if (live >= c->opts->max_sessions_per_agent && oldest) {
		log_warn("agent %s %s: session closed for a newer one from %s "
			 "(--max-sessions-per-agent %u)",
			 oldest->subj->subject, oldest->addr, a->addr,
			 c->opts->max_sessions_per_agent);
		peer_close(c, oldest, DISC_REPLACED);
	}
}

void authz_check_idle(struct collector *c, uint64_t now_ms)
{
	uint64_t limit = c->opts->agent_idle_timeout_s * 1000ULL;

	for (struct peer *a = c->peers; a; a = a->next) {
		uint64_t in;

		if (a->state != PEER_ESTABLISHED)
			continue;
		a->key_updates = tunnel_conn_key_updates(a->conn); /* a new window */
		in = tunnel_conn_bytes_in(a->conn);
		if (in != a->bytes_in) {
			a->bytes_in = in;
			a->active_ms = now_ms;
		} else if (limit && now_ms - a->active_ms >= limit) {
			log_warn("agent %s %s: disconnected: nothing received for %u s "
				 "(--agent-idle-timeout; agents send a keepalive every 15 s)",
				 a->subj->subject, a->addr, c->opts->agent_idle_timeout_s);
			peer_close(c, a, DISC_IDLE);
		}
	}
}
