#!/usr/bin/env bash
# Issue 21: the collector survives its peers. In a network namespace of its own: a collector
# on 127.0.0.1 with -o into a veth pair, --crl, and tunnel_peer as good and bad peers.
#  * a valid agent connects; a CA-signed certificate without clientAuth (the collector's own)
#    is refused; an agent revoked with make-certs.sh --revoke is refused once SIGHUP reloads
#    --crl, and its live session is closed then;
#  * 2,000 unauthenticated sockets held (and reopened when closed) from 127.0.0.2: a valid
#    agent connects within 3 s (about 100 ms; 1 s more when the churn's full backlog drops
#    its SYN), five times in a row;
#  * a flood of 1-byte TLS records, then a flood of KeyUpdates, from an authenticated agent:
#    a probe agent's frames arrive (and the KeyUpdate flooder is dropped), median latency
#    below 50 ms, p99 below 150 ms, and a bulk agent keeps 80 % of the throughput it had alone;
# No real agent runs here: its probes on libssl would trap in the collector's and the peers'
# every TLS read (about a third of the collector's CPU during the tiny flood), a cost of the
# test bench and not of the collector. --agent-idle-timeout is tested in
# test_collector_admission.sh.
# Usage: test_collector_load.sh SSLCOLLECTOR TUNNEL_PEER MAKE_CERTS
set -euo pipefail
SSLC=$1 PEER=$2 MKCERTS=$3
tmp=$(mktemp -d /tmp/sslc-load-XXXXXX)
chmod 755 "$tmp"
ns=sslc-load-$$
fail() { echo "[collector-load] FAIL: $*" >&2; echo "--- collector log:" >&2; tail -30 "$tmp/c.log" >&2 || true; exit 1; }
cleanup() { pkill -f -- "-l 127.0.0.1:5713" 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
trap "exit 1" INT TERM # so that a killed run cleans up too
log() { echo "[collector-load] $*"; }
# shellcheck source=../e2e/lib/prom.sh
source "$(dirname "$0")/../e2e/lib/prom.sh"
metric() { prom_value "$tmp/st/c.prom" "$1"; }

pki=$tmp/pki
"$MKCERTS" -d "$pki" -c 127.0.0.1 -a good -a flood -a victim -a victim2 >/dev/null
"$MKCERTS" -d "$pki" --crl >/dev/null
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add m0 mtu 65535 type veth peer name m1 mtu 65535
ip -n "$ns" link set m0 up
ip -n "$ns" link set m1 up
mkdir -m 1777 "$tmp/st"
ip netns exec "$ns" "$SSLC" -C -l 127.0.0.1:5713 -o m0 --ca "$pki/ca.crt" \
	--cert "$pki/collector.crt" --key "$pki/collector.key" --crl "$pki/crl.pem" \
	--stats-file "$tmp/st/c.prom" --stats-interval 1 >"$tmp/c.log" 2>&1 &
cpid=$!
for _ in $(seq 100); do grep -q "listening on" "$tmp/c.log" && break; sleep 0.1; done
grep -q "listening on" "$tmp/c.log" || fail "collector did not start"
peer() { # NAME MODE...: tunnel_peer as agent NAME (at niceness $NICE if set)
	local n=$1; shift
	nice -n "${NICE:-0}" ip netns exec "$ns" "$PEER" --connect 127.0.0.1:5713 --ca "$pki/ca.crt" \
		--cert "$pki/agents/$n/agent.crt" --key "$pki/agents/$n/agent.key" "$@"
}

# --- who may connect --------------------------------------------------------------------
out=$(peer good connect) || fail "a valid agent was refused: $out"
log "valid agent: $out"
out=$(ip netns exec "$ns" "$PEER" --connect 127.0.0.1:5713 --ca "$pki/ca.crt" \
	--cert "$pki/collector.crt" --key "$pki/collector.key" connect) &&
	fail "a certificate without clientAuth was accepted"
log "certificate without clientAuth: $out"
peer victim --seconds 30 idle >"$tmp/victim.out" &
victimpid=$!
for _ in $(seq 50); do grep -q "agent CN=victim .* connected" "$tmp/c.log" && break; sleep 0.1; done
grep -q "agent CN=victim .* connected" "$tmp/c.log" || fail "the victim's session did not come up"
"$MKCERTS" -d "$pki" --revoke victim >/dev/null
kill -HUP "$cpid"
for _ in $(seq 50); do grep -q "SIGHUP: " "$tmp/c.log" && break; sleep 0.1; done
grep -q "SIGHUP: " "$tmp/c.log" || fail "SIGHUP did not reread --crl"
out=$(peer victim connect) && fail "a revoked certificate was accepted after SIGHUP"
[[ $out == *revoked* ]] || fail "revoked agent refused for another reason: $out"
log "revoked agent: $out"
wait "$victimpid" || true
grep -q "^closed" "$tmp/victim.out" || fail "the revoked agent's live session stayed open: $(cat "$tmp/victim.out")"

# --- unauthenticated sockets ----------------------------------------------------------------
ip netns exec "$ns" bash -c "ulimit -n 8192; exec '$PEER' --connect 127.0.0.1:5713 --bind 127.0.0.2 --seconds 10 hold 2000" >"$tmp/hold.out" 2>&1 &
holdpid=$!
# the hold in full swing: its address's 16 handshake slots full, a thousand sockets refused
for _ in $(seq 100); do
	(($(prom_sum "$tmp/st/c.prom" sslcollector_collector_connections_refused_total) >= 1000)) && break
	sleep 0.1
done
(($(prom_sum "$tmp/st/c.prom" sslcollector_collector_connections_refused_total) >= 1000)) ||
	fail "the holder's sockets were not refused: $(grep refused "$tmp/st/c.prom")"
for i in 1 2 3 4 5; do
	out=$(peer good connect) || fail "valid agent refused during the hold: $out"
	ms=${out#accepted }
	# normally about 100 ms; the holder's churn (about 20,000 reconnections a second) can
	# overflow the listen backlog, and a dropped SYN is sent again after 1 s
	awk -v m="$ms" 'BEGIN { exit !(m < 3000) }' || fail "valid agent took $ms ms during the hold"
	log "during 2000 held sockets, connect $i: $out"
done
wait "$holdpid"
log "holder: $(cat "$tmp/hold.out"); collector memory: $(awk '/VmHWM|VmRSS/ { printf "%s %s kB ", $1, $2 }' "/proc/$cpid/status")"
grep -q "^held 2000" "$tmp/hold.out" || fail "the holder did not hold its sockets: $(cat "$tmp/hold.out")"

# --- floods from an authenticated agent -----------------------------------------------------
# a bulk agent streams 64 KiB frames (about 20 MB/s) beside the latency probe: first alone,
# then during each flood, when it must keep 80 % of what it had alone
mbs() { sed 's/.*"mb_per_s": \([0-9.]*\).*/\1/' "$1"; }
peer victim2 --seconds 4 probe m1 300 65000 >"$tmp/bulk-alone.out" || fail "bulk probe alone"
alone=$(mbs "$tmp/bulk-alone.out")
log "bulk agent alone: $(cat "$tmp/bulk-alone.out")"
for flood in tiny keyupdate; do
	# niced: a flooder is another host, its CPU is not the collector's or the probes'
	NICE=19 peer flood --seconds 7 "$flood" >"$tmp/$flood.out" &
	fpid=$!
	sleep 1 # the flood in full swing before the probes start
	peer victim2 --seconds 4 probe m1 300 65000 >"$tmp/bulk-$flood.out" &
	bpid=$!
	res=$(peer good --seconds 4 probe m1 200 1000)
	wait "$bpid" || fail "bulk probe during the $flood flood"
	wait "$fpid" || true
	log "probe during the $flood flood ($(cat "$tmp/$flood.out")): $res"
	bulk=$(mbs "$tmp/bulk-$flood.out")
	log "bulk agent during the $flood flood: $(cat "$tmp/bulk-$flood.out")"
	awk -v b="$bulk" -v a="$alone" 'BEGIN { exit !(b >= 0.8 * a) }' ||
		fail "$flood flood: the bulk agent's throughput fell from $alone to $bulk MB/s"
	sent=$(sed 's/.*"sent": \([0-9]*\).*/\1/' <<<"$res")
	recv=$(sed 's/.*"received": \([0-9]*\).*/\1/' <<<"$res")
	p50=$(sed 's/.*"p50_ms": \([0-9.]*\).*/\1/' <<<"$res")
	p99=$(sed 's/.*"p99_ms": \([0-9.]*\).*/\1/' <<<"$res")
	((recv * 10 >= sent * 8)) || fail "$flood flood: the probe's frames $recv of $sent arrived"
	awk -v m="$p50" 'BEGIN { exit !(m < 50) }' || fail "$flood flood: median latency $p50 ms"
	# without the record and time budgets a turn of 1-byte records lasts up to 1 MiB of them:
	# p99 344 ms in the sabotage run (Release), 13 ms with them in Release and 39-46 ms in
	# the ASan build the suite runs, so the p99 bound leaves room for a noisy machine
	awk -v m="$p99" 'BEGIN { exit !(m < 100) }' || fail "$flood flood: p99 latency $p99 ms"
done

kuf=$(prom_value "$tmp/st/c.prom" sslcollector_collector_disconnections_total 'reason="key_update_flood"')
((kuf >= 1)) || fail "the KeyUpdate flood was not dropped (key_update_flood disconnections: $kuf)"
log "KeyUpdate floods dropped: $kuf"

kill "$cpid"
wait "$cpid" || fail "collector exit status $?"
log "PASS"
