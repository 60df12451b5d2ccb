#!/usr/bin/env bash
# Issue 19, item 4: SSL calls in progress when the agent attaches its probes. A blocking server
# idle on keep-alive connections sits in SSL_read (blocked in the read() of OpenSSL's socket BIO)
# when the probes are attached; that call's return probe never fires, so the next request is
# not captured while its answer is. It must show as what it is: a gap of the client's direction,
# of the request's exact length, before the answer; counted, logged once per process; and
# everything after it byte-exact.
#
#   ns client                              ns server
#  +---------------------------------+      +------------------------------------------------+
#  | keepalive.py client (TLS 1.3)   |      | keepalive.py server :8450 (TLS 1.3)             |
#  |   3 connections + 1 idle        |=veth=|   http.server, a blocking thread per connection |
#  | keepalive.py client (TLS 1.2    |      | keepalive.py server --tls12 :8451               |
#  |   AES-GCM, then ChaCha20)       |      |   (AES-128-GCM or ChaCha20-Poly1305)            |
#  |                                 |      | sslcollector -I s-ID --dump-dir D -w P, started |
#  |                                 |      |   while every server thread is in SSL_read      |
#  +---------------------------------+      +------------------------------------------------+
#
# Order: the clients connect and make one request on each connection (the agent does not exist
# yet), every server thread goes back to SSL_read and blocks in read(); then the agent starts;
# then each client makes three more requests per connection (the first of them is read by the
# SSL_read in progress) and closes; the idle connection is closed without a byte.
#
# Asserts, against what the clients sent and received after the agent started:
#  * each connection is captured with exactly one gap, client->server at offset 0 of the
#    length of the request read by the call in progress (TLS 1.3 and TLS 1.2 AES-GCM and
#    ChaCha20: the length is exact), the rest of both directions byte-exact (--dump-dir), and
#    in the pcap (-w) the hole is there, acknowledged by the answer, the rest byte-exact;
#  * the idle connection that its client closed without sending anything is not in the
#    capture at all (no gap, no false report) and nothing is counted as unattributed;
#  * the metrics count five exact in-flight gaps and their bytes; one log line per process;
#  * (with SSLC_E2E_AGENT_ARGS=--syscall-hook the calls in progress cannot be followed: the
#    agent only warns how many threads were in a socket operation, and this test fails.)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/e2e.sh
source "$here/lib/e2e.sh"

e2e_setup
keepalive=("$E2E_PY" "$E2E_LIB/keepalive.py")
pki=(--cert "$E2E_PKI_DIR/server.pem" --key "$E2E_PKI_DIR/server.key")
e2e_bg ka13 server "$E2E_TMP/ka13.log" "${keepalive[@]}" server "${pki[@]}" "$E2E_SERVER4" 8450
e2e_bg ka12 server "$E2E_TMP/ka12.log" "${keepalive[@]}" server --tls12 "${pki[@]}" \
	"$E2E_SERVER4" 8451
e2e_wait_listen server 8450
e2e_wait_listen server 8451

go=$E2E_TMP/go
client() { # NAME PORT ARGS...: a keepalive client in ns client, waiting for $go
	local name=$1 port=$2
	shift 2
	e2e_bg "$name" client "$E2E_TMP/$name.log" "${keepalive[@]}" client \
		--out "$E2E_TMP/$name-gt.json" --ready "$E2E_TMP/$name.ready" --go "$go" \
		--cafile "$E2E_PKI_DIR/ca.pem" "$@" "$E2E_SERVER4" "$port"
}
client c13 8450 --count 3 --idle 1
client c12gcm 8451 --cipher ECDHE-ECDSA-AES128-GCM-SHA256 --first 10
client c12chacha 8451 --cipher ECDHE-ECDSA-CHACHA20-POLY1305 --first 20
for c in c13 c12gcm c12chacha; do
	e2e_wait_until 30 "client $c's first requests" test -e "$E2E_TMP/$c.ready"
done

# The precondition: every connection's server thread is blocked in read() (syscall 0), inside
# SSL_read_ex: 4 threads of the TLS 1.3 server, 2 of the TLS 1.2 one.
blocked_in_read() { # PID N: N threads of PID are in read(2)
	local n=0 t
	for t in /proc/"$1"/task/*/syscall; do
		[[ $(cut -d' ' -f1 "$t" 2>/dev/null) == 0 ]] && n=$((n + 1))
	done
	((n == $2))
}
pid13=${E2E_PIDS[ka13]} pid12=${E2E_PIDS[ka12]}
e2e_wait_until 30 "4 threads of the TLS 1.3 server in read()" blocked_in_read "$pid13" 4
e2e_wait_until 30 "2 threads of the TLS 1.2 server in read()" blocked_in_read "$pid12" 2

dump=$E2E_TMP/dump pcap=$E2E_TMP/mirror.pcap stats=$E2E_TMP/agent.prom
# shellcheck disable=SC2086 # word splitting wanted
e2e_bg agent server "$E2E_TMP/agent.log" "$SSLC_BIN" -I "$E2E_IF_SERVER" --dump-dir "$dump" \
	-w "$pcap" --stats-file "$stats" --stats-interval 1 --print ${SSLC_E2E_AGENT_ARGS:-}
e2e_wait_file_match "$E2E_TMP/agent.log" "mirroring TLS on"

touch "$go"
for c in c13 c12gcm c12chacha; do
	e2e_wait_until 60 "client $c to finish" test -s "$E2E_TMP/$c-gt.json"
done
# the servers' threads see the ends (and the idle connection's FIN) and close
e2e_wait_until 30 "the server threads to end" blocked_in_read "$pid13" 0
e2e_wait_until 30 "the server threads to end" blocked_in_read "$pid12" 0
e2e_stop agent TERM 30 || e2e_fail "sslcollector did not exit cleanly (status $?)"

gt=$E2E_TMP/gt.json
e2e_py groundtruth merge "$gt" "$E2E_TMP"/c13-gt.json "$E2E_TMP"/c12gcm-gt.json \
	"$E2E_TMP"/c12chacha-gt.json
jq -r '.connections[] | "\(.id) \(.tls): \(.sent_len)/\(.received_len) bytes, gap \(.gaps_c2s)"' \
	"$gt" | while read -r line; do e2e_log "ground truth: $line"; done

metric() { prom_value "$stats" "$1" "${2:-}"; } # NAME [LABELS]: in the final stats file
request_bytes=$(jq '[.connections[].gaps_c2s[0][1]] | add' "$gt")

for c in c13 c12gcm c12chacha; do
	e2e_check "$c: the request read by the SSL_read in progress is a gap of its exact length" \
		e2e_py dumptool check --exact-gaps "$dump" "$E2E_TMP/$c-gt.json"
done
idle_port=$(jq '.absent[0].client[1]' "$E2E_TMP/c13-gt.json")
e2e_check "the idle connection closed by its client is not in the capture (no gap)" \
	bash -c "! grep -l '\"remote\": \"$E2E_CLIENT4:$idle_port\"' '$dump'/conn-*.json"
e2e_check "the pcap: the holes and nothing else, acknowledged by the answers, rest exact" \
	e2e_py pcaptool check "$pcap" --gt "$gt" --expect-gaps
e2e_check "five in-flight gaps counted, all of exact length" \
	test "$(metric sslcollector_agent_inflight_gaps_total 'length="exact"')" = 5
e2e_check "... none estimated" \
	test "$(metric sslcollector_agent_inflight_gaps_total 'length="estimated"')" = 0
e2e_check "... their bytes are the lost bytes of reason in_flight ($request_bytes)" \
	test "$(metric sslcollector_agent_lost_bytes_total 'reason="in_flight"')" = "$request_bytes"
e2e_check "nothing counted as unattributed (in flight or not)" \
	test "$(metric sslcollector_agent_inflight_unattributed_bytes_total)$(metric \
		sslcollector_agent_unattributed_bytes_total)" = 00
e2e_check "the agent found the 6 threads in a read at attach" \
	grep -q "6 threads of 2 processes were in a socket read or write" "$E2E_TMP/agent.log"
for pid in "$pid13" "$pid12"; do
	e2e_check "one log line for process $pid" \
		test "$(grep -c "process $pid ([^)]*): a TLS read in progress" "$E2E_TMP/agent.log")" = 1
done
e2e_check "the gaps show in --print as in-flight, exact" \
	test "$(grep -c "gap recv [0-9]* bytes not captured (a call in progress at attach, exact)" \
		"$E2E_TMP/agent.log")" = 5
e2e_checks_done
