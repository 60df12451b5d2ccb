# shellcheck shell=bash
# tests/e2e/lib/mirror.sh — what feeds E2E_IF_MIRROR (m0), and the captures of it.
#
#   e2e_tc_mirror_start / _stop   control path: tc mirred copies every frame in and out of the
#                                 server veth to m0 (a software SPAN port); no code of ours
#   e2e_mirror_start [CMD]        the mirror under test in ns server (default: sslcollector)
#   e2e_mirror_stop               SIGTERM, wait, check its exit status
#   e2e_wait_pipeline URL         readiness: canary requests until one shows up in eve.json
#   e2e_mirror_wait_ready URL     the same for the mirror under test (SSLC_E2E_MIRROR_READY)
#   e2e_capture_start / _stop     dumpcap on m1 (ns ids) into a pcap, independent of Suricata
#
# The mirror command runs with these variables exported (and, for the default command, as
# arguments): E2E_MIRROR_IFACE (the server veth, for -I), E2E_MIRROR_OUT (m0, for -o),
# E2E_MIRROR_PCAP (where -w should write), E2E_GROUND_TRUTH (the workload's ground truth
# JSON, written when the workload ends; only test doubles such as fake_mirror.py read it).
# It is run as `bash -c "exec CMD"`, so CMD is one command (use a script for more).

E2E_MIRROR_PCAP=
E2E_CAPTURE_PCAP=

e2e_tc_mirror_start() {
	local dir
	e2e_in server tc qdisc add dev "$E2E_IF_SERVER" clsact ||
		e2e_fail "cannot add a clsact qdisc to $E2E_IF_SERVER"
	e2e_on_teardown "ip netns exec $E2E_NS_SERVER tc qdisc del dev $E2E_IF_SERVER clsact"
	for dir in ingress egress; do
		# matchall is not built into every kernel; u32 matching 0/0 is.
		e2e_in server tc filter add dev "$E2E_IF_SERVER" "$dir" protocol all prio 1 \
			u32 match u32 0 0 action mirred egress mirror dev "$E2E_IF_MIRROR" ||
			e2e_fail "cannot mirror $dir of $E2E_IF_SERVER to $E2E_IF_MIRROR with tc"
	done
	e2e_log "tc mirror: $E2E_IF_SERVER ingress+egress -> $E2E_IF_MIRROR"
}

e2e_tc_mirror_stop() {
	e2e_in server tc qdisc del dev "$E2E_IF_SERVER" clsact 2>/dev/null || true
}

# The sslcollector binary: SSLC_BIN (ctest sets it), else the usual build directories.
e2e_sslcollector_bin() {
	local top c
	if [[ -n ${SSLC_BIN:-} ]]; then
		echo "$SSLC_BIN"
		return
	fi
	top=$(cd "$E2E_LIB/../../.." && pwd)
	for c in "$top/build/test/sslcollector" "$top/build/release/sslcollector" \
		"$top/build/sslcollector"; do
		[[ -x $c ]] && { echo "$c"; return; }
	done
	return 1
}

# e2e_mirror_start [CMD]: start the mirror under test in ns server. CMD defaults to
# SSLC_E2E_MIRROR_CMD, else: sslcollector -I $E2E_MIRROR_IFACE -o $E2E_MIRROR_OUT -w $E2E_MIRROR_PCAP,
# or without -w when SSLC_E2E_MIRROR_PCAP=none (-o alone, the README's command, takes another
# path through forge and the sink; E2E_MIRROR_PCAP is then empty).
e2e_mirror_start() {
	local cmd=${1:-${SSLC_E2E_MIRROR_CMD:-}} bin
	E2E_MIRROR_PCAP=$E2E_TMP/mirror.pcap
	[[ ${SSLC_E2E_MIRROR_PCAP:-} != none ]] || E2E_MIRROR_PCAP=
	export E2E_MIRROR_IFACE=$E2E_IF_SERVER E2E_MIRROR_OUT=$E2E_IF_MIRROR
	export E2E_MIRROR_PCAP E2E_GROUND_TRUTH=${E2E_GROUND_TRUTH:-$E2E_TMP/mirror-gt.json}
	if [[ -z $cmd ]]; then
		bin=$(e2e_sslcollector_bin) ||
			e2e_fail "no sslcollector binary: build it (scripts/test.sh) or set SSLC_BIN"
		cmd="'$bin' -I \"\$E2E_MIRROR_IFACE\" -o \"\$E2E_MIRROR_OUT\""
		[[ -z $E2E_MIRROR_PCAP ]] || cmd+=" -w \"\$E2E_MIRROR_PCAP\""
	fi
	e2e_log "mirror command: $cmd"
	e2e_bg mirror server "$E2E_TMP/mirror.log" bash -c "exec $cmd"
}

# e2e_mirror_stop: SIGTERM (the agent flushes and closes its flows), wait up to 60 s; the
# mirror must exit 0.
e2e_mirror_stop() {
	local rc=0
	e2e_stop mirror TERM 60 || rc=$?
	((rc == 0)) || e2e_fail "the mirror command exited with status $rc (log: $E2E_TMP/mirror.log)"
}

# e2e_wait_pipeline BASE_URL [TIMEOUT_S]: until a canary request (GET BASE_URL/__e2e_ready/N,
# a 404) made from ns client appears as an http record in eve.json: then the server, whatever
# mirrors and Suricata all work and the workload may start. Canary URLs (/__e2e_*) are ignored
# by the eve and pcap checks.
e2e_wait_pipeline() {
	local base=${1%/} timeout=${2:-60} n=0 deadline t
	deadline=$((SECONDS + timeout))
	while :; do
		n=$((n + 1))
		if [[ -n ${E2E_PIDS[mirror]:-} ]] && ! e2e_running mirror; then
			e2e_fail "the mirror command exited before it was ready (log: $E2E_TMP/mirror.log)"
		fi
		e2e_in client curl -sS -g --http1.1 --max-time 5 \
			${E2E_PKI_DIR:+--cacert "$E2E_PKI_DIR/ca.pem"} -o /dev/null "$base/__e2e_ready/$n" ||
			e2e_fail "canary request $base/__e2e_ready/$n failed: is the server up?"
		t=$((SECONDS + 2))
		while ((SECONDS < t)); do
			if grep -q "\"url\":\"/__e2e_ready/$n\"" "$E2E_EVE" 2>/dev/null; then
				e2e_log "pipeline ready: canary $n of $base seen by Suricata"
				return
			fi
			sleep 0.1
		done
		((SECONDS < deadline)) ||
			e2e_fail "no canary request of $base reached Suricata's eve.json in ${timeout}s:" \
				"nothing Suricata accepts comes out of the mirror"
	done
}

# e2e_mirror_wait_ready BASE_URL: wait until the mirror under test works, as
# SSLC_E2E_MIRROR_READY says: "canary" (default: e2e_wait_pipeline BASE_URL), "log:REGEX"
# (REGEX in the mirror's log), or "none" (for mirrors that show nothing before they stop,
# such as fake_mirror.py).
e2e_mirror_wait_ready() {
	local mode=${SSLC_E2E_MIRROR_READY:-canary}
	case $mode in
	canary) e2e_wait_pipeline "$1" "${2:-60}" ;;
	none) e2e_log "SSLC_E2E_MIRROR_READY=none: not waiting for the mirror" ;;
	log:*)
		e2e_wait_until "${2:-60}" "'${mode#log:}' in the mirror's log" \
			_e2e_mirror_log_ready "${mode#log:}"
		;;
	*) e2e_fail "SSLC_E2E_MIRROR_READY=$mode: expected canary, none or log:REGEX" ;;
	esac
}
_e2e_mirror_log_ready() {
	e2e_running mirror ||
		e2e_fail "the mirror command exited before it was ready (log: $E2E_TMP/mirror.log)"
	grep -qE -- "$1" "$E2E_TMP/mirror.log"
}

# e2e_capture_start NAME: dumpcap on m1 in ns ids into E2E_CAPTURE_PCAP=$E2E_TMP/m1-NAME.pcap
# (classic pcap): the frames Suricata is given, captured independently of it.
e2e_capture_start() {
	local name=$1
	E2E_CAPTURE_PCAP=$E2E_TMP/m1-$name.pcap
	e2e_bg "capture-$name" ids "$E2E_TMP/m1-$name.dumpcap.log" \
		dumpcap -q -P -B 64 -i "$E2E_IF_IDS" -s 0 -w "$E2E_CAPTURE_PCAP"
	e2e_wait_until 20 "dumpcap to open $E2E_CAPTURE_PCAP" test -s "$E2E_CAPTURE_PCAP"
}

# e2e_capture_stop NAME: after e2e_suricata_drain: wait until dumpcap has written that drain
# marker (so every earlier frame too; frames still in its ring at SIGTERM would be lost), stop
# it, and check that it dropped nothing.
e2e_capture_stop() {
	local name=$1 log=$E2E_TMP/m1-$1.dumpcap.log pcap=$E2E_TMP/m1-$1.pcap drops
	((E2E_DRAIN_N > 0)) || e2e_fail "e2e_capture_stop $name: call e2e_suricata_drain first"
	e2e_wait_until 20 "dumpcap to write drain marker $E2E_DRAIN_N to $pcap" \
		grep -qa "sslc-e2e-drain-$E2E_DRAIN_N" "$pcap"
	e2e_stop "capture-$name" TERM 20 || true
	drops=$(sed -n 's/^Packets received\/dropped on interface .*: [0-9]*\/\([0-9]*\) .*/\1/p' "$log")
	[[ $drops == 0 ]] || e2e_fail "dumpcap dropped ${drops:-an unknown number of} frames on" \
		"$E2E_IF_IDS (log: $log): the capture, not the mirror, lost data"
}
