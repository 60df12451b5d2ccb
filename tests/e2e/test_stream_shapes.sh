#!/usr/bin/env bash
# The shape of the mirrored TCP stream (issue 19): whatever order and batching the agent's
# events come in, the connection forge makes of them must be one an IDS reads like real TCP.
# Seven exchanges (lib/shapes.py) are forged by mirror_replay (agent/mirror.c driven by a
# scenario file, the agent on the server end and on the client end) and also played over real
# TCP as the control; `suricata -r` must log and alert on the forged ones as on the control.
#
#   ns client                 veth              ns server
#  +--------------------+             +----------------------------------+
#  | c-ID 10.77.0.1     |=============| s-ID 10.77.0.2    dumpcap -i s-ID |--> control.pcap
#  |      fd77::1       |             |      fd77::2                      |   (gap segments cut)
#  | shapes.py connect  |             | shapes.py serve  :8001..8007      |
#  +--------------------+             +----------------------------------+
#
#  shapes.py scenario --role server|client [--flush-each] --> mirror_replay --mtu 1500|9000|65535
#      --> mirror-ROLE-MTU.pcap (one batch) and ...-each.pcap (flushed after every event); 65535
#      is forge's MTU under -t (the collector cuts the frames but keeps where the ACKs are)
#
#  suricata -r (lib/suricata.sh's configuration, checksum validation on, http2 on) on the
#  control, on each mirror pcap and on the negative control; eve.json compared per shape.
#
# Shapes (server ports 8001..8007; client ports 38001..38007):
#   1 upload_at_once     300 KiB POST, token in its last KiB, answered 201 at once, one batch
#                        (FAILS with the rule of 2c85a63 and before, "delay_acks": only the
#                        answer's first segment acknowledges the upload, and Suricata loses the
#                        transaction; with the agent on the client end the same)
#   2 upload_small_reads the same upload written and read 1 KiB at a time
#   3 pipelined          three GETs in one write, three answers (IPv6)
#   4 download_overlap   2 MiB download, token at its end, the next request before its end
#   5 both_streaming     1 MiB each way at once, tcp stream rules on six tokens (IPv6)
#   6 http2              h2c: three streams, answers interleaved frame by frame, a POST
#   7 upload_gap         a POST with ~4 KiB missing mid-body (mirror: gap event; control: the
#                        segments of that byte range removed from the capture)
# Asserts: the control has every expected http record, file and alert (else the shape is
# wrong); per shape, role and MTU the mirror's http records (method, URL, status, length),
# files (request/response body sizes, state, gaps), alerts and app_proto equal the control's;
# the pcap flushed after every event is byte-identical to the one-batch pcap; the negative
# control (shape 1's mirror with the server's pure ACKs before the answer removed, the old
# rule's shape) loses the transaction: no status or length, logged at flow timeout, no alert.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/e2e.sh
source "$here/lib/e2e.sh"

replay=${SSLC_MIRROR_REPLAY:-}
[[ -n $replay && -x $replay ]] ||
	e2e_fail "SSLC_MIRROR_REPLAY must name the built mirror_replay (ctest sets it:" \
		"BUILD/tests/e2e/tools/mirror_replay)"
e2e_require_root
e2e_require_cmds ip ethtool ss suricata dumpcap cmp "$E2E_PY"
e2e_init
e2e_topology_create
shapes() { e2e_py shapes "$@"; }
check() { e2e_py shapecheck "$@"; }

# --- the control: every shape over real TCP, captured on the server's veth ------------------
control_raw=$E2E_TMP/control-raw.pcap
e2e_bg dumpcap server "$E2E_TMP/dumpcap.log" \
	dumpcap -q -P -B 64 -i "$E2E_IF_SERVER" -s 0 -w "$control_raw"
e2e_wait_until 20 "dumpcap to open $control_raw" test -s "$control_raw"
e2e_bg serve server "$E2E_TMP/serve.log" "$E2E_PY" "$E2E_LIB/shapes.py" serve \
	--addr4 "$E2E_SERVER4" --addr6 "$E2E_SERVER6"
e2e_wait_file_match "$E2E_TMP/serve.log" "^listening"
e2e_register_log "control client" "$E2E_TMP/connect.log"
e2e_in client "$E2E_PY" "$E2E_LIB/shapes.py" connect --client4 "$E2E_CLIENT4" \
	--client6 "$E2E_CLIENT6" --server4 "$E2E_SERVER4" --server6 "$E2E_SERVER6" \
	>"$E2E_TMP/connect.log" 2>&1 || e2e_fail "the control client failed (connect.log)"
serve_done() { ! e2e_running serve; }
e2e_wait_until 30 "the control server to finish (serve.log)" serve_done
e2e_stop serve || e2e_fail "the control server failed (serve.log)"
# the end of the capture: a marker frame sent out of s-ID after the traffic
e2e_in server "$E2E_PY" "$E2E_LIB/pcaptool.py" marker "$E2E_IF_SERVER" 1
e2e_wait_until 20 "dumpcap to write the marker" grep -qa "sslc-e2e-drain-1" "$control_raw"
e2e_stop dumpcap TERM 20 || true
drops=$(sed -n 's/^Packets received\/dropped on interface .*: [0-9]*\/\([0-9]*\) .*/\1/p' \
	"$E2E_TMP/dumpcap.log")
[[ $drops == 0 ]] || e2e_fail "dumpcap dropped ${drops:-an unknown number of} frames"
e2e_log "control: $(tr '\n' ';' <"$E2E_TMP/connect.log")"
# shape 7's hole: whole data segments of the control around the shape's offset
control=$E2E_TMP/control.pcap gaps=$E2E_TMP/gaps.json
check cutgap "$control_raw" "$control" "$gaps" >&"$E2E_ERR" ||
	e2e_fail "cannot cut shape 7's gap out of the control"

# --- the mirror: mirror_replay from both ends, one batch and flushed after every event -------
mirrors=()
for role in server client; do
	for v in once each; do
		flag=()
		[[ $v == each ]] && flag=(--flush-each)
		shapes scenario --role "$role" "${flag[@]}" --gaps "$gaps" \
			--client4 "$E2E_CLIENT4" --server4 "$E2E_SERVER4" --client6 "$E2E_CLIENT6" \
			--server6 "$E2E_SERVER6" "$E2E_TMP/$role-$v.scn" "$E2E_TMP/$role.blob"
		for mtu in 1500 9000 65535; do
			"$replay" --seed 19 --mtu "$mtu" "$E2E_TMP/$role-$v.scn" "$E2E_TMP/$role.blob" \
				"$E2E_TMP/mirror-$role-$mtu-$v.pcap" 2>"$E2E_TMP/replay-$role-$mtu-$v.log" ||
				{ cat "$E2E_TMP/replay-$role-$mtu-$v.log" >&"$E2E_ERR"
				  e2e_fail "mirror_replay failed on $role-$v.scn (MTU $mtu)"; }
		done
	done
	mirrors+=("$role-1500" "$role-9000" "$role-65535")
done
# the negative control: shape 1 as the old rule forged it
negative=$E2E_TMP/negative.pcap
check stripacks "$E2E_TMP/mirror-server-1500-once.pcap" "$negative" --port 8001 >&"$E2E_ERR" ||
	e2e_fail "cannot make the negative control"

# --- suricata -r, two at a time -------------------------------------------------------------
conf=$E2E_TMP/suricata
mkdir -p "$conf"
E2E_SURICATA_HTTP2=1 e2e_suricata_conf "$conf"
check suricata-conf "$conf/suricata.yaml" # + fileinfo, pcap-file checksum-checks: yes
shapes rules >>"$conf/e2e.rules"
suricata_r() { # NAME PCAP
	mkdir -p "$E2E_TMP/eve-$1"
	e2e_register_log "suricata.log ($1)" "$E2E_TMP/eve-$1/suricata.log"
	suricata -r "$2" -c "$conf/suricata.yaml" -l "$E2E_TMP/eve-$1" --runmode single \
		>"$E2E_TMP/eve-$1/stdout.log" 2>&1
}
runs=(control:"$control" negative:"$negative")
for m in "${mirrors[@]}"; do runs+=("$m:$E2E_TMP/mirror-$m-once.pcap"); done
running=0
for r in "${runs[@]}"; do
	if ((running == 2)); then
		wait -n || e2e_fail "a suricata -r run failed (eve-*/suricata.log)"
		running=$((running - 1))
	fi
	suricata_r "${r%%:*}" "${r#*:}" &
	running=$((running + 1))
done
for ((; running > 0; running--)); do
	wait -n || e2e_fail "a suricata -r run failed (eve-*/suricata.log)"
done
e2e_log "suricata -r done on ${#runs[@]} pcaps"

# --- assertions -------------------------------------------------------------------------------
eve() { echo "$E2E_TMP/eve-$1/eve.json"; }
e2e_check "control: every shape's expected http records, files and alerts" \
	check expect "$(eve control)"
for m in "${mirrors[@]}"; do
	role=${m%-*} mtu=${m#*-}
	e2e_check "agent on the $role, MTU $mtu: the pcap is the same flushed after every event" \
		cmp "$E2E_TMP/mirror-$m-once.pcap" "$E2E_TMP/mirror-$m-each.pcap"
	for n in 1 2 3 4 5 6 7; do
		e2e_check "shape $n, agent on the $role, MTU $mtu: Suricata sees the mirror as the control" \
			check compare "$(eve control)" "$(eve "$m")" --shape "$n" --names control "mirror-$m"
	done
done
e2e_check "negative control: shape 1 without the server's ACKs before the answer loses the POST" \
	check lost "$(eve negative)" --shape 1
e2e_checks_done
