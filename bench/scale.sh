#!/usr/bin/env bash
# Scale (issue 6, benchmark 3): resident memory of
#   * the agent (sslcollector -I vs$$ -o vo$$) at rest, then with N concurrent idle TLS
#     connections to nginx (bench/idle_conns.py: each sends one request, reads the answer and
#     stays open), default N = 10000;
#   * the collector (sslcollector -C -o vo$$) at rest, then with A agents connected, default
#     A = 100 (bench/tunnel_agents.py opens A mutually authenticated tunnel connections that
#     each send a PCAP-over-IP header and one frame; A real agents would each load the BPF
#     capture and are too heavy for 2 cores). Only when this build has the collector.
# RSS is VmRSS (and the peak, VmHWM) from /proc/PID/status. Prints a Markdown table.
#
#   netns sslb$$c               netns sslb$$s                                 netns sslb$$m
#   idle_conns.py ── vc ═veth═ vs ── nginx :443 (1 worker, 2 x N worker_connections)
#                                    sslcollector -I vs -o vo ═veth═ vm (nothing listens)
#   tunnel_agents.py ──TLS 127.0.0.1── sslcollector -C -o vo   (in netns sslb$$s)
#
#   bench/scale.sh [-b BUILD_DIR] [-n CONNECTIONS] [-a AGENTS] [-p agent|collector|both]  (root)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

build=$BENCH_TOP/build-rel
nconns=10000
nagents=100
parts=both
while getopts "b:n:a:p:h" o; do
	case $o in
	b) build=$OPTARG ;;
	n) nconns=$OPTARG ;;
	a) nagents=$OPTARG ;;
	p) parts=$OPTARG ;;
	*) sed -n '2,19p' "$0"; exit 2 ;;
	esac
done
[[ $build == /* ]] || build=$PWD/$build
bench_need_root
bench_need_build "$build"
bench_need_tools nginx openssl curl ip awk ss
bin=$build/sslcollector
log() { echo "scale: $*" >&2; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

bench_setup_netns
# the client needs N descriptors, nginx's worker N + its files; without CAP_SYS_RESOURCE the
# hard limit cannot be raised
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=1048576
((nconns + 500 <= hard)) || bench_die "-n $nconns needs more open files than the hard limit ($hard)"
ulimit -n "$hard"
# nginx closes idle keep-alive connections once fewer than 1/16 of worker_connections are free
bench_start_nginx $((nconns * 2))

agent_limit_kib=$((64 * 1024))
rows=()

echo "| process | condition | VmRSS (MiB) | VmHWM, peak (MiB) | context | target | verdict |"
echo "| --- | --- | ---: | ---: | --- | --- | --- |"

# ---- the agent with N idle connections -------------------------------------------------------
if [[ $parts != collector ]]; then
ip netns exec "$BNS_S" "$bin" -I "$BIF_S" -o "$BIF_O" --stats-file "$BENCH_TMP/agent.prom" \
	--stats-interval 1 2>"$BENCH_TMP/agent.log" &
agent_pid=$!
BENCH_PIDS+=("$agent_pid")
bench_wait_log "$BENCH_TMP/agent.log" "mirroring TLS on" 20 "$agent_pid" ||
	bench_die "the agent did not start: $(tail -2 "$BENCH_TMP/agent.log")"
sleep 2
rest_rss=$(bench_rss_kb "$agent_pid" VmRSS)
rest_hwm=$(bench_rss_kb "$agent_pid" VmHWM)
log "agent at rest: VmRSS $rest_rss KiB"

mkfifo "$BENCH_TMP/hold"
ip netns exec "$BNS_C" "$BENCH_PY" "$here/idle_conns.py" "$BADDR_S" 443 /1k -n "$nconns" \
	--hold 300 <"$BENCH_TMP/hold" >"$BENCH_TMP/idle.out" 2>"$BENCH_TMP/idle.err" &
client_pid=$!
BENCH_PIDS+=("$client_pid")
exec {hold_fd}>"$BENCH_TMP/hold" # the client holds its connections until this closes
t0=$(date +%s)
bench_wait_log "$BENCH_TMP/idle.out" HELD 240 "$client_pid" ||
	bench_die "idle_conns.py did not open its connections: $(tail -2 "$BENCH_TMP/idle.err")"
read -r _ held failed <"$BENCH_TMP/idle.out"
log "$held connections open and answered in $(($(date +%s) - t0)) s ($failed failed)"
sleep 3 # the agent has read every event and written its stats (interval 1 s)
estab=$(ip netns exec "$BNS_S" ss -Htn state established "( sport = :443 )" | wc -l)
conn_rss=$(bench_rss_kb "$agent_pid" VmRSS)
conn_hwm=$(bench_rss_kb "$agent_pid" VmHWM)
flows=$(bench_metric "$BENCH_TMP/agent.prom" sslcollector_agent_flows_open)
sessions=$(bench_metric "$BENCH_TMP/agent.prom" sslcollector_agent_sessions_total)
nginx_worker=$(pgrep -P "$(cat "$BENCH_TMP/nginx.pid")" | head -1)
nginx_rss=$(bench_rss_kb "$nginx_worker" VmRSS)
exec {hold_fd}>&-
wait "$client_pid" 2>/dev/null || true
bench_stop_pid "$agent_pid"
verdict=FAIL
((conn_hwm <= agent_limit_kib && held == nconns)) && verdict=PASS
((held == nconns)) || verdict="FAIL (only $held of $nconns connections opened)"

echo "| agent \`-I vs -o vo\` | at rest (nginx running, no connection) | $(mib "$rest_rss") | $(mib "$rest_hwm") | | | |"
echo "| agent \`-I vs -o vo\` | $held idle TLS connections ($failed failed) | $(mib "$conn_rss") | $(mib "$conn_hwm") | $estab established on nginx's side; agent: $flows flows open, $sessions sessions; nginx worker VmRSS $(mib "$nginx_rss") MiB | ≤ 64 MiB | $verdict |"
fi
[[ $parts != agent ]] || exit 0

# ---- the collector with A agents ------------------------------------------------------------
collector_row() { echo "| collector \`-C -o vo\` | $1 | – | – | $2 | ≤ 64 MiB | $3 |"; }
if [[ ! -x $BENCH_TOP/scripts/make-certs.sh ]]; then
	collector_row "$nagents agents" "not available in this build (no scripts/make-certs.sh, no collector)" "–"
	exit 0
fi
"$BENCH_TOP/scripts/make-certs.sh" -d "$BENCH_TMP/pki" -c 127.0.0.1 -a bench >/dev/null 2>&1 ||
	bench_die "scripts/make-certs.sh failed"
mkdir -m 1777 "$BENCH_TMP/stats"
port=$((20000 + $$ % 20000))
ip netns exec "$BNS_S" "$bin" -C -l "127.0.0.1:$port" -o "$BIF_O" --max-agents $((nagents + 10)) \
	--ca "$BENCH_TMP/pki/ca.crt" --cert "$BENCH_TMP/pki/collector.crt" \
	--key "$BENCH_TMP/pki/collector.key" --stats-file "$BENCH_TMP/stats/collector.prom" \
	--stats-interval 1 2>"$BENCH_TMP/collector.log" &
col_pid=$!
BENCH_PIDS+=("$col_pid")
if ! bench_wait_log "$BENCH_TMP/collector.log" "listening on" 10 "$col_pid"; then
	if grep -q "no collector" "$BENCH_TMP/collector.log"; then
		collector_row "$nagents agents" "not available in this build (this build has no collector)" "–"
		exit 0
	fi
	bench_die "the collector did not start: $(tail -2 "$BENCH_TMP/collector.log")"
fi
sleep 1
crest_rss=$(bench_rss_kb "$col_pid" VmRSS)
crest_hwm=$(bench_rss_kb "$col_pid" VmHWM)
mkfifo "$BENCH_TMP/hold2"
ip netns exec "$BNS_S" "$BENCH_PY" "$here/tunnel_agents.py" 127.0.0.1 "$port" -n "$nagents" \
	--ca "$BENCH_TMP/pki/agents/bench/ca.crt" --cert "$BENCH_TMP/pki/agents/bench/agent.crt" \
	--key "$BENCH_TMP/pki/agents/bench/agent.key" --hold 120 \
	<"$BENCH_TMP/hold2" >"$BENCH_TMP/agents.out" 2>"$BENCH_TMP/agents.err" &
tpid=$!
BENCH_PIDS+=("$tpid")
exec {hold_fd}>"$BENCH_TMP/hold2"
bench_wait_log "$BENCH_TMP/agents.out" HELD 120 "$tpid" ||
	bench_die "tunnel_agents.py did not connect: $(tail -2 "$BENCH_TMP/agents.err")"
read -r _ aheld afailed <"$BENCH_TMP/agents.out"
sleep 2.5
connected=$(bench_metric "$BENCH_TMP/stats/collector.prom" sslcollector_collector_agents_connected)
c_rss=$(bench_rss_kb "$col_pid" VmRSS)
c_hwm=$(bench_rss_kb "$col_pid" VmHWM)
exec {hold_fd}>&-
wait "$tpid" 2>/dev/null || true
bench_stop_pid "$col_pid"
cverdict=FAIL
((c_hwm <= agent_limit_kib && aheld == nagents)) && cverdict=PASS
((aheld == nagents)) || cverdict="FAIL (only $aheld of $nagents agents connected)"
echo "| collector \`-C -o vo\` | at rest | $(mib "$crest_rss") | $(mib "$crest_hwm") | | | |"
echo "| collector \`-C -o vo\` | $aheld agents connected ($afailed failed; bench/tunnel_agents.py) | $(mib "$c_rss") | $(mib "$c_hwm") | collector's agents_connected metric: $connected | ≤ 64 MiB | $cverdict |"
