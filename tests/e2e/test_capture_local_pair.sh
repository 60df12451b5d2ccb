#!/usr/bin/env bash
# Both ends of a TLS connection on the mirrored host (a client on the host calling its own
# server, as a local proxy or sidecar does): every connection must be mirrored exactly once,
# byte for byte, whichever end's events reach the agent first. That includes the case where
# one end's whole session (request, answer, close) is delivered before the other end's first
# event, because the client was descheduled between its write and the return from SSL_write.
#
#   ns server
#  +-----------------------------------------------------------------------------------------+
#  | tls_clients.py fetch, 4 rounds x 25 at once -> 10.x.0.2:443 (an address of s-ID)         |
#  | nginx :443 TLS                                                                          |
#  | sslcollector -I s-ID -w pair.pcap                                                       |
#  +-----------------------------------------------------------------------------------------+
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/e2e.sh
source "$here/lib/e2e.sh"

e2e_setup
e2e_nginx_start 443:tls
pcap=$E2E_TMP/pair.pcap stats=$E2E_TMP/agent.prom
e2e_bg agent server "$E2E_TMP/agent.log" "$SSLC_BIN" -I "$E2E_IF_SERVER" -w "$pcap" \
	--stats-file "$stats" --stats-interval 1
e2e_wait_file_match "$E2E_TMP/agent.log" "mirroring TLS on"

rounds=4
for ((r = 1; r <= rounds; r++)); do
	e2e_in server "$E2E_PY" "$E2E_LIB/tls_clients.py" fetch --out "$E2E_TMP/gt-$r.json" \
		--count 25 --cafile "$E2E_PKI_DIR/ca.pem" "$E2E_SERVER4" 443 / ||
		e2e_fail "round $r of the fetches failed"
done
prom_await_settled "$stats" || e2e_fail "connections still open in the mirror after 15 s"
e2e_stop agent TERM 30 || e2e_fail "sslcollector did not exit cleanly (status $?)"

# each round's connections, once each and complete (the others' are "not made by the
# workload" for that round's ground truth, so the file is split by round first)
e2e_py pcaptool streams "$pcap" > "$E2E_TMP/streams.txt"
connections=$(grep -c -- '->' "$E2E_TMP/streams.txt" || true)
metric() {
	awk -v n="$1" '$1 == n { print $2 }' "$stats"
}
e2e_check "$((rounds * 25)) TCP connections in the capture, not more (got $connections)" \
	test "$connections" -eq $((rounds * 25))
e2e_check "every connection seen from both ends, mirrored from one" \
	test "$(metric sslcollector_agent_flows_duplicate_total)" -eq $((rounds * 25))
all_rounds() {
	e2e_py groundtruth merge "$E2E_TMP/gt-all.json" "$E2E_TMP"/gt-[0-9]*.json &&
		e2e_py pcaptool check "$pcap" --gt "$E2E_TMP/gt-all.json"
}
e2e_check "each connection once, complete and byte-identical to what the client saw" all_rounds
# tshark's TCP analysis (issue 19): no gap reported, none allowed
e2e_check "tshark's TCP analysis of pair.pcap finds no forbidden flag" \
	e2e_py tcpanalysis check "$pcap"
e2e_checks_done
