#!/usr/bin/env bash
# Where the agent's overhead goes: the topology of bench/app_overhead.sh, one wrk run without
# capture and one with sslcollector -I vs -o vo (-t: sslcollector -I vs -t to a collector on
# loopback, sslcollector -C -o vo, as app_overhead.sh's agent-t), each with CPU time per process (from
# /proc/PID/stat), softirq time (/proc/stat), and for the agent run also
#   * BPF program time per program (kernel.bpf_stats_enabled: run_cnt, run_time_ns), and
#   * a system-wide call-graph profile (perf record -a -g, cpu-clock) summarised by command,
#     DSO and symbol, and the kernel paths the capture adds (traps, uprobe handling, BPF
#     programs, ring buffer wake-ups, AF_PACKET sends), then
#   * bench/uprobe_floor.py: the cost of one bare uprobe hit on this machine.
# Prints a text report; the perf data stays in -k DIR when given.
#
#   bench/profile.sh [-b BUILD_DIR] [-s SIZE] [-d SECONDS] [-k KEEP_DIR] [-l private|shared]
#                    [-m MTU] [-t] [-a AGENT_OPTION]...
#                    (root; default 64k, 8 s, wrk with a private libssl as in app_overhead.sh,
#                    MTU 1500 on vo and its peer; -m 9000: the mirror link of agent-o9k;
#                    -t: through the tunnel, the agent and the collector profiled apart;
#                    -t -m 9000: as agent-t9k; the agent forges its default 64 KiB frames
#                    and the collector cuts them to vo's MTU; -a: one more option for the
#                    agent, e.g. -a --syscall-hook)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

build=$BENCH_TOP/build-rel
size=64k
secs=8
keep=
client_lib=private
mtu=1500
tunnel=
agent_opts=()
while getopts "b:s:d:k:l:m:a:th" o; do
	case $o in
	b) build=$OPTARG ;;
	s) size=$OPTARG ;;
	d) secs=$OPTARG ;;
	k) keep=$OPTARG ;;
	l) client_lib=$OPTARG ;;
	m) mtu=$OPTARG ;;
	t) tunnel=1 ;;
	a) agent_opts+=("$OPTARG") ;;
	*) sed -n '2,/^set -e/{/^set -e/d;p}' "$0"; exit 2 ;;
	esac
done
[[ $build == /* ]] || build=$PWD/$build
bench_need_root
bench_need_build "$build"
bench_need_tools nginx wrk perf bpftool awk
bin=$build/sslcollector
hz=$(getconf CLK_TCK)

stats_was=$(cat /proc/sys/kernel/bpf_stats_enabled)
restore() {
	echo "$stats_was" >/proc/sys/kernel/bpf_stats_enabled
	bench_cleanup
}
bench_setup_netns
trap restore EXIT
bench_client_lib "$client_lib"
bench_start_nginx 1024
worker=$(pgrep -P "$(cat "$BENCH_TMP/nginx.pid")" | head -1)

# cpu_ticks PID...: user + system time of the processes, in clock ticks
cpu_ticks() { local p s=0; for p; do s=$((s + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo $s; }
softirq_ticks() { awk '$1 == "cpu" { print $8 }' /proc/stat; }
all_ticks() { awk '$1 == "cpu" { s = 0; for (i = 2; i <= NF; i++) s += $i; print s }' /proc/stat; }
idle_ticks() { awk '$1 == "cpu" { print $5 + $6 }' /proc/stat; }

# run_wrk LABEL [AGENT_PID]: one wrk run; prints requests/s and CPU seconds per process.
run_wrk() {
	local label=$1 apid=${2:-} w0 a0=0 s0 t0 i0 w1 a1=0 s1 t1 i1 out
	w0=$(cpu_ticks "$worker")
	[[ -z $apid ]] || a0=$(cpu_ticks $apid)
	s0=$(softirq_ticks) t0=$(all_ticks) i0=$(idle_ticks)
	out=$(ip netns exec "$BNS_C" "${BENCH_CLIENT_ENV[@]}" bash -c "time -p wrk -t1 -c16 -d${secs}s https://$BADDR_S/$size" 2>&1)
	w1=$(cpu_ticks "$worker")
	[[ -z $apid ]] || a1=$(cpu_ticks $apid)
	s1=$(softirq_ticks) t1=$(all_ticks) i1=$(idle_ticks)
	awk -v l="$label" -v hz="$hz" -v w=$((w1 - w0)) -v a=$((a1 - a0)) -v s=$((s1 - s0)) \
		-v t=$((t1 - t0)) -v i=$((i1 - i0)) -v secs="$secs" -v req_file="$BENCH_TMP/requests" '
		/ requests in / { print $1 >req_file }
		/^Requests\/sec/ { rps = $2 }
		/^Transfer\/sec/ { tps = $2 }
		/^user/ { wu = $2 } /^sys/ { ws = $2 }
		END {
			printf "%-10s %10.0f req/s %10s/s | CPU seconds: nginx worker %.2f, wrk %.2f, capture %.2f, softirq %.2f, busy %.2f of %.2f\n",
				l, rps, tps, w / hz, wu + ws, a / hz, s / hz, (t - i) / hz, t / hz
		}' <<<"$out"
}

echo "profile: nginx (1 worker) + wrk -t1 -c16 -d${secs}s (libssl $client_lib), body $size, $(nproc) CPUs, MTU $mtu on vo"
run_wrk "warm-up" >/dev/null
run_wrk "no agent"

# where nginx's CPU goes per request, without and (below) with the agent
pdir=${keep:-$BENCH_TMP}
mkdir -p "$pdir"
perf_hz=999
# perf_run FILE LABEL [AGENT_PID]: a wrk run under a system-wide call-graph profile
perf_run() {
	perf record -a -g -F "$perf_hz" -o "$pdir/$1" -- sleep "$((secs + 1))" 2>"$BENCH_TMP/perf.err" &
	local perf_pid=$!
	sleep 0.5
	run_wrk "$2" "${3:-}"
	wait "$perf_pid" || bench_die "perf record failed: $(tail -2 "$BENCH_TMP/perf.err")"
}
# nginx_split FILE LABEL: nginx's samples of FILE by category, in µs per request of the run
nginx_split() {
	perf script -i "$pdir/$1" --comms nginx -F comm,ip,sym,dso 2>/dev/null |
		awk -v hz="$perf_hz" -v req="$(cat "$BENCH_TMP/requests")" -v label="$2" \
			-f "$here/perf_split.awk" >>"$BENCH_TMP/split.tsv"
}
: >"$BENCH_TMP/split.tsv"
perf_run perf-none.data "none+perf"
nginx_split perf-none.data none

# as the README says (and app_overhead.sh's agent-o): runs of frames are cut by the kernel
ip netns exec "$BNS_S" ethtool -K "$BIF_O" tx off >/dev/null
ip -n "$BNS_S" link set "$BIF_O" mtu "$mtu"
ip -n "$BNS_M" link set "$BIF_M" mtu "$mtu"
pids= # the capture's processes: the agent [and the collector]
label="agent -o"
if [[ -n $tunnel ]]; then
	label="agent -t"
	"$BENCH_TOP/scripts/make-certs.sh" -d "$BENCH_TMP/pki" -c 127.0.0.1 -a bench \
		>"$BENCH_TMP/make-certs.log" 2>&1 ||
		bench_die "scripts/make-certs.sh failed: $(tail -1 "$BENCH_TMP/make-certs.log")"
	port=$((20000 + $$ % 20000))
	ip netns exec "$BNS_S" "$bin" -C -l "127.0.0.1:$port" -o "$BIF_O" \
		--ca "$BENCH_TMP/pki/ca.crt" --cert "$BENCH_TMP/pki/collector.crt" \
		--key "$BENCH_TMP/pki/collector.key" 2>"$BENCH_TMP/collector.log" &
	cpid=$!
	BENCH_PIDS+=("$cpid")
	bench_wait_log "$BENCH_TMP/collector.log" "listening on" 10 "$cpid" ||
		bench_die "the collector did not start: $(tail -2 "$BENCH_TMP/collector.log")"
	ip netns exec "$BNS_S" "$bin" -I "$BIF_S" -t "127.0.0.1:$port" \
		--ca "$BENCH_TMP/pki/agents/bench/ca.crt" \
		--cert "$BENCH_TMP/pki/agents/bench/agent.crt" \
		--key "$BENCH_TMP/pki/agents/bench/agent.key" \
		--stats-file "$BENCH_TMP/agent.prom" --stats-interval 3600 "${agent_opts[@]}" \
		2>"$BENCH_TMP/agent.log" &
else
	ip netns exec "$BNS_S" "$bin" -I "$BIF_S" -o "$BIF_O" --stats-file "$BENCH_TMP/agent.prom" \
		--stats-interval 3600 "${agent_opts[@]}" 2>"$BENCH_TMP/agent.log" &
fi
apid=$!
BENCH_PIDS+=("$apid")
bench_wait_log "$BENCH_TMP/agent.log" "mirroring TLS on" 20 "$apid" ||
	bench_die "the agent did not start: $(tail -2 "$BENCH_TMP/agent.log")"
pids="$apid${cpid:+ $cpid}"
run_wrk "$label" "$pids"

# BPF program time: enable the kernel's per-program statistics for one more run
prog_ids() { bpftool prog show -j | /usr/bin/python3 -c '
import json, sys
for p in json.load(sys.stdin):
    print(p["id"], p.get("name", "?"), p.get("run_cnt", 0), p.get("run_time_ns", 0))'; }
echo 1 >/proc/sys/kernel/bpf_stats_enabled
prog_ids >"$BENCH_TMP/progs0"
run_wrk "agent+stats" "$pids"
prog_ids >"$BENCH_TMP/progs1"
echo 0 >/proc/sys/kernel/bpf_stats_enabled
echo
echo "BPF programs during that run (kernel.bpf_stats_enabled; time inside the programs only):"
awk -v secs="$secs" 'NR == FNR { c[$1] = $3; t[$1] = $4; next }
	($3 - c[$1]) > 0 { n = $3 - c[$1]; ns = $4 - t[$1]; tot += ns
		printf "  %-22s %10d runs %8.0f ns/run %7.3f CPU s\n", $2, n, ns / n, ns / 1e9 }
	END { printf "  %-22s %40.3f CPU s in %d s\n", "total", tot / 1e9, secs }' \
	"$BENCH_TMP/progs0" "$BENCH_TMP/progs1"

# the call-graph profile of the whole system during a run with the agent
perf_run perf.data "agent+perf" "$pids"
nginx_split perf.data agent
kill -INT "$apid"
wait "$apid" 2>/dev/null || true
[[ -z ${cpid:-} ]] || { kill -INT "$cpid"; wait "$cpid" 2>/dev/null || true; }
echo
echo "agent counters: $(grep -E '^(sslcollector_agent_(captured_bytes|captured_records|frames_forged|ring_full)_total|sslcollector_agent_output_frames_total|sslcollector_agent_output_frames_cut_total)' "$BENCH_TMP/agent.prom" | tr '\n' ' ')"
echo
echo "perf: share of all samples by command (both CPUs, ${secs} s):"
perf report -i "$pdir/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null |
	grep -E '^ +[0-9]' | head -8 || true
echo
echo "perf: inclusive share of all samples of the kernel paths the capture adds:"
perf report -i "$pdir/perf.data" --children --sort sym --stdio -g none 2>/dev/null |
	awk '
	BEGIN {
		n = split("asm_exc_debug:#DB trap, single-step of the probed instruction (uprobe entry)|" \
			"asm_exc_int3:int3 trap (uprobe entry)|" \
			"uprobe_notify_resume:uprobe handling on return to user space|" \
			"uprobe_dispatcher:BPF programs of the entry uprobes|" \
			"__x64_sys_uretprobe:uretprobe trampoline (syscall) incl. its BPF programs|" \
			"uretprobe_dispatcher:BPF programs of the uretprobes|" \
			"bpf_probe_read_user:copying plaintext into the ring buffer|" \
			"bpf_ringbuf_submit:ring buffer submit incl. wake-up|" \
			"native_apic_msr_write:wake-up self-IPI (APIC MSR write; irq_work)|" \
			"__bpf_trace_sys_enter:raw tracepoint sys_enter (every syscall; --syscall-hook)|" \
			"bpf_trace_run3:3-argument BPF tracepoints (the socket hooks, inet_sock_set_state)|" \
			"__sys_sendmmsg:sendmmsg of -o (AF_PACKET, veth, peer stack)", e, "|")
		for (i = 1; i <= n; i++) { split(e[i], kv, ":"); want[kv[1]] = kv[2]; order[i] = kv[1] }
	}
	$3 == "[k]" && ($4 in want) { got[$4] = $1 }
	END { for (i = 1; i <= n; i++) printf "  %8s  %-22s %s\n", (order[i] in got) ? got[order[i]] : "0%", order[i], want[order[i]] }'
if [[ -z $tunnel ]]; then
	echo
	echo "perf: the agent's sends, inclusive share of all samples (the agent's threads only):"
	perf report -i "$pdir/perf.data" --pid "$apid" --children --sort sym --stdio -g none 2>/dev/null |
		awk '
		BEGIN {
			n = split("__sys_sendmmsg:all of it|" \
				"___sys_sendmsg:each message (msghdr and iovec import, the send below)|" \
				"packet_sendmsg:AF_PACKET (skb allocation, copy, transmit)|" \
				"validate_xmit_skb:segmentation of runs (GSO) and checksums|" \
				"veth_xmit:the veth handing each frame to its peer|" \
				"__netif_receive_skb_core:the far side receiving them (its softirq, here)|" \
				"ip_rcv:... and its IPv4 layer dropping them (other hosts'"'"' frames)|" \
				"ipv6_rcv:... and its IPv6 layer", e, "|")
			for (i = 1; i <= n; i++) { split(e[i], kv, ":"); want[kv[1]] = kv[2]; order[i] = kv[1] }
		}
		$3 == "[k]" { s = $4; sub(/\..*/, "", s); if ((s in want) && !(s in got)) got[s] = $1 }
		END { for (i = 1; i <= n; i++) printf "  %8s  %-24s %s\n", (order[i] in got) ? got[order[i]] : "0%", order[i], want[order[i]] }'
fi
echo
echo "perf: top symbols (self time, all commands):"
perf report -i "$pdir/perf.data" --no-children --sort comm,dso,sym --stdio -g none 2>/dev/null |
	grep -E '^ +[0-9]' | head -25 || true
# own_time WHAT PERF-FILTER...: the top symbols of some processes
own_time() {
	echo
	echo "perf: $1's own time by symbol (share of all samples):"
	shift
	perf report -i "$pdir/perf.data" --no-children "$@" --sort dso,sym --stdio -g none \
		2>/dev/null | grep -E '^ +[0-9]' | head -15 || true
}
own_time "the agent (all its threads)" --pid "$apid"
[[ -z ${cpid:-} ]] || own_time "the collector" --pid "$cpid"
own_time nginx --comms nginx
own_time wrk --comms wrk
echo
echo "nginx's CPU time per request by where it goes (µs; perf samples of the nginx worker,"
echo "its stack decides: a sample under the int3 trap counts as uprobe entry, etc.):"
awk -F '\t' '{ v[$1, $2] = $3; cats[$2] = 1 }
	END {
		printf "  %-50s %9s %9s %9s\n", "", "no agent", "agent", "added"
		n = split("OpenSSL (libssl, libcrypto)|nginx, libc, other user space|" \
			"other kernel (TCP, epoll, softirq, ...)|" \
			"uprobe entry: int3 trap, entry BPF programs|" \
			"uretprobe: trampoline, exit BPF programs (copy)|" \
			"syscall tracepoint sys_enter (incl. BPF)|" \
			"socket hooks: sock_*_length, mmap_lock (BPF)|total", order, "|")
		for (i = 1; i <= n; i++) {
			c = order[i]; a = v["none", c] + 0; b = v["agent", c] + 0
			printf "  %-50s %9.2f %9.2f %+9.2f\n", c, a, b, b - a
		}
	}' "$BENCH_TMP/split.tsv"
echo
"$BENCH_PY" "$here/uprobe_floor.py" -n 20000
