#!/usr/bin/env bash
# Issue 21: who the collector admits, and how it behaves out of descriptors. In a network
# namespace of its own: a collector on 127.0.0.1 with --allow, -w /dev/null, and tunnel_peer
# as its agents.
#  * --allow: a listed subject is accepted, an unlisted one refused; after the file changes
#    and SIGHUP, the newly listed agent is accepted and the live session of the one taken
#    off is closed (disconnections{reason="unauthorised"});
#  * --max-sessions-per-agent 2: a third session of one certificate closes its oldest
#    (disconnections{reason="replaced"}), the newest two stay;
#  * out of descriptors (the open-file limit lowered under the running collector with
#    prlimit as its own user, as when another process exhausts them): accepting pauses
#    (accept_pauses_total) instead of spinning, the collector's CPU stays low, and a valid
#    agent connects once the descriptors are back;
#  * --agent-idle-timeout 20: a session that sends nothing is closed, and a real agent, idle
#    all along but sending its keepalive every 15 s, keeps its one session past it.
# Usage: test_collector_admission.sh SSLCOLLECTOR TUNNEL_PEER MAKE_CERTS
set -euo pipefail
SSLC=$1 PEER=$2 MKCERTS=$3
tmp=$(mktemp -d /tmp/sslc-adm-XXXXXX)
chmod 755 "$tmp"
ns=sslc-adm-$$
fail() { echo "[collector-admission] FAIL: $*" >&2; echo "--- collector log:" >&2; tail -30 "$tmp/c.log" >&2 || true; exit 1; }
cleanup() {
	[[ -n ${cpid:-} ]] && kill "$cpid" 2>/dev/null
	ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap "exit 1" INT TERM # so that a killed run cleans up too
log() { echo "[collector-admission] $*"; }
# shellcheck source=../e2e/lib/prom.sh
source "$(dirname "$0")/../e2e/lib/prom.sh"
metric() { prom_value "$tmp/st/c.prom" "$1"; }
await_metric() { prom_await "$tmp/st/c.prom" "$1" "$2"; } # NAME MIN: within 5 s
# FILE PATTERN: wait up to 5 s for a line of a peer's output
await_line() {
	for _ in $(seq 50); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

pki=$tmp/pki
"$MKCERTS" -d "$pki" -c 127.0.0.1 -a web-1 -a web-2 -a web-3 -a quiet >/dev/null
printf '# agents allowed\nCN=web-1\nCN=web-3\nCN=quiet\n' >"$tmp/allow"
ip netns add "$ns"
ip -n "$ns" link set lo up
mkdir -m 1777 "$tmp/st"
ip netns exec "$ns" "$SSLC" -C -l 127.0.0.1:5714 -w /dev/null --ca "$pki/ca.crt" \
	--cert "$pki/collector.crt" --key "$pki/collector.key" --allow "$tmp/allow" \
	--max-sessions-per-agent 2 --agent-idle-timeout 20 --stats-file "$tmp/st/c.prom" --stats-interval 1 \
	>"$tmp/c.log" 2>&1 &
cpid=$!
for _ in $(seq 100); do grep -q "listening on" "$tmp/c.log" && break; sleep 0.1; done
grep -q "listening on" "$tmp/c.log" || fail "collector did not start"
peer() { # NAME ARGS...: tunnel_peer as agent NAME
	local n=$1; shift
	ip netns exec "$ns" "$PEER" --connect 127.0.0.1:5714 --ca "$pki/ca.crt" \
		--cert "$pki/agents/$n/agent.crt" --key "$pki/agents/$n/agent.key" "$@"
}

# a real agent, idle all along (its keepalives keep it past --agent-idle-timeout), and a
# session that says nothing
t0=$SECONDS
ip netns exec "$ns" "$SSLC" -I lo -t 127.0.0.1:5714 --ca "$pki/ca.crt" \
	--cert "$pki/agents/quiet/agent.crt" --key "$pki/agents/quiet/agent.key" \
	--stats-file "$tmp/st/a.prom" --stats-interval 1 >"$tmp/a.log" 2>&1 &
apid=$!
peer quiet --seconds 40 idle >"$tmp/idle.out" &
idlepid=$!

# --- --allow and SIGHUP ---------------------------------------------------------------------
out=$(peer web-1 connect) || fail "a listed agent was refused: $out"
log "listed agent: $out"
out=$(peer web-2 connect) && fail "an agent not in --allow was accepted"
log "unlisted agent: $out"
grep -q "not in --allow\|neither its subject" "$tmp/c.log" || fail "the refusal's reason is not logged"
peer web-3 --seconds 20 idle >"$tmp/web-3.out" &
await_line "$tmp/c.log" "agent CN=web-3 .* connected" || fail "web-3's session did not come up"
printf 'CN=web-1\nCN=web-2\nCN=quiet\n' >"$tmp/allow"
kill -HUP "$cpid"
await_line "$tmp/c.log" "3 allowlist entries" || fail "SIGHUP did not reread --allow"
out=$(peer web-2 connect) || fail "an agent added to --allow was refused after SIGHUP: $out"
log "agent added by SIGHUP: $out"
await_line "$tmp/web-3.out" "^closed" || fail "the live session of an agent taken off --allow stayed open"
await_metric 'sslcollector_collector_disconnections_total{reason="unauthorised"}' 1 ||
	fail "the closed session is not counted as unauthorised"
log "agent taken off --allow: $(cat "$tmp/web-3.out")"

# --- sessions per agent ---------------------------------------------------------------------
# one after the other: each session is up (its line in the collector's log) before the next
web1_up() { grep -c "agent CN=web-1 .* connected" "$tmp/c.log" || true; }
spids=()
before=$(web1_up)
for i in 1 2 3; do
	peer web-1 --seconds 6 idle >"$tmp/s$i.out" &
	spids+=($!)
	for _ in $(seq 50); do (($(web1_up) >= before + i)) && break; sleep 0.1; done
	(($(web1_up) >= before + i)) || fail "session $i of web-1 did not come up"
done
wait "${spids[@]}" || true
grep -q "^closed" "$tmp/s1.out" || fail "the oldest of three sessions stayed: $(cat "$tmp/s1.out")"
{ grep -q "^open" "$tmp/s2.out" && grep -q "^open" "$tmp/s3.out"; } ||
	fail "a newer session was closed: $(cat "$tmp/s2.out") / $(cat "$tmp/s3.out")"
rep=$(metric 'sslcollector_collector_disconnections_total{reason="replaced"}')
((${rep:-0} >= 1)) || fail "the replaced session is not counted"
log "three sessions of web-1 with --max-sessions-per-agent 2: oldest $(cat "$tmp/s1.out"), newer $(cat "$tmp/s2.out"), $(cat "$tmp/s3.out")"

# --- out of descriptors ---------------------------------------------------------------------
# as the collector's own user: root here may lack CAP_SYS_RESOURCE, and only the soft limit moves
as_collector() { setpriv --reuid="$(id -u sslcollector)" --regid="$(id -g sslcollector)" --clear-groups "$@"; }
hard=$(awk '/Max open files/ { print $5 }' "/proc/$cpid/limits")
as_collector prlimit --pid "$cpid" --nofile=48: || fail "could not lower the collector's open-file limit"
ip netns exec "$ns" bash -c "ulimit -n 4096; exec '$PEER' --connect 127.0.0.1:5714 --bind 127.0.0.2 --seconds 5 hold 300" >"$tmp/hold.out" 2>&1 &
holdpid=$!
await_metric sslcollector_collector_accept_pauses_total 1 || fail "accepting never paused"
ticks=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$cpid/stat"; }
c0=$(cpu)
sleep 2
c1=$(cpu)
pct=$(((c1 - c0) * 100 / ticks / 2))
await_metric sslcollector_collector_accept_pauses_total 1 || fail "accepting never paused"
log "out of descriptors: collector CPU ${pct} % over 2 s, accept pauses $(metric sslcollector_collector_accept_pauses_total)"
# without the pause the loop spins on EMFILE at about 100 %
((pct < 40)) || fail "the collector spun at $pct % out of descriptors"
wait "$holdpid" || true
as_collector prlimit --pid "$cpid" --nofile="$hard":
out=$(peer web-1 connect) || fail "a valid agent was refused once descriptors were back: $out"
log "after the shortage: $out"
# --- idle sessions --------------------------------------------------------------------------
wait "$idlepid" || true
grep -q "^closed" "$tmp/idle.out" || fail "a silent session was not closed: $(cat "$tmp/idle.out")"
log "silent session: $(cat "$tmp/idle.out") (--agent-idle-timeout 20)"
# the agent's session must live past the timeout plus a tick
while ((SECONDS - t0 < 23)); do sleep 0.5; done
kill -0 "$apid" || fail "the real agent exited: $(tail -5 "$tmp/a.log")"
conns=$(prom_value "$tmp/st/a.prom" sslcollector_tunnel_connections_total)
[[ $conns == 1 ]] || fail "the real, idle agent reconnected ($conns sessions): its keepalive did not keep it"
idle=$(metric 'sslcollector_collector_disconnections_total{reason="idle"}')
log "real agent kept its one session for $((SECONDS - t0)) s; idle disconnections: $idle"
kill "$apid" "$cpid"
wait "$cpid" || fail "collector exit status $?"
cpid=
log "PASS"
