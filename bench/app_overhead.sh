#!/usr/bin/env bash
# Application overhead and loss under load (issue 6, benchmarks 1 and 2): nginx serving HTTPS
# (TLS 1.3, keep-alive) to wrk, with bodies of 1 KiB, 64 KiB and 1 MiB, in alternating runs of
#   none      no capture (the reference of each round)
#   agent-o   sslcollector -I vs$$ -o vo$$          (frames into a veth whose peer is a sink;
#                                                    TX offload off on vo as the README says:
#                                                    runs of data frames are cut by the kernel)
#   agent-t   sslcollector -I vs$$ -t 127.0.0.1:P   + sslcollector -C -o vo$$ (when built;
#             the agent's default: tunnel frames of up to 64 KiB, cut by the collector to
#             vo's MTU 1500)
#   agent-t1500 agent-t with --mtu 1500 (frames of 1514 bytes through the tunnel: the default
#             until the collector cut frames)
#   agent-t9k agent-t with MTU 9000 on vo and its peer (the agent's frames of up to 64 KiB
#             cut by the collector to 9000: the README's jumbo mirror link)
#   bpftrace  bench/ssl_capture.bt                  (same probes written in bpftrace)
#   probes-only  bench/ssl_probes_only.bt           (the same probes doing nothing)
# and, to tell where the agent's cost goes (not in the default set, -c to add them):
#   agent-w   sslcollector -I vs$$ -w /dev/null     (capture + forge, no network output)
#   agent-o1  agent-o with TX offload left on on vo (every frame sent by itself)
#   agent-o9k agent-o with MTU 9000 on vo and its peer (the README's mirror link: frames of up
#             to 9000 bytes, a sixth as many as with 1500)
#   agent-o64k agent-o with MTU 65535 on vo and its peer (one frame per write of up to 64 KiB)
#   agent-osys agent-o with --syscall-hook (the hook on every system call that kernels before
#             6.3 get, instead of the socket tracepoints)
#   agent-odown agent-o with vo's peer down: the veth drops every frame it is given (counted
#             in vo's tx_dropped), so the far side's receive path (netif_rx, its softirq, the
#             peer's IP layer dropping the frame), which runs on these 2 cores too, is not paid
#   floor     bench/probe_floor.py                  (counting uprobes at the agent's own probe
#                                                    sites: what no capture there can undercut)
# Each run starts its capture, runs wrk for -d seconds, stops the capture and reads its
# counters: captured + gap bytes against the plaintext bytes in nginx's access log.
#
#   netns sslb$$c        netns sslb$$s                              netns sslb$$m
#   wrk -t1 -c16 ── vc ═veth═ vs ── nginx :443 (1 worker)
#                              sslcollector -I vs -o vo ═veth═ vm   (nothing listens)
#
#   bench/app_overhead.sh [-b BUILD_DIR] [-r ROUNDS] [-d SECONDS] [-s SIZES] [-c CONFIGS]
#                         [-l private|shared] [-o RESULTS.tsv]
#     defaults: -b build-rel -r 5 -d 4 -s "1k 64k 1m"
#               -c "none agent-o agent-t bpftrace probes-only" -l private;
#     -l: wrk's libssl, a private copy that no probe touches (the default: a real server's
#     clients are elsewhere) or the system's, shared with nginx (see bench_client_lib in lib.sh)
#     the raw per-run results (TSV) go to -o
#     (default stdout) and bench/report.py turns them into the tables.
# Root. Runs nothing pinned: nginx, wrk, the agent and the kernel share the machine's cores.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

build=$BENCH_TOP/build-rel
rounds=5
secs=4
sizes="1k 64k 1m"
out=/dev/stdout
wrk_threads=1
wrk_conns=16
configs=(none agent-o agent-t bpftrace probes-only)
client_lib=private
while getopts "b:r:d:s:o:c:l:h" o; do
	case $o in
	b) build=$OPTARG ;;
	r) rounds=$OPTARG ;;
	d) secs=$OPTARG ;;
	s) sizes=$OPTARG ;;
	o) out=$OPTARG ;;
	c) read -r -a configs <<<"$OPTARG" ;;
	l) client_lib=$OPTARG ;;
	*) sed -n '2,/^set -e/{/^set -e/d;p}' "$0"; exit 2 ;;
	esac
done
[[ $build == /* ]] || build=$PWD/$build
for c in "${configs[@]}"; do
	case $c in
	none | agent-o | agent-o1 | agent-o9k | agent-o64k | agent-osys | agent-odown | agent-w | \
		agent-t | agent-t1500 | agent-t9k | floor | bpftrace | probes-only) ;;
	*)
		echo "${0##*/}: -c: unknown configuration '$c' (the list is at the top of $0)" >&2
		exit 2
		;;
	esac
done
bench_need_root
bench_need_build "$build"
bench_need_tools nginx wrk bpftrace openssl curl ip awk
bin=$build/sslcollector

bench_setup_netns
bench_client_lib "$client_lib"
bench_start_nginx 1024
log() { echo "app_overhead: $*" >&2; }

# wrk's own totals, exact (its text output rounds): a Lua done() hook.
cat >"$BENCH_TMP/summary.lua" <<'EOF'
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("WRKSUM %d %d %d %d\n", summary.duration, summary.requests,
		summary.bytes, e.connect + e.read + e.write + e.status + e.timeout))
end
EOF

# ---- the tunnel (-t / -C): only when this build has them -----------------------------------
tunnel_port=$((20000 + $$ % 20000))
tunnel_state="not available in this build"
if [[ -x $BENCH_TOP/scripts/make-certs.sh ]]; then
	if "$BENCH_TOP/scripts/make-certs.sh" -d "$BENCH_TMP/pki" -c 127.0.0.1 -a bench \
		>"$BENCH_TMP/make-certs.log" 2>&1; then
		tunnel_state=unknown # decided by the first agent-t run
		mkdir -m 1777 "$BENCH_TMP/stats" # the collector writes its stats as its user
	else
		log "scripts/make-certs.sh failed: $(tail -1 "$BENCH_TMP/make-certs.log")"
		tunnel_state="failed: scripts/make-certs.sh: $(tail -1 "$BENCH_TMP/make-certs.log")"
	fi
fi

# ---- one run --------------------------------------------------------------------------------
cap_pid=
col_pid=
bt_reader=
odown_drop0=0
odown_dropped=0
# start_capture CONFIG TAG: starts the capture of CONFIG; 0 when it is mirroring, 1 when it
# failed (the reason in $cap_fail), 2 when this build does not have it.
start_capture() {
	local config=$1 tag=$2
	cap_pid=
	col_pid=
	cap_fail=
	cap_note=
	case $config in
	none) return 0 ;;
	agent-o | agent-o1 | agent-o9k | agent-o64k | agent-osys | agent-odown)
		ip netns exec "$BNS_S" ethtool -K "$BIF_O" tx "$([[ $config == agent-o1 ]] && echo on || echo off)" >/dev/null
		if [[ $config == agent-odown ]]; then
			ip -n "$BNS_M" link set "$BIF_M" down
			odown_drop0=$(vo_tx_dropped)
		fi
		local mtu=1500
		[[ $config == agent-o9k ]] && mtu=9000
		[[ $config == agent-o64k ]] && mtu=65535
		ip -n "$BNS_S" link set "$BIF_O" mtu $mtu
		ip -n "$BNS_M" link set "$BIF_M" mtu $mtu
		local hook=()
		[[ $config == agent-osys ]] && hook=(--syscall-hook)
		ip netns exec "$BNS_S" "$bin" -I "$BIF_S" -o "$BIF_O" --stats-file "$BENCH_TMP/$tag.prom" \
			--stats-interval 3600 "${hook[@]}" 2>"$BENCH_TMP/$tag.log" &
		cap_pid=$!
		;;
	agent-w)
		ip netns exec "$BNS_S" "$bin" -I "$BIF_S" -w /dev/null --stats-file "$BENCH_TMP/$tag.prom" \
			--stats-interval 3600 2>"$BENCH_TMP/$tag.log" &
		cap_pid=$!
		;;
	floor)
		"$BENCH_PY" "$here/probe_floor.py" >"$BENCH_TMP/$tag.log" 2>&1 &
		cap_pid=$!
		if ! bench_wait_log "$BENCH_TMP/$tag.log" READY 20 "$cap_pid"; then
			cap_fail="probe_floor.py: $(tail -1 "$BENCH_TMP/$tag.log")"
			return 1
		fi
		return 0
		;;
	agent-t | agent-t1500 | agent-t9k)
		[[ $tunnel_state == "not available in this build" || $tunnel_state == failed* ]] && return 2
		mirror_peer_up
		ip netns exec "$BNS_S" ethtool -K "$BIF_O" tx off >/dev/null
		local mtu=1500 agent_mtu=()
		[[ $config == agent-t9k ]] && mtu=9000
		[[ $config == agent-t1500 ]] && agent_mtu=(--mtu 1500)
		ip -n "$BNS_S" link set "$BIF_O" mtu $mtu
		ip -n "$BNS_M" link set "$BIF_M" mtu $mtu
		ip netns exec "$BNS_S" "$bin" -C -l "127.0.0.1:$tunnel_port" -o "$BIF_O" \
			--ca "$BENCH_TMP/pki/ca.crt" --cert "$BENCH_TMP/pki/collector.crt" \
			--key "$BENCH_TMP/pki/collector.key" \
			--stats-file "$BENCH_TMP/stats/$tag.collector.prom" --stats-interval 3600 \
			2>"$BENCH_TMP/$tag.collector.log" &
		col_pid=$!
		if ! bench_wait_log "$BENCH_TMP/$tag.collector.log" "listening on" 10 "$col_pid"; then
			wait "$col_pid" 2>/dev/null || true
			if grep -q "no collector" "$BENCH_TMP/$tag.collector.log"; then
				tunnel_state="not available in this build"
				col_pid=
				return 2
			fi
			cap_fail="collector: $(tail -1 "$BENCH_TMP/$tag.collector.log")"
			col_pid=
			return 1
		fi
		ip netns exec "$BNS_S" "$bin" -I "$BIF_S" -t "127.0.0.1:$tunnel_port" "${agent_mtu[@]}" \
			--ca "$BENCH_TMP/pki/agents/bench/ca.crt" \
			--cert "$BENCH_TMP/pki/agents/bench/agent.crt" \
			--key "$BENCH_TMP/pki/agents/bench/agent.key" \
			--stats-file "$BENCH_TMP/$tag.prom" --stats-interval 3600 2>"$BENCH_TMP/$tag.log" &
		cap_pid=$!
		;;
	bpftrace | probes-only)
		local script=$here/ssl_capture.bt
		[[ $config == probes-only ]] && script=$here/ssl_probes_only.bt
		# READY comes from BEGIN, which bpftrace runs once every probe is attached; the
		# rest of its output is read and thrown away
		rm -f "$BENCH_TMP/bt.fifo"
		mkfifo "$BENCH_TMP/bt.fifo"
		{ IFS= read -r l && echo "$l" >"$BENCH_TMP/$tag.ready"
		  IFS= read -r l && echo "$l" >>"$BENCH_TMP/$tag.ready"
		  exec cat >/dev/null; } <"$BENCH_TMP/bt.fifo" &
		bt_reader=$!
		BPFTRACE_STRLEN=200 ip netns exec "$BNS_S" bpftrace "$script" \
			>"$BENCH_TMP/bt.fifo" 2>"$BENCH_TMP/$tag.log" &
		cap_pid=$!
		if ! bench_wait_log "$BENCH_TMP/$tag.ready" READY 30 "$cap_pid"; then
			cap_fail="bpftrace: $(grep -v -e RLIMIT -e uprobe_events -e 'failed to detach' \
				"$BENCH_TMP/$tag.log" | tail -1)"
			return 1
		fi
		return 0
		;;
	esac
	if ! bench_wait_log "$BENCH_TMP/$tag.log" "mirroring TLS on" 20 "$cap_pid"; then
		wait "$cap_pid" 2>/dev/null || true
		if [[ $config == agent-t* ]] && grep -q -- "-t: not available" "$BENCH_TMP/$tag.log"; then
			tunnel_state="not available in this build"
			bench_stop_pid "$col_pid"
			cap_pid= col_pid=
			return 2
		fi
		cap_fail="agent: $(tail -1 "$BENCH_TMP/$tag.log")"
		bench_stop_pid "$col_pid"
		cap_pid= col_pid=
		return 1
	fi
	# the agent probes what its first /proc scan finds, then rescans (exec, every 15 s)
	if ! grep -q "probing .*libssl" "$BENCH_TMP/$tag.log"; then
		local t0=$SECONDS
		if bench_wait_log "$BENCH_TMP/$tag.log" "probing .*libssl" 20 "$cap_pid"; then
			cap_note="the agent's first /proc scan missed nginx's libssl; probed $((SECONDS - t0)) s later"
			log "$tag: $cap_note"
		else
			cap_fail="agent: does not probe nginx's libssl after 20 s: $(grep -E "warn|error|no process" \
				"$BENCH_TMP/$tag.log" | tail -3 | tr '\n' ' ')"
			return 1
		fi
	fi
	if [[ $config == agent-t* ]]; then
		local i
		for i in $(seq 100); do # the tunnel is up when the collector logs the agent
			grep -q "connected" "$BENCH_TMP/$tag.collector.log" && break
			sleep 0.05
		done
		tunnel_state=available
	fi
	return 0
}

# proc_cpu_ticks PID: user + system clock ticks of PID so far (0 when it is gone).
proc_cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# stop_capture CONFIG: SIGINT to the agent (it drains the ring buffer, closes its flows and
# writes its counters), then the collector. Sets cap_cpu: the CPU seconds the agent and the
# collector used until then (the run and the idle wait for nginx's log; not the final drain).
stop_capture() {
	local config=$1
	cap_cpu=-
	case $config in
	agent-*)
		cap_cpu=$(($(proc_cpu_ticks "$cap_pid") + ${col_pid:+$(proc_cpu_ticks "$col_pid")}+0))
		cap_cpu=$(awk -v t="$cap_cpu" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
		kill -INT "$cap_pid" 2>/dev/null || true
		wait "$cap_pid" 2>/dev/null || true
		if [[ -n $col_pid ]]; then
			sleep 0.5 # the collector injects what the agent flushed before it closed
			kill -INT "$col_pid" 2>/dev/null || true
			wait "$col_pid" 2>/dev/null || true
		fi
		;;
	bpftrace | probes-only)
		bench_interrupt "$cap_pid" || log "$config did not stop on SIGINT; killed"
		wait "$bt_reader" 2>/dev/null || true
		;;
	floor)
		bench_interrupt "$cap_pid" || log "$config did not stop on SIGINT; killed"
		;;
	esac
	cap_pid= col_pid=
	if [[ $config == agent-odown ]]; then
		odown_dropped=$(($(vo_tx_dropped) - odown_drop0))
		mirror_peer_up
	fi
}

sink_rx() {
	ip netns exec "$BNS_M" cat "/sys/class/net/$BIF_M/statistics/rx_packets"
}

vo_tx_dropped() {
	ip netns exec "$BNS_S" cat "/sys/class/net/$BIF_O/statistics/tx_dropped"
}

# After agent-odown: the sink's end up again, and its carrier back, before the next run.
mirror_peer_up() {
	local i
	ip -n "$BNS_M" link set "$BIF_M" up
	for i in $(seq 100); do
		ip -n "$BNS_M" link show dev "$BIF_M" | grep -q LOWER_UP && return 0
		sleep 0.05
	done
	log "the sink's link $BIF_M has no carrier after 5 s"
}

# The access log is written per request (no buffer); after wrk exits nginx still logs the
# requests its closing connections cut short: wait until the log stops growing.
log_settle() {
	local prev=-1 cur i
	for i in $(seq 40); do
		cur=$(stat -c %s "$BENCH_TMP/access.log")
		[[ $cur == "$prev" ]] && return 0
		prev=$cur
		sleep 0.25
	done
}

# Columns of the results: one row per run.
echo -e "round\tsize\tconfig\tstatus\tseconds\trequests\tresp_bytes\twrk_errors\tapp_requests\tapp_req_bytes\tapp_resp_bytes\tcaptured\tlost_ring_full\tlost_max_call\tlost_unreadable\tunattributed\tframes_out\tframes_dropped\tsink_rx\tcollector_injected\tcollector_dropped\tcapture_cpu_s\ttunnel_bytes_sent\ttunnel_bytes_dropped\tpure_acks\tnote" >"$out"

run_one() {
	local round=$1 size=$2 config=$3 tag=r$1-$2-$3 off rx0 rx1 wrkout sum rc
	local captured=- lring=- lcap=- lfault=- unattr=- fout=- fdrop=- sinkrx=- cinj=- cdrop=-
	local tbytes=- tbdrop=- acks=-
	local note=

	log_settle
	off=$(stat -c %s "$BENCH_TMP/access.log")
	rc=0
	start_capture "$config" "$tag" || rc=$?
	if ((rc == 2)); then
		echo -e "$round\t$size\t$config\tunavailable\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t$tunnel_state" >>"$out"
		return 0
	fi
	if ((rc == 1)); then
		log "round $round $size $config: capture failed to start: $cap_fail"
		stop_capture "$config"
		echo -e "$round\t$size\t$config\tfailed\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t${cap_fail//$'\t'/ }" >>"$out"
		return 0
	fi
	note=$cap_note
	rx0=$(sink_rx)
	wrkout=$(ip netns exec "$BNS_C" "${BENCH_CLIENT_ENV[@]}" wrk -t"$wrk_threads" -c"$wrk_conns" -d"${secs}s" \
		-s "$BENCH_TMP/summary.lua" "https://$BADDR_S/$size" 2>&1) || true
	log_settle
	stop_capture "$config"
	sleep 0.2
	rx1=$(sink_rx)
	sum=$(awk '$1 == "WRKSUM" { print $2, $3, $4, $5 }' <<<"$wrkout")
	if [[ -z $sum ]]; then
		log "round $round $size $config: wrk failed: $(tail -2 <<<"$wrkout")"
		echo -e "$round\t$size\t$config\tfailed\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\twrk: $(tail -1 <<<"$wrkout")" >>"$out"
		return 0
	fi
	local dur_us reqs bytes errs app
	read -r dur_us reqs bytes errs <<<"$sum"
	app=$(tail -c +$((off + 1)) "$BENCH_TMP/access.log" |
		awk '{ n++; q += $1; s += $2 } END { printf "%.0f\t%.0f\t%.0f\n", n, q, s }')
	if [[ $config == agent-* ]]; then
		local prom=$BENCH_TMP/$tag.prom
		captured=$(bench_metric "$prom" sslcollector_agent_captured_bytes_total)
		lring=$(bench_metric "$prom" sslcollector_agent_lost_bytes_total 'reason="ring_full"')
		lcap=$(bench_metric "$prom" sslcollector_agent_lost_bytes_total 'reason="max_call_size"')
		lfault=$(bench_metric "$prom" sslcollector_agent_lost_bytes_total 'reason="unreadable"')
		unattr=$(bench_metric "$prom" sslcollector_agent_unattributed_bytes_total)
		fout=$(bench_metric_sum "$prom" sslcollector_agent_output_frames_total)
		fdrop=$(bench_metric_sum "$prom" sslcollector_agent_output_dropped_total)
		acks=$(bench_metric "$prom" sslcollector_agent_pure_acks_forged_total)
		sinkrx=$((rx1 - rx0))
		[[ -s $prom ]] || note+="agent wrote no stats file: $(tail -1 "$BENCH_TMP/$tag.log")"
		[[ $config != agent-odown ]] ||
			note+="${note:+; }sink's end down: the veth dropped $odown_dropped frames"
		if [[ $config == agent-t* ]]; then
			# the agent's frames go into the tunnel; the collector's counters are by output
			fout=$(bench_metric "$prom" sslcollector_tunnel_frames_sent_total)
			fdrop=$(bench_metric_sum "$prom" sslcollector_tunnel_frames_dropped_total)
			cinj=$(bench_metric_sum "$BENCH_TMP/stats/$tag.collector.prom" sslcollector_collector_frames_injected_total)
			cdrop=$(bench_metric_sum "$BENCH_TMP/stats/$tag.collector.prom" sslcollector_collector_frames_dropped_total)
			# frames differ in size (up to 64 KiB by default): the drop share in bytes
			tbytes=$(bench_metric "$prom" sslcollector_tunnel_bytes_sent_total)
			tbdrop=$(bench_metric_sum "$prom" sslcollector_tunnel_bytes_dropped_total)
		fi
	elif [[ $config == bpftrace || $config == probes-only ]]; then
		local lost
		lost=$({ grep -o 'Lost [0-9]* events' "$BENCH_TMP/$tag.log" || true; } | awk '{ s += $2 } END { print s + 0 }')
		((lost == 0)) || note+="bpftrace lost $lost events"
	fi
	echo -e "$round\t$size\t$config\tok\t$(awk -v u="$dur_us" 'BEGIN { printf "%.3f", u / 1e6 }')\t$reqs\t$bytes\t$errs\t$app\t$captured\t$lring\t$lcap\t$lfault\t$unattr\t$fout\t$fdrop\t$sinkrx\t$cinj\t$cdrop\t$cap_cpu\t$tbytes\t$tbdrop\t$acks\t$note" >>"$out"
	log "round $round $size $config: $reqs requests in $(awk -v u="$dur_us" 'BEGIN { printf "%.1f", u / 1e6 }') s${captured:+, captured $captured}"
}

log "nginx $(bench_nginx_pids | wc -w) processes in $BNS_S; wrk -t$wrk_threads -c$wrk_conns -d${secs}s, libssl $client_lib; $rounds rounds"
for size in $sizes; do
	# warm-up: page cache, nginx's first allocations, TLS session setup
	ip netns exec "$BNS_C" "${BENCH_CLIENT_ENV[@]}" wrk -t"$wrk_threads" -c"$wrk_conns" -d1s "https://$BADDR_S/$size" >/dev/null 2>&1 || true
	for round in $(seq "$rounds"); do
		# a different configuration goes first in each round, so drift on the machine
		# (other users, thermal) does not always land on the same one
		n=${#configs[@]}
		for i in $(seq 0 $((n - 1))); do
			run_one "$round" "$size" "${configs[$(((i + round - 1) % n))]}"
		done
	done
done
