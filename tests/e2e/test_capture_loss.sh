#!/usr/bin/env bash
# Issue 3: nothing is lost silently. With a deliberately tiny BPF ring buffer (64 KiB) and ten
# 5 MiB downloads at once, the ring overflows; every byte the application transferred must then
# be either captured (and equal to what was sent, at its offset) or reported as a gap of exact
# length:  captured + gaps == sent, for every connection and direction.
#
#   ns client                          ns server
#  +------------------------+   veth   +--------------------------------------------------+
#  | tls_clients.py fetch   |==========| nginx :443 TLS                                   |
#  |   10 x GET /big.bin    |          | sslcollector -I s-ID --ring-size 64K --dump-dir  |
#  +------------------------+          +--------------------------------------------------+
#
# Also: the agent's lost-bytes metric equals the gaps the capture reported.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/e2e.sh
source "$here/lib/e2e.sh"

e2e_setup
e2e_nginx_start 443:tls

dump=$E2E_TMP/dump stats=$E2E_TMP/agent.prom
loss_pcap=$E2E_TMP/loss.pcap # for tshark's TCP analysis (below): the same events forged
e2e_bg agent server "$E2E_TMP/agent.log" "$SSLC_BIN" -I "$E2E_IF_SERVER" --dump-dir "$dump" \
	--ring-size 64K --stats-file "$stats" -w "$loss_pcap"
e2e_wait_file_match "$E2E_TMP/agent.log" "mirroring TLS on"

gt=$E2E_TMP/load-gt.json
e2e_in client "$E2E_PY" "$E2E_LIB/tls_clients.py" fetch --out "$gt" --count 10 \
	--cafile "$E2E_PKI_DIR/ca.pem" "$E2E_SERVER4" 443 /big.bin ||
	e2e_fail "the downloads failed"
e2e_stop agent TERM 30 || e2e_fail "sslcollector did not exit cleanly (status $?)"

e2e_check "captured + gaps == sent for every connection, captured bytes at their offsets" \
	e2e_py dumptool check "$dump" "$gt" --allow-gaps --require-gaps

# The metric (ring full + cap + unreadable) must equal what the dump recorded as gaps.
lost_metric() { prom_sum "$stats" sslcollector_agent_lost_bytes_total; }
lost_dump() {
	jq -s 'map(.gap_send + .gap_recv) | add' "$dump"/conn-*.json
}
e2e_check "the agent's lost-bytes metric equals the gaps it reported ($(lost_metric) bytes)" \
	test "$(lost_metric)" = "$(lost_dump)"

# tshark's TCP analysis (issue 19) of the -w pcap: lost / unseen-ACKed segments only exactly
# at the gaps the dump reports, and some there; without that allowance the same file fails.
e2e_check "tshark's TCP analysis: segments lost or ACKed unseen only at the reported gaps" \
	e2e_py tcpanalysis check "$loss_pcap" --allow-gaps-on "dump:$dump" --require-gaps
e2e_check "tshark's TCP analysis without the gaps' allowance fails on the same pcap" \
	bash -c '! "$@"' _ "$E2E_PY" "$E2E_LIB/tcpanalysis.py" check "$loss_pcap"
e2e_checks_done
