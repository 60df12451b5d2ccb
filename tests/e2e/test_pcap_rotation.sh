#!/usr/bin/env bash
# -w and log rotation: the pcap file is moved away and sslcollector gets SIGHUP (what logrotate
# does); every frame written before it must be in the moved file, complete, and what follows in
# a new file under the old name, mode 0600; a SIGHUP while the file is still in place changes
# nothing; the agent keeps running and stops cleanly. Then sslcollector's own rotation
# (--rotate-size 1M) through two 5 MiB answers: no file larger than 1 MiB, each private and named
# after its start, and all of them, read in order, every byte of both connections.
#
#   ns client                          ns server
#  +------------------------+   veth   +--------------------------------------------------+
#  | tls_clients.py fetch   |==========| nginx :443 TLS                                   |
#  |   3 x GET /, then      |          | sslcollector -I s-ID -w tls.pcap                 |
#  |   mv + SIGHUP, 3 more  |          |                                                  |
#  +------------------------+          +--------------------------------------------------+
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/e2e.sh
source "$here/lib/e2e.sh"

e2e_setup
e2e_nginx_start 443:tls
pcap=$E2E_TMP/tls.pcap stats=$E2E_TMP/agent.prom
e2e_bg agent server "$E2E_TMP/agent.log" "$SSLC_BIN" -I "$E2E_IF_SERVER" -w "$pcap" \
	--stats-file "$stats" --stats-interval 1
e2e_wait_file_match "$E2E_TMP/agent.log" "mirroring TLS on"

# fetch GT: three connections at once, each a request and its answer, then closed
fetch() {
	e2e_in client "$E2E_PY" "$E2E_LIB/tls_clients.py" fetch --out "$1" --count 3 \
		--cafile "$E2E_PKI_DIR/ca.pem" "$E2E_SERVER4" 443 / || e2e_fail "the fetch failed"
}
# wait_log N REGEX: until the agent's log has N lines matching REGEX
wait_log() {
	e2e_wait_until 10 "$1 lines '$2' in the agent's log" \
		bash -c '(($(grep -cE -- "$2" "$3") >= $1))' _ "$1" "$2" "$E2E_TMP/agent.log"
}

fetch "$E2E_TMP/before-gt.json"
# every connection has ended in the mirror before the file moves
prom_await_settled "$stats" || e2e_fail "connections still open in the mirror after 15 s"
kill -HUP "${E2E_PIDS[agent]}"
wait_log 1 "SIGHUP: .*still there"
mv "$pcap" "$pcap.1"
kill -HUP "${E2E_PIDS[agent]}"
wait_log 1 "SIGHUP: .*started a new file"
fetch "$E2E_TMP/after-gt.json"
prom_await_settled "$stats" || e2e_fail "connections still open in the mirror after 15 s"
e2e_stop agent TERM 30 || e2e_fail "sslcollector did not exit cleanly (status $?)"

mode_600() {
	local mode
	mode=$(stat -c %a "$1")
	[[ $mode == 600 ]] || { echo "$1 has mode $mode, expected 600"; return 1; }
}
e2e_check "the agent ran on through both SIGHUPs" \
	grep -q "stopped:" "$E2E_TMP/agent.log"
e2e_check "the moved file holds the first connections, complete" \
	e2e_py pcaptool check "$pcap.1" --gt "$E2E_TMP/before-gt.json"
e2e_check "the new file holds the later ones, complete" \
	e2e_py pcaptool check "$pcap" --gt "$E2E_TMP/after-gt.json"
e2e_check "the new file is private (0600)" mode_600 "$pcap"
# tshark's TCP analysis (issue 19): no gap reported, none allowed
e2e_check "tshark's TCP analysis of the moved and the new file finds no forbidden flag" \
	e2e_py tcpanalysis check "$pcap.1" "$pcap"

# --- sslcollector's own rotation by size ---
mkdir "$E2E_TMP/size"
e2e_bg agent2 server "$E2E_TMP/agent2.log" "$SSLC_BIN" -I "$E2E_IF_SERVER" \
	-w "$E2E_TMP/size/tls.pcap" --rotate-size 1M --stats-file "$E2E_TMP/agent2.prom" \
	--stats-interval 1
e2e_wait_file_match "$E2E_TMP/agent2.log" "mirroring TLS on"
e2e_in client "$E2E_PY" "$E2E_LIB/tls_clients.py" fetch --out "$E2E_TMP/big-gt.json" --count 2 \
	--cafile "$E2E_PKI_DIR/ca.pem" "$E2E_SERVER4" 443 /big.bin || e2e_fail "the fetch failed"
prom_await_settled "$E2E_TMP/agent2.prom" || e2e_fail "connections still open in the mirror after 15 s"
e2e_stop agent2 TERM 30 || e2e_fail "sslcollector did not exit cleanly (status $?)"

# the files in the order they were written: by start time, then -1, -2..; tls.pcap last
mapfile -t files < <(cd "$E2E_TMP/size" && ls tls.2*.pcap | sed -E 's/^tls\.([0-9T]+Z)(-([0-9]+))?\.pcap$/\1 \3 &/' |
	sort -k1,1 -k2,2n | awk '{print $NF}')
files+=(tls.pcap)
sizes_ok() {
	local f size
	for f in "${files[@]}"; do
		size=$(stat -c %s "$E2E_TMP/size/$f")
		((size <= 1048576)) || { echo "$f: $size bytes, more than --rotate-size 1M"; return 1; }
		mode_600 "$E2E_TMP/size/$f" || return 1
	done
}
echo "files: ${files[*]}"
e2e_check "at least 8 files completed (10 MiB of answers, 1 MiB each)" \
	test "${#files[@]}" -ge 9
e2e_check "each file at most 1 MiB and private" sizes_ok
e2e_check "the completions were logged" grep -qE "files? complete, (the last )?now .*/size/tls\.2" \
	"$E2E_TMP/agent2.log"
e2e_check "the files in order hold both connections, complete" \
	e2e_py pcaptool check "${files[@]/#/$E2E_TMP/size/}" --gt "$E2E_TMP/big-gt.json"
e2e_check "tshark's TCP analysis of the rotated files, read in order, finds no forbidden flag" \
	e2e_py tcpanalysis check "${files[@]/#/$E2E_TMP/size/}"
e2e_checks_done
