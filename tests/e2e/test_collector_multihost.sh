#!/usr/bin/env bash
# Issue 5: the mirrors of two hosts through TLS tunnels into one collector, into Suricata; the
# collector stopped for 5 s during traffic and started again.
#
#  ns client  ═veth═ ns server (host A)                       ns coll
#  10.77.0.1         10.77.0.2, fd77::2                         ka 10.79.1.2 ┐
#  fd77::1           nginx :443, sslcollector -I s-ID ═════════════════════╡ sslcollector -C
#                      -t 10.79.1.2 (ta 10.79.1.1)                         │   -o m0-ID ═veth═ ns ids
#  ns clientb ═veth═ ns hostb (host B)                                     │   (m1-ID: Suricata 7)
#  10.78.0.1         10.78.0.2, nginx :443, sslcollector -I sb-ID ══════════╛
#                      -t 10.79.2.2 (tb 10.79.2.1)           kb 10.79.2.2
#
# Tunnel certificates from scripts/make-certs.sh (CA, collector with both addresses, agents
# CN=host-a and CN=host-b). Asserts:
#  * phase 1 (both hosts' workloads: curl and Python, GET/POST/404/keep-alive/20 parallel,
#    5 MiB download; host A over IPv4 and IPv6): Suricata logs every request with its URL,
#    status and size on its host's real addresses, and the rules alert exactly where the
#    ground truth says, on each host's own connections;
#  * outage: the collector stops (SIGTERM) while both hosts serve downloads for 5 s, then
#    starts again: both agents reconnect on their own, the frames forged meanwhile are counted
#    as dropped in each agent's metrics (sslcollector_tunnel_frames_dropped_total), never
#    silently;
#  * phase 3 (the workloads again, after the reconnection): fully inspected like phase 1;
#  * no capture drops, gaps or bad checksums at Suricata; agents and collector exit 0;
#  * the agents forge the tunnel's frames for up to 64 KiB (no --mtu) and the collector cuts
#    them to the MTU of its -o: it injects more frames than it receives;
#  * the collector also writes -w with --rotate-size 1M, as its user sslcollector: no file over 1 MiB,
#    all private, files completed in both runs (the first run's last file at the restart,
#    named after its first frame, not overwritten), and the frames in all the files together
#    are exactly the frames both runs counted as written.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/e2e.sh
source "$here/lib/e2e.sh"
top=$(cd "$here/../.." && pwd)

B_CLIENT4=10.78.0.1 B_SERVER4=10.78.0.2
A_TUN=10.79.1.1 A_COLL=10.79.1.2 B_TUN=10.79.2.1 B_COLL=10.79.2.2
export E2E_PKI_EXTRA_SAN="IP:$B_SERVER4"
e2e_setup
if_cb=cb-$E2E_ID if_sb=sb-$E2E_ID if_ta=ta-$E2E_ID if_ka=ka-$E2E_ID if_tb=tb-$E2E_ID
if_kb=kb-$E2E_ID

# --- topology: host B, the collector's namespace, the collector's -o link --------------------
e2e_netns_add clientb
e2e_netns_add hostb
e2e_netns_add coll
e2e_veth clientb "$if_cb" hostb "$if_sb"
e2e_addr clientb "$if_cb" "$B_CLIENT4/24"
e2e_addr hostb "$if_sb" "$B_SERVER4/24"
e2e_veth server "$if_ta" coll "$if_ka"
e2e_addr server "$if_ta" "$A_TUN/24"
e2e_addr coll "$if_ka" "$A_COLL/24"
e2e_veth hostb "$if_tb" coll "$if_kb"
e2e_addr hostb "$if_tb" "$B_TUN/24"
e2e_addr coll "$if_kb" "$B_COLL/24"
# the mirror link's server end becomes the collector's output
ip -n "$(e2e_ns server)" link set "$E2E_IF_MIRROR" netns "$(e2e_ns coll)"
e2e_no_ipv6 coll "$E2E_IF_MIRROR" # a device moved to another namespace gets IPv6 again
ip -n "$(e2e_ns coll)" link set "$E2E_IF_MIRROR" up
E2E_MIRROR_NS=coll

# --- tunnel certificates -------------------------------------------------------------------
tpki=$E2E_TMP/tunnel-pki
"$top/scripts/make-certs.sh" -d "$tpki" -c "$A_COLL" -c "$B_COLL" -a host-a -a host-b \
	>"$E2E_TMP/make-certs.log" 2>&1 || e2e_fail "scripts/make-certs.sh failed: $(tail -1 "$E2E_TMP/make-certs.log")"
stats=$E2E_TMP/stats
mkdir -m 1777 "$stats" # the collector writes its metrics as its user (sslcollector)
cpcap=$E2E_TMP/collector-pcap
mkdir -m 0700 "$cpcap" && chown sslcollector "$cpcap" # -w's rotation: files renamed and made as the collector's user

# --- servers: nginx on both hosts (host B: a copy of host A's configuration) ----------------
e2e_nginx_start 443:tls
nb=$E2E_TMP/nginx-b
mkdir -p "$nb/tmp"
ln -s "$E2E_NGINX_DIR/html" "$nb/html"
sed "s#$E2E_NGINX_DIR#$nb#g" "$E2E_NGINX_DIR/nginx.conf" >"$nb/nginx.conf"
e2e_register_log "nginx B error.log" "$nb/error.log"
e2e_bg nginxb hostb "$nb/stdout.log" nginx -p "$nb" -e "$nb/error.log" -c "$nb/nginx.conf" \
	-g "daemon off;"
e2e_wait_listen hostb 443 10

# --- collector, Suricata, agents -----------------------------------------------------------
collector_start() { # $1: a name for its log and metrics
	e2e_bg collector coll "$E2E_TMP/collector-$1.log" "$SSLC_BIN" -C -o "$E2E_IF_MIRROR" \
		--ca "$tpki/ca.crt" --cert "$tpki/collector.crt" --key "$tpki/collector.key" \
		--stats-file "$stats/collector-$1.prom" --stats-interval 1 \
		-w "$cpcap/all.pcap" --rotate-size 1M
	e2e_wait_file_match "$E2E_TMP/collector-$1.log" "listening on" 15
}
metric() { prom_sum "$1" "$2"; } # FILE NAME: the sum of a metric's samples (0 if absent)
queues_empty() {
	[[ $(metric "$stats/agent-a.prom" sslcollector_tunnel_queue_bytes) == 0 &&
		$(metric "$stats/agent-b.prom" sslcollector_tunnel_queue_bytes) == 0 ]]
}
caught_up() { # $1: collector name: it has received every frame the agents sent
	local sent=$(($(metric "$stats/agent-a.prom" sslcollector_tunnel_frames_sent_total) +
		$(metric "$stats/agent-b.prom" sslcollector_tunnel_frames_sent_total)))
	(($(metric "$stats/collector-$1.prom" sslcollector_collector_records_received_total) >= sent))
}
agents_connected() { # $1: collector name
	[[ $(metric "$stats/collector-$1.prom" sslcollector_collector_agents_connected) == 2 ]]
}

collector_start 1
e2e_suricata_start multihost
e2e_capture_start multihost # what Suricata is given, for tshark's TCP analysis (below)
for h in a b; do
	if [[ $h == a ]]; then ns=server iface=$E2E_IF_SERVER coll=$A_COLL; else
		ns=hostb iface=$if_sb coll=$B_COLL; fi
	e2e_bg "agent$h" "$ns" "$E2E_TMP/agent-$h.log" "$SSLC_BIN" -I "$iface" -t "$coll" \
		--ca "$tpki/agents/host-$h/ca.crt" --cert "$tpki/agents/host-$h/agent.crt" \
		--key "$tpki/agents/host-$h/agent.key" --stats-file "$stats/agent-$h.prom" \
		--stats-interval 1
	e2e_wait_file_match "$E2E_TMP/agent-$h.log" "mirroring TLS on" 30
done
e2e_wait_until 30 "both agents connected to the collector" agents_connected 1

# --- phase 1 ---------------------------------------------------------------------------------
workloads() { # $1: phase name; both hosts at once, ground truths gt-$1-{a,b}.json
	local pa pb
	e2e_in client "$E2E_PY" "$E2E_LIB/workload.py" --out "$E2E_TMP/gt-$1-a.json" \
		--cafile "$E2E_PKI_DIR/ca.pem" "https://$E2E_SERVER4/" "https://[$E2E_SERVER6]/" \
		>"$E2E_TMP/workload-$1-a.log" 2>&1 &
	pa=$!
	e2e_in clientb "$E2E_PY" "$E2E_LIB/workload.py" --out "$E2E_TMP/gt-$1-b.json" \
		--cafile "$E2E_PKI_DIR/ca.pem" "https://$B_SERVER4/" \
		>"$E2E_TMP/workload-$1-b.log" 2>&1 &
	pb=$!
	wait "$pa" || e2e_fail "host A's workload ($1) failed: $(tail -1 "$E2E_TMP/workload-$1-a.log")"
	wait "$pb" || e2e_fail "host B's workload ($1) failed: $(tail -1 "$E2E_TMP/workload-$1-b.log")"
	e2e_log "workloads $1: A: $(tail -1 "$E2E_TMP/workload-$1-a.log"); B: $(tail -1 "$E2E_TMP/workload-$1-b.log")"
}
workloads before
# let the agents' queues reach the collector before it goes away
e2e_wait_until 30 "the agents' tunnel queues to empty (phase 1)" queues_empty
e2e_wait_until 30 "the collector to receive every frame sent (phase 1)" caught_up 1

# --- outage: 5 s without a collector, with traffic on both hosts ------------------------------
e2e_stop collector TERM 15 || e2e_fail "the collector did not exit cleanly (status $?)"
dropped_before_a=$(metric "$stats/agent-a.prom" sslcollector_tunnel_frames_dropped_total)
dropped_before_b=$(metric "$stats/agent-b.prom" sslcollector_tunnel_frames_dropped_total)
outage_end=$((SECONDS + 5))
while ((SECONDS < outage_end)); do
	e2e_in client curl -sS --cacert "$E2E_PKI_DIR/ca.pem" -o /dev/null "https://$E2E_SERVER4/big.bin" ||
		e2e_fail "a download from host A failed during the outage"
	e2e_in clientb curl -sS --cacert "$E2E_PKI_DIR/ca.pem" -o /dev/null "https://$B_SERVER4/big.bin" ||
		e2e_fail "a download from host B failed during the outage"
done
# a new stats interval of each agent: its metrics include the outage
prom_await_fresh "$stats/agent-a.prom" && prom_await_fresh "$stats/agent-b.prom" ||
	e2e_fail "the agents' stats files were not written after the outage"
dropped_a=$(metric "$stats/agent-a.prom" sslcollector_tunnel_frames_dropped_total)
dropped_b=$(metric "$stats/agent-b.prom" sslcollector_tunnel_frames_dropped_total)
conns_before_a=$(metric "$stats/agent-a.prom" sslcollector_tunnel_connections_total)
conns_before_b=$(metric "$stats/agent-b.prom" sslcollector_tunnel_connections_total)
collector_start 2
restarted=$SECONDS
e2e_wait_until 45 "both agents to reconnect to the restarted collector" agents_connected 2
e2e_log "both agents reconnected $((SECONDS - restarted)) s after the restart"

# --- phase 3: after the reconnection ---------------------------------------------------------
workloads after
e2e_wait_until 30 "the agents' tunnel queues to empty (phase 3)" queues_empty
for h in a b; do
	e2e_stop "agent$h" TERM 30 || e2e_fail "agent $h did not exit cleanly (status $?)"
done
e2e_suricata_drain
e2e_capture_stop multihost
e2e_suricata_stop
e2e_stop collector TERM 15 || e2e_fail "the collector did not exit cleanly (status $?)"

# --- assertions ------------------------------------------------------------------------------
gt=$E2E_TMP/gt-all.json
e2e_py groundtruth merge "$gt" "$E2E_TMP"/gt-{before,after}-{a,b}.json
e2e_check "Suricata logs every request of both hosts, before and after the outage, with its URL, status and size, and the alerts on each host's connections" \
	e2e_py evetool check "$E2E_EVE" "$gt"
alerts_on() { # SERVER_IP: alerts on connections to that server
	jq -s --arg ip "$1" --argjson drain "$E2E_DRAIN_SID" '[.[] | select(.event_type == "alert" and (.dest_ip == $ip or .src_ip == $ip)
		and (.alert.signature_id != $drain))] | length' "$E2E_EVE"
}
e2e_check "rules alert on host A's connections ($(alerts_on "$E2E_SERVER4") alerts)" \
	test "$(alerts_on "$E2E_SERVER4")" -gt 0
e2e_check "rules alert on host B's connections ($(alerts_on "$B_SERVER4") alerts)" \
	test "$(alerts_on "$B_SERVER4")" -gt 0
e2e_check "host A's agent counted the frames of the outage as dropped ($dropped_before_a -> $dropped_a)" \
	test "$dropped_a" -gt "$dropped_before_a"
e2e_check "host B's agent counted the frames of the outage as dropped ($dropped_before_b -> $dropped_b)" \
	test "$dropped_b" -gt "$dropped_before_b"
e2e_check "host A's agent reconnected by itself (sessions $conns_before_a -> $(metric "$stats/agent-a.prom" sslcollector_tunnel_connections_total))" \
	test "$(metric "$stats/agent-a.prom" sslcollector_tunnel_connections_total)" -gt "$conns_before_a"
e2e_check "host B's agent reconnected by itself (sessions $conns_before_b -> $(metric "$stats/agent-b.prom" sslcollector_tunnel_connections_total))" \
	test "$(metric "$stats/agent-b.prom" sslcollector_tunnel_connections_total)" -gt "$conns_before_b"
e2e_check "the collector received both agents, by certificate subject" \
	grep -q 'agent="CN=host-b' "$stats/collector-2.prom"
records=$(metric "$stats/collector-2.prom" sslcollector_collector_records_received_total)
injected=$(metric "$stats/collector-2.prom" sslcollector_collector_frames_injected_total)
e2e_check "the agents' tunnel frames (forged for up to 64 KiB) were cut to the MTU of -o ($records received, $injected injected)" \
	test "$injected" -gt "$((records + records / 4))"
w_metric() { # FILE NAME: the sample of -w's output
	prom_sum "$1" "$2" 'output="-w '
}
written=$(($(w_metric "$stats/collector-1.prom" sslcollector_collector_frames_injected_total) +
	$(w_metric "$stats/collector-2.prom" sslcollector_collector_frames_injected_total)))
completed1=$(w_metric "$stats/collector-1.prom" sslcollector_collector_files_completed_total)
completed2=$(w_metric "$stats/collector-2.prom" sslcollector_collector_files_completed_total)
pcap_files() {
	find "$cpcap" -name 'all.2*.pcap' -printf '%f\n' |
		sed -E 's/^all\.([0-9T]+Z)(-([0-9]+))?\.pcap$/\1 \3 &/' | sort -k1,1 -k2,2n |
		awk -v d="$cpcap" '{ print d "/" $NF }'
	echo "$cpcap/all.pcap"
}
frames_in_files() {
	pcap_files | "$E2E_PY" -c 'import struct, sys
n = 0
for path in sys.stdin.read().split():
    d = open(path, "rb").read()
    off = 24
    while off + 16 <= len(d):
        off += 16 + struct.unpack_from("<I", d, off + 8)[0]
        n += 1
    assert off == len(d), path + ": a cut record"
print(n)'
}
files_ok() {
	local f size mode
	while read -r f; do
		size=$(stat -c %s "$f") mode=$(stat -c %a "$f")
		echo "$(basename "$f") $size bytes, mode $mode"
		((size <= 1048576)) && [[ $mode == 600 ]] || return 1
	done < <(pcap_files)
}
e2e_check "collector -w --rotate-size 1M: each file at most 1 MiB and private" files_ok
e2e_check "collector -w: files completed in both runs (run 1: $completed1, run 2: $completed2, the first run's last file included)" \
	test "$completed1" -ge 1 -a "$completed2" -ge 2
in_files=$(frames_in_files)
e2e_check "collector -w: the files hold exactly the frames both runs wrote ($in_files in the files, $written counted)" \
	test "$in_files" -eq "$written"

# tshark's TCP analysis (issue 19). The agents report the outage only as dropped frames, not
# per connection: the connections no workload made (the downloads during the outage) may have
# gaps anywhere; every connection of the ground truths must have none.
mapfile -t cfiles < <(pcap_files)
e2e_check "tshark's TCP analysis of the collector's -w files (in order): no forbidden flag outside the outage's downloads" \
	e2e_py tcpanalysis check "${cfiles[@]}" --allow-gaps-on "not-in:$gt"
e2e_check "tshark's TCP analysis of what Suricata received (m1): no forbidden flag outside the outage's downloads" \
	e2e_py tcpanalysis check "$E2E_CAPTURE_PCAP" --allow-gaps-on "not-in:$gt"
e2e_checks_done
