#!/usr/bin/env bash
# Throughput of agent -> collector over loopback TLS -> veth, against tcpreplay --topspeed of
# the same pcap into the same veth, measured in the same run (medians of RUNS, interleaved).
# Root; creates two namespaces of its own and removes them on exit.
#
#    netns sslcb<pid>c                                     netns sslcb<pid>i
#    pcap_replay ──TLS 127.0.0.1:57012──▶ sslcollector -C -o vc ═veth═ vi  (rx counters)
#    tcpreplay --topspeed -i vc ─────────────────────────────────┘
#
#   bench/tunnel_throughput.sh [-b BUILD_DIR] [-r RUNS] [-w WRITES] [-l LOOPS]
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build/release
runs=5
writes=10000 # 16 KiB writes in the pcap: 130000 frames, 171 MB
loops=3
while getopts "b:r:w:l:h" o; do
	case $o in
	b) build=$OPTARG ;;
	r) runs=$OPTARG ;;
	w) writes=$OPTARG ;;
	l) loops=$OPTARG ;;
	*) sed -n '2,12p' "$0"; exit 2 ;;
	esac
done
[[ $(id -u) == 0 ]] || { echo "tunnel_throughput.sh: run as root (namespaces, AF_PACKET)" >&2; exit 1; }
for t in "$build/sslcollector" "$build/bench/pcap_replay"; do
	[[ -x $t ]] || { echo "tunnel_throughput.sh: $t missing; build first: cmake -S . -B $build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build $build" >&2; exit 1; }
done
command -v tcpreplay >/dev/null || { echo "tunnel_throughput.sh: tcpreplay missing (scripts/install-deps.sh bench)" >&2; exit 1; }

ns_c=sslcb$$c
ns_i=sslcb$$i
tmp=$(mktemp -d)
chmod 755 "$tmp" # the collector, as its user, writes its stats in there
collector_pid=
cleanup() {
	[[ -n $collector_pid ]] && kill "$collector_pid" 2>/dev/null && wait "$collector_pid" 2>/dev/null
	ip netns del "$ns_c" 2>/dev/null || true
	ip netns del "$ns_i" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$ns_c"
ip netns add "$ns_i"
ip link add vc netns "$ns_c" type veth peer name vi netns "$ns_i"
ip -n "$ns_c" link set lo up
ip -n "$ns_c" link set vc up
ip -n "$ns_i" link set vi up

"$top/scripts/make-certs.sh" -d "$tmp/pki" -c 127.0.0.1 -a bench >/dev/null
/usr/bin/python3 "$top/bench/gen_pcap.py" "$tmp/bulk.pcap" "$writes"
frames=$((writes * 13))
mkdir -m 1777 "$tmp/stats"

ip netns exec "$ns_c" "$build/sslcollector" -C -l 127.0.0.1:57012 -o vc \
	--ca "$tmp/pki/ca.crt" --cert "$tmp/pki/collector.crt" --key "$tmp/pki/collector.key" \
	--stats-file "$tmp/stats/collector.prom" 2>"$tmp/collector.log" &
collector_pid=$!
for _ in $(seq 100); do
	grep -q "listening on" "$tmp/collector.log" && break
	sleep 0.05
done
grep -q "listening on" "$tmp/collector.log" || { cat "$tmp/collector.log" >&2; exit 1; }

echo "pcap: $frames frames per pass ($(du -m "$tmp/bulk.pcap" | cut -f1) MB), $loops passes per run, $runs runs"
ip netns exec "$ns_i" /usr/bin/python3 "$top/bench/measure.py" vi $((frames * loops)) "$runs" \
	-- tunnel ip netns exec "$ns_c" "$build/bench/pcap_replay" -t 127.0.0.1:57012 \
	--ca "$tmp/pki/ca.crt" --cert "$tmp/pki/agents/bench/agent.crt" \
	--key "$tmp/pki/agents/bench/agent.key" -r "$tmp/bulk.pcap" --loop "$loops" \
	-- tcpreplay ip netns exec "$ns_c" tcpreplay --topspeed -K --loop="$loops" -q -i vc "$tmp/bulk.pcap"
kill "$collector_pid" && wait "$collector_pid" || true
collector_pid=
grep -E '^sslcollector_collector_(frames_(injected|dropped)_total|malformed_total\{reason="frame_too_large"\}|records_received_total)' "$tmp/stats/collector.prom" || true
