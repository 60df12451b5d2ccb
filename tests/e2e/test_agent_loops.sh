#!/usr/bin/env bash
# Issue 20: the mirror never feeds itself, and no name hides a process from it. Everything runs
# in ns server (the agent's host); one page of nginx's is fetched once from ns client in each
# phase, and the agent runs 8 s after it: a loop would capture megabytes per second.
#
#  A  socat relays the tunnel (OPENSSL-LISTEN, the collector's certificate) into a file: the
#     agent keeps its tunnel connection out of the mirror by its addresses (both ends), so
#     the relay's reads are never captured;
#  B  70 processes named sslcollector, then the agent, then the collector under another name
#     (sslcd) started after it: excluded the same way; the impostors change nothing, and a
#     curl named sslcollector is mirrored like any other client;
#  C  -w - piped into a TLS upload (socat to a socat sink): the loop guard finds the agent's
#     own frames in the upload and cuts that connection.
# Each phase checks the agent's metrics (captured bytes, excluded sessions, loops cut), the
# size of what the receiver got, that the page is in it exactly once, and --list (what a
# running agent keeps out of its mirror).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/e2e.sh
source "$here/lib/e2e.sh"
top=$(cd "$here/../.." && pwd)

e2e_require_cmds socat
e2e_setup
SSLC_BIN=$(e2e_sslcollector_bin) || e2e_fail "no sslcollector binary: build it first"
export SSLC_BIN

tpki=$E2E_TMP/tunnel-pki
"$top/scripts/make-certs.sh" -d "$tpki" -c "$E2E_SERVER4" -a host-a >"$E2E_TMP/make-certs.log" 2>&1 ||
	e2e_fail "scripts/make-certs.sh failed: $(tail -1 "$E2E_TMP/make-certs.log")"
agent_tls=(--ca "$tpki/agents/host-a/ca.crt" --cert "$tpki/agents/host-a/agent.crt"
	--key "$tpki/agents/host-a/agent.key")
e2e_nginx_start 443:tls
PAGE="A small page for the sslcollector end-to-end tests."
LIMIT=$((2 * 1024 * 1024)) # a loop would be gigabytes; the page and the handshakes are KiB

# metric NAME FILE: the value of an unlabelled sample (0 when absent).
metric() { prom_value "$2" "$1"; }

# start_agent NAME ARGS...: the agent in ns server, metrics every second into NAME.prom.
start_agent() {
	local name=$1
	shift
	e2e_bg "agent-$name" server "$E2E_TMP/agent-$name.log" "$SSLC_BIN" -I any \
		--stats-file "$E2E_TMP/$name.prom" --stats-interval 1 "$@"
	e2e_wait_file_match "$E2E_TMP/agent-$name.log" "mirroring TLS on" 30
}

fetch_once() {
	e2e_in client curl -sS --cacert "$E2E_PKI_DIR/ca.pem" -o /dev/null "https://$E2E_SERVER4/" ||
		e2e_fail "the page could not be fetched"
}

# bounded NAME RECEIVED_FILE: after the agent ran 8 s more, its capture and the receiver's
# file stayed small, and the page is in the file exactly once.
bounded() {
	local name=$1 file=$2 prom=$E2E_TMP/$1.prom captured size count
	sleep 8
	captured=$(metric sslcollector_agent_captured_bytes_total "$prom")
	size=$(stat -c %s "$file")
	count=$(grep -aoF "$PAGE" "$file" | wc -l)
	e2e_log "$name: captured $captured bytes, the receiver got $size bytes, the page $count times"
	e2e_check "$name: the agent captured at most $LIMIT bytes (got $captured)" \
		test "$captured" -le "$LIMIT"
	e2e_check "$name: the receiver got at most $LIMIT bytes (got $size)" test "$size" -le "$LIMIT"
	e2e_check "$name: the page is in what the receiver got exactly once (got $count)" \
		test "$count" -eq 1
}

stop_agent() {
	local rc=0
	e2e_stop "agent-$1" TERM 30 || rc=$?
	e2e_check "$1: the agent exits 0 (got $rc)" test "$rc" -eq 0
}

# --- A: socat relays the tunnel into a file -------------------------------------------------
e2e_log "phase A: socat OPENSSL-LISTEN relays the tunnel"
relay=$E2E_TMP/relay.out
: >"$relay"
e2e_bg relay server "$E2E_TMP/relay.log" socat -u \
	"OPENSSL-LISTEN:7001,bind=$E2E_SERVER4,reuseaddr,cert=$tpki/collector.crt,key=$tpki/collector.key,cafile=$tpki/ca.crt,verify=1" \
	"OPEN:$relay,append"
e2e_wait_listen server 7001
start_agent a -t "$E2E_SERVER4:7001" "${agent_tls[@]}"
e2e_wait_file_match "$E2E_TMP/agent-a.log" "tunnel to .*: connected" 30
fetch_once
bounded a "$relay"
e2e_check "A: the tunnel's connection was excluded (relay's session counted)" \
	test "$(metric sslcollector_agent_excluded_sessions_total "$E2E_TMP/a.prom")" -ge 1
e2e_in server "$SSLC_BIN" --list >"$E2E_TMP/list-a.txt" 2>&1 || true
e2e_check "A: --list shows the tunnel's connection kept out" \
	grep -qE "tunnel +.*-> $E2E_SERVER4:7001" "$E2E_TMP/list-a.txt"
stop_agent a
e2e_stop relay TERM 10 || true

# --- B: 70 impostors, the agent, then a renamed collector ------------------------------------
e2e_log "phase B: 70 processes named sslcollector; a collector named sslcd started after the agent"
imp=$E2E_TMP/impostors
mkdir -p "$imp"
cp /bin/sleep "$imp/sslcollector"
for i in $(seq 70); do
	e2e_bg "impostor$i" server /dev/null "$imp/sslcollector" 600
done
cp "$SSLC_BIN" "$imp/sslcd"
cpcap=$E2E_TMP/renamed.pcap
start_agent b -t "$E2E_SERVER4:7002" "${agent_tls[@]}" -w "$E2E_TMP/b-agent.pcap"
e2e_bg sslcd server "$E2E_TMP/sslcd.log" "$imp/sslcd" -C -l "$E2E_SERVER4:7002" -w "$cpcap" \
	--ca "$tpki/ca.crt" --cert "$tpki/collector.crt" --key "$tpki/collector.key"
e2e_wait_file_match "$E2E_TMP/agent-b.log" "tunnel to .*: connected" 60
fetch_once
# a client that names itself sslcollector is mirrored like any other
mkdir -p "$imp/curl"
cp "$(command -v curl)" "$imp/curl/sslcollector"
e2e_in server "$imp/curl/sslcollector" -sS --cacert "$E2E_PKI_DIR/ca.pem" -o /dev/null \
	"https://$E2E_SERVER4/impostor-request-b" || e2e_fail "the impostor client failed"
bounded b "$cpcap"
e2e_check "B: the tunnel's connection was excluded (the collector's session counted)" \
	test "$(metric sslcollector_agent_excluded_sessions_total "$E2E_TMP/b.prom")" -ge 1
stop_agent b
e2e_stop sslcd TERM 20 || true
for i in $(seq 70); do e2e_stop "impostor$i" KILL 5 || true; done
e2e_check "B: the request of a curl renamed sslcollector is in the agent's pcap" \
	grep -qaF "GET /impostor-request-b" "$E2E_TMP/b-agent.pcap"

# --- C: -w - into a TLS upload ----------------------------------------------------------------
e2e_log "phase C: -w - piped into socat's TLS upload"
sink=$E2E_TMP/sink.out
: >"$sink"
e2e_bg sink server "$E2E_TMP/sink.log" socat -u \
	"OPENSSL-LISTEN:7003,bind=$E2E_SERVER4,reuseaddr,cert=$tpki/collector.crt,key=$tpki/collector.key,verify=0" \
	"OPEN:$sink,append"
e2e_wait_listen server 7003
e2e_bg agent-c server "$E2E_TMP/agent-c.log" bash -c "exec '$SSLC_BIN' -I any -w - \
	--stats-file '$E2E_TMP/c.prom' --stats-interval 1 2>'$E2E_TMP/agent-c.err' |
	socat -u - 'OPENSSL:$E2E_SERVER4:7003,verify=0'"
e2e_register_log "agent-c stderr" "$E2E_TMP/agent-c.err"
e2e_wait_file_match "$E2E_TMP/agent-c.err" "mirroring TLS on" 30
fetch_once
bounded c "$sink"
e2e_check "C: the upload was cut as a loop" \
	test "$(metric sslcollector_agent_loops_cut_total "$E2E_TMP/c.prom")" -ge 1
e2e_check "C: the agent says which connection it cut" \
	grep -q "carries this agent's own output back to it" "$E2E_TMP/agent-c.err"
e2e_in server "$SSLC_BIN" --list >"$E2E_TMP/list-c.txt" 2>&1 || true
e2e_check "C: --list shows the connection cut" \
	grep -qE "loop +socat\[[0-9]+\] .*:7003" "$E2E_TMP/list-c.txt"
e2e_stop agent-c TERM 30 || true
e2e_stop sink TERM 10 || true

e2e_checks_done
