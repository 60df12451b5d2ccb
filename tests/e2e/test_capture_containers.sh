#!/usr/bin/env bash
# Issue 24: one agent in the host's namespace mirrors the TLS of "containers" (network
# namespaces, each with a private mount namespace in which its own copy of libssl is bind-mounted
# over the system's), all of them on the same private addresses:
#
#   ns peer-a 10.1.0.1 ==veth== ns ct-a 10.1.0.2  nginx :443 (libssl copy A), selected by
#                                                   --netns /run/netns/...-ct-a
#   ns peer-b 10.1.0.1 ==veth== ns ct-b 10.1.0.2  nginx :443 (libssl copy B), selected by
#                                                   --cgroup .../docker-HEX.scope (its processes'
#                                                   cgroup, named as Docker names one)
#   host namespace: sslcollector -I any --netns ... --cgroup ... -w mirror.pcap --dump-dir D
#
# Phase 1, control: each container serves plain HTTP on 443; dumpcap in the container records
# what its veth carried; the workload runs from each peer.
# Phase 2, mirror: each container serves HTTPS; both workloads run at the same time, their curl
# connections from the same client port, so the two containers have a connection with the very
# same 5-tuple. Asserts:
#  * each libssl copy is probed once, found through the container's own mounts;
#  * the agent logs a VLAN id per namespace, different ones, also in the metrics; the cgroup's
#    container is named docker:HEX12 in the log, --print and the dump's metadata;
#  * --dump-dir: each container's connections (the dump's netns) byte-exact, server side;
#  * mirror.pcap: no untagged TCP frame; per VLAN, valid checksums and each container's bytes;
#  * suricata -r on the whole mirror.pcap: per VLAN, the http records and alerts the ground
#    truth predicts, and the same as that container's plaintext control.
# Phase 3, --netns all: a container started after the agent is mirrored from its first
# connection (byte-exact); stopped, it is forgotten (log, metrics).
# Phase 4: 100 short-lived containers (own namespace, own libssl copy, one loopback TLS
# connection each, all mirrored): afterwards every namespace is forgotten, every copy's probes
# removed (probed files and BPF links back to where they were), the agent's memory bounded.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
E2E_CLIENT4=10.1.0.1 E2E_SERVER4=10.1.0.2
# shellcheck source=lib/e2e.sh
source "$here/lib/e2e.sh"

e2e_require_root
e2e_require_cmds ip nginx openssl suricata curl dumpcap tshark jq unshare findmnt bpftool "$E2E_PY"
"$E2E_PY" -c 'import scapy.all' 2>/dev/null || e2e_fail "$E2E_PY cannot import scapy"
e2e_init
e2e_pki "$E2E_TMP/pki"
SSLC_BIN=$(e2e_sslcollector_bin)

libssl=$(readlink -f "$(ldd "$(command -v nginx)" | awk '/libssl\.so/ { print $3 }')")
[[ -f $libssl ]] || e2e_fail "cannot find nginx's libssl"
cgroot=$(findmnt -t cgroup2 -n -o TARGET | head -n 1)
[[ -n $cgroot ]] || e2e_fail "no cgroup v2 hierarchy mounted"
cghex=$(printf 'e2e%s' "$E2E_ID" | sha256sum | cut -c1-64)
cgslice=$cgroot/sslc-e2e-$E2E_ID.slice
cgb=$cgslice/docker-$cghex.scope
mkdir -p "$cgb"
# shellcheck disable=SC2016 # for eval at teardown
e2e_on_teardown "for _cg in $cgb $cgslice; do for _p in \$(cat \$_cg/cgroup.procs); do kill -9 \$_p; done; for _try in 1 2 3 4 5 6 7 8 9 10; do rmdir \$_cg && break; sleep 0.2; done; done"

# container X: ns ct-X (10.1.0.2) and its client ns peer-X (10.1.0.1), a libssl copy
container_add() {
	local x=$1
	e2e_netns_add "ct-$x"
	e2e_netns_add "peer-$x"
	e2e_veth "peer-$x" "p$x-$E2E_ID" "ct-$x" "k$x-$E2E_ID"
	e2e_addr "peer-$x" "p$x-$E2E_ID" "$E2E_CLIENT4/24"
	e2e_addr "ct-$x" "k$x-$E2E_ID" "$E2E_SERVER4/24"
	cp "$libssl" "$E2E_TMP/libssl-$x.so"
}
netns_inode() { stat -L -c %i "/run/netns/$(e2e_ns "ct-$1")"; }

# container_nginx X LISTEN [CGROUP]: nginx in ct-X, in a mount namespace of its own where its
# libssl copy replaces the system's; started inside CGROUP when given (from the host's side:
# ip netns exec mounts a /sys of the namespace, without the cgroup hierarchy).
container_nginx() {
	local x=$1 d=$E2E_TMP/nginx-$1 cg=${3:-/}
	mkdir -p "$d"
	[[ -f $d/html/big.bin ]] || e2e_py content docroot "$d/html" || e2e_fail "no docroot"
	e2e_nginx_conf "$d" "$2"
	[[ ! -f $d/access.log ]] || mv "$d/access.log" "$d/access.$EPOCHREALTIME.log"
	[[ $cg == / ]] && cg=$cgroot/$(awk -F: '$1 == 0 { print $3 }' /proc/self/cgroup)
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
		ip netns exec "$(e2e_ns "ct-$x")" unshare -m --propagation private sh -c \
		'mount --bind "$1" "$3" && exec nginx -p "$2" -e "$2/error.log" -c "$2/nginx.conf" \
			-g "daemon off;"' sh "$E2E_TMP/libssl-$x.so" "$d" "$libssl" \
		>"$d/stdout.log" 2>&1 {E2E_ERR}>&- &
	E2E_PIDS[nginx-$x]=$!
	e2e_register_log "nginx-$x" "$d/stdout.log"
	e2e_register_log "nginx $x error.log" "$d/error.log"
	e2e_wait_listen "ct-$x" "${2%%:*}" 10
}

container_add a
container_add b
ina=$(netns_inode a) inb=$(netns_inode b)
e2e_log "containers: ct-a netns $ina, ct-b netns $inb (cgroup $cgb)"

# --- phase 1: plaintext controls ------------------------------------------------------------
for x in a b; do
	cg=""
	[[ $x == b ]] && cg=$cgb
	container_nginx "$x" 443:plain "$cg"
	e2e_bg "capture-$x" "ct-$x" "$E2E_TMP/control-$x.dumpcap.log" \
		dumpcap -q -P -B 64 -i "k$x-$E2E_ID" -s 0 -w "$E2E_TMP/control-$x.pcap"
	e2e_wait_until 20 "dumpcap in ct-$x" test -s "$E2E_TMP/control-$x.pcap"
	e2e_in "peer-$x" "$E2E_PY" "$E2E_LIB/workload.py" --out "$E2E_TMP/control-$x-gt.json" \
		--host-no-port --curl-local-port 40001 "http://$E2E_SERVER4:443/" \
		>"$E2E_TMP/control-$x-workload.log" 2>&1 ||
		e2e_fail "control workload $x failed ($E2E_TMP/control-$x-workload.log)"
	sleep 0.5 # dumpcap's ring to its file
	e2e_stop "capture-$x" TERM 20 || true
	e2e_stop "nginx-$x" QUIT 10 || true
done

# --- phase 2: the mirror of both containers, with the same addresses ----------------------
for x in a b; do
	cg=""
	[[ $x == b ]] && cg=$cgb
	container_nginx "$x" 443:tls "$cg"
done
dump=$E2E_TMP/dump stats=$E2E_TMP/stats.prom pcap=$E2E_TMP/mirror.pcap
# the agent runs in the host's namespace (e2e_bg starts commands in a test namespace)
"$SSLC_BIN" -I any --netns "/run/netns/$(e2e_ns ct-a)" --cgroup "$cgb" -w "$pcap" \
	--dump-dir "$dump" --print --stats-file "$stats" --stats-interval 1 \
	>"$E2E_TMP/agent.log" 2>&1 {E2E_ERR}>&- &
E2E_PIDS[agent]=$!
e2e_register_log agent "$E2E_TMP/agent.log"
e2e_wait_file_match "$E2E_TMP/agent.log" "mirroring TLS on"
for x in a b; do
	e2e_bg "workload-$x" "peer-$x" "$E2E_TMP/mirror-$x-workload.log" "$E2E_PY" \
		"$E2E_LIB/workload.py" --out "$E2E_TMP/mirror-$x-gt.json" --cafile "$E2E_PKI_DIR/ca.pem" \
		--host-no-port --curl-local-port 40002 "https://$E2E_SERVER4/"
done
for x in a b; do
	wait "${E2E_PIDS[workload-$x]}" || e2e_fail "mirror workload $x failed ($E2E_TMP/mirror-$x-workload.log)"
	unset "E2E_PIDS[workload-$x]"
done
prom_await_settled "$stats" 30 || e2e_log "the mirror still has open connections after 30 s"
e2e_stop agent TERM 20 || e2e_fail "the agent did not exit cleanly"
for x in a b; do e2e_stop "nginx-$x" QUIT 10 || true; done

vlan_of() { sed -n "s/.*network namespace $1: VLAN \([0-9]*\) .*/\1/p" "$E2E_TMP/agent.log" | head -n 1; }
va=$(vlan_of "$ina") vb=$(vlan_of "$inb")
e2e_log "VLANs: ct-a $va, ct-b $vb"

check_probed_once() {
	local n
	n=$(grep -c "probing .*libssl.* (in use by nginx" "$E2E_TMP/agent.log" || true)
	((n == 2)) || { echo "$n nginx libssl probes logged, expected 2 (one per copy)"; return 1; }
}
e2e_check "each container's libssl copy is probed once" check_probed_once
check_vlans() {
	[[ -n $va && -n $vb ]] || { echo "no VLAN logged for a namespace (a '$va', b '$vb')"; return 1; }
	((va != vb && va > 0 && vb > 0)) || { echo "VLANs $va and $vb"; return 1; }
	grep -q "network namespace $inb: VLAN $vb (.*container docker:${cghex:0:12}, namespace id [1-9]" "$E2E_TMP/agent.log" ||
		{ echo "ct-b's log line does not name its cgroup's container docker:${cghex:0:12}"; return 1; }
	grep -qE "sslcollector_agent_netns_vlan\{netns=\"$ina\",netns_id=\"[0-9]+\",container=\"\"\} $va$" "$stats" &&
		grep -qE "sslcollector_agent_netns_vlan\{netns=\"$inb\",netns_id=\"[0-9]+\",container=\"docker:${cghex:0:12}\"\} $vb$" "$stats" ||
		{ echo "the metrics do not map the namespaces to their VLANs:"; grep netns_vlan "$stats"; return 1; }
	grep -q "netns $inb vlan $vb container docker:${cghex:0:12} " "$E2E_TMP/agent.log" ||
		{ echo "--print does not label ct-b's events"; return 1; }
}
e2e_check "a VLAN id per namespace, logged, in the metrics and --print" check_vlans
for x in a b; do
	in=$ina
	[[ $x == b ]] && in=$inb
	e2e_check "dump: container $x's connections byte-exact under its namespace" \
		e2e_py dumptool check "$dump" "$E2E_TMP/mirror-$x-gt.json" --netns "$in"
done
check_dump_labels() {
	local f
	f=$(grep -l "\"netns\": $inb," "$dump"/conn-*-ns"$inb".json | head -n 1)
	[[ -n $f ]] || { echo "no dump file named after ct-b's namespace"; return 1; }
	jq -e --arg c "docker:${cghex:0:12}" --argjson v "$vb" '.container == $c and .vlan == $v' "$f"
}
e2e_check "dump: ct-b's metadata name its VLAN and container" check_dump_labels
untagged() {
	local n
	n=$(tshark -r "$pcap" -Y 'tcp && !vlan' -T fields -e frame.number | wc -l)
	((n == 0)) || { echo "$n untagged TCP frames in mirror.pcap"; return 1; }
}
e2e_check "mirror.pcap: every frame of the containers carries a VLAN tag" untagged
same_tuple() {
	local n
	n=$(tshark -r "$pcap" -Y 'tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.srcport == 40002' \
		-T fields -e vlan.id | sort -u | wc -l)
	((n == 2)) || { echo "the same-5-tuple connection opens under $n VLANs, expected 2"; return 1; }
}
e2e_check "mirror.pcap: the same 5-tuple in both containers, under two VLANs" same_tuple
for x in a b; do
	v=$va
	[[ $x == b ]] && v=$vb
	tshark -r "$pcap" -Y "vlan.id == $v" -F pcap -w "$E2E_TMP/mirror-$x.pcap"
	e2e_check "mirror.pcap, VLAN $v: valid checksums, container $x's bytes" \
		e2e_py pcaptool check "$E2E_TMP/mirror-$x.pcap" --gt "$E2E_TMP/mirror-$x-gt.json"
done

# suricata -r: the controls, and the whole mirror (both VLANs in one run)
s=$E2E_TMP/suricata
mkdir -p "$s"
e2e_suricata_conf "$s"
run_suricata() { # NAME PCAP
	mkdir -p "$s/$1"
	e2e_register_log "suricata -r $1" "$s/$1/suricata.log"
	timeout 180 suricata -r "$2" -c "$s/suricata.yaml" -l "$s/$1" --runmode single \
		>"$s/$1/stdout.log" 2>&1 || e2e_fail "suricata -r $2 failed"
}
run_suricata control-a "$E2E_TMP/control-a.pcap"
run_suricata control-b "$E2E_TMP/control-b.pcap"
run_suricata mirror "$pcap"
for x in a b; do
	v=$va
	[[ $x == b ]] && v=$vb
	# this VLAN's records, and the ones of no flow (stats)
	jq -c --argjson v "$v" 'select(.vlan == null and .flow_id == null or .vlan[0]? == $v)' \
		"$s/mirror/eve.json" >"$s/mirror-$x.json"
	e2e_check "Suricata, VLAN $v: the http records and alerts of container $x's ground truth" \
		e2e_py evetool check --strict-stream "$s/mirror-$x.json" "$E2E_TMP/mirror-$x-gt.json"
	e2e_check "Suricata, VLAN $v: the same records and alerts as container $x's control" \
		e2e_py evetool compare "$s/control-$x/eve.json" "$s/mirror-$x.json" --names control mirror
done

# --- phase 3: --netns all, a container started after the agent -----------------------------
# The agent runs as docs/kubernetes/sslcollector-daemonset.yaml runs it: in a pod's cgroup,
# with a cgroup namespace of its own whose /sys/fs/cgroup shows only the pod's subtree, the
# host's whole hierarchy mounted elsewhere too (the manifest's /host/sys/fs/cgroup; mounted
# after the pod's own, so the agent must choose it, not take the first), and re-entering the
# host's cgroup namespace with nsenter (the manifest: that of PID 1; here that of this script,
# as PID 1 of this VM refuses it) so that other processes' cgroup paths are whole. The late
# container runs in a containerd-named cgroup of a pod.
dump3=$E2E_TMP/dump-all stats3=$E2E_TMP/stats-all.prom
agent_cg=$cgslice/kubepods-podsslc$E2E_ID.slice
cchex=$(printf 'c%s' "$E2E_ID" | sha256sum | cut -c1-64)
cgc=$cgslice/kubepods-pod$E2E_ID.slice/cri-containerd-$cchex.scope
mkdir -p "$agent_cg" "$cgc" "$E2E_TMP/host-cgroup"
# shellcheck disable=SC2016 # for eval at teardown
e2e_on_teardown "for _cg in $cgc ${cgc%/*} $agent_cg; do for _p in \$(cat \$_cg/cgroup.procs); do kill -9 \$_p; done; for _try in 1 2 3 4 5 6 7 8 9 10; do rmdir \$_cg && break; sleep 0.2; done; done"
cat >"$E2E_TMP/pod.sh" <<'EOF2'
#!/bin/sh
# pod.sh CGROUP CGROOT HOSTCG HOSTPID CMD...: CMD as a pod's container with the manifest's
# mounts runs it; each step re-executes this script in the namespace the step before made.
set -e
cg=$1 root=$2 hostcg=$3 host=$4
case ${POD_STEP:-0} in
0) echo $$ >"$cg/cgroup.procs"
   POD_STEP=1 exec unshare -m --propagation private -- "$0" "$@" ;;
1) umount -l "$root"
   POD_STEP=2 exec unshare -C -- "$0" "$@" ;;
2) mount -t cgroup2 none "$root" # the pod's own view: its subtree
   POD_STEP=3 exec nsenter --cgroup="/proc/$host/ns/cgroup" -- "$0" "$@" ;;
3) mount -t cgroup2 none "$hostcg" # the host's hierarchy (hostPath /sys/fs/cgroup)
   shift 4
   unset POD_STEP
   exec "$@" ;;
esac
EOF2
chmod +x "$E2E_TMP/pod.sh"
# memory freed must show in RSS: no ASan quarantine holding it (the test build)
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0 "$E2E_TMP/pod.sh" \
	"$agent_cg" "$cgroot" "$E2E_TMP/host-cgroup" $$ \
	"$SSLC_BIN" -I any --netns all -w /dev/null --dump-dir "$dump3" --stats-file "$stats3" \
	--stats-interval 1 >"$E2E_TMP/agent-all.log" 2>&1 {E2E_ERR}>&- &
E2E_PIDS[agent-all]=$!
e2e_register_log "agent --netns all" "$E2E_TMP/agent-all.log"
e2e_wait_file_match "$E2E_TMP/agent-all.log" "mirroring TLS on"
container_add c
inc=$(netns_inode c)
container_nginx c 443:tls "$cgc"
e2e_wait_file_match "$E2E_TMP/agent-all.log" \
	"probing .*libssl.* \(in use by nginx\[${E2E_PIDS[nginx-c]}\]" 10
e2e_in peer-c "$E2E_PY" "$E2E_LIB/workload.py" --out "$E2E_TMP/late-gt.json" \
	--cafile "$E2E_PKI_DIR/ca.pem" "https://$E2E_SERVER4/" >"$E2E_TMP/late-workload.log" 2>&1 ||
	e2e_fail "the late container's workload failed"
prom_await_settled "$stats3" 30 || e2e_log "the mirror still has open connections after 30 s"
e2e_check "a container started after the agent: mirrored from its first connection" \
	e2e_py dumptool check "$dump3" "$E2E_TMP/late-gt.json" --netns "$inc"
e2e_check "the agent in a pod's cgroup namespace names the late container containerd:${cchex:0:12}" \
	grep -qE "network namespace $inc: VLAN [0-9]+ \(pid [0-9]+ nginx, cgroup /sslc-e2e-$E2E_ID.slice/kubepods-pod$E2E_ID.slice/cri-containerd-$cchex.scope, container containerd:${cchex:0:12}," "$E2E_TMP/agent-all.log"
e2e_stop nginx-c QUIT 10 || true
for ns in ct-c peer-c; do
	ip netns del "$(e2e_ns "$ns")"
done
e2e_check "the stopped container's namespace is forgotten" \
	e2e_wait_file_match "$E2E_TMP/agent-all.log" "network namespace $inc: forgotten \(VLAN [0-9]+," 20

# --- phase 4: 100 short-lived containers ----------------------------------------------------
agent_pid=${E2E_PIDS[agent-all]}
# the uprobe links of libssl files (only our agent probes them here; this bpftool shows no pids)
agent_links() { bpftool link show 2>/dev/null | grep -cE '^\s*uret?probe .*libssl' || true; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$agent_pid/status"; }
short_lived() { # I
	local ns=sl-$1 d=$E2E_TMP/sl
	mkdir -p "$d"
	e2e_netns_add "$ns"
	cp "$libssl" "$d/libssl.so"
	rm -f "$d/ready" "$d/go"
	e2e_bg short "$ns" "$d/out.log" unshare -m --propagation private sh -c \
		'mount --bind "$1" "$2" && exec "$3" "$4" loopback --cert "$5" --key "$6" \
			--ready "$7/ready" --go "$7/go"' sh "$d/libssl.so" "$libssl" "$E2E_PY" \
		"$E2E_LIB/tls_clients.py" "$E2E_PKI_DIR/server.pem" "$E2E_PKI_DIR/server.key" "$d"
	e2e_wait_until 20 "short-lived container $1 to start" test -e "$d/ready"
	e2e_wait_until 10 "the agent to probe container $1's libssl" \
		grep -qE "probing .*libssl.* \(in use by python3\[${E2E_PIDS[short]}\]" "$E2E_TMP/agent-all.log"
	touch "$d/go"
	wait "${E2E_PIDS[short]}" || e2e_fail "short-lived container $1 failed ($d/out.log)"
	unset "E2E_PIDS[short]"
	ip netns del "$(e2e_ns "$ns")" # the teardown's del of it again is harmless
	rm -f "$d/libssl.so"
}
prom_await "$stats3" sslcollector_agent_netns_forgotten_total 1 10 >/dev/null || true
sleep 6 # one forgetting round and one full rescan after phase 3
files0=$(prom_value "$stats3" sslcollector_agent_probed_files)
links0=$(agent_links)
for i in $(seq 1 50); do short_lived "$i"; done
rss50=$(rss_kib)
for i in $(seq 51 100); do short_lived "$i"; done
rss100=$(rss_kib)
last=$SECONDS
forgotten_all() {
	local f r
	f=$(prom_value "$stats3" sslcollector_agent_netns_forgotten_total)
	r=$(prom_value "$stats3" sslcollector_agent_probed_files_removed_total)
	((f >= 101 && r >= 100)) && (($(prom_value "$stats3" sslcollector_agent_probed_files) <= files0)) &&
		(($(agent_links) <= links0))
}
for ((i = 0; i < 600; i++)); do forgotten_all && break; sleep 0.1; done
freed_after=$((SECONDS - last))
files1=$(prom_value "$stats3" sslcollector_agent_probed_files)
links1=$(agent_links)
e2e_log "100 short-lived containers: namespaces forgotten $(prom_value "$stats3" \
	sslcollector_agent_netns_forgotten_total), probed files $files0 -> $files1 (removed" \
	"$(prom_value "$stats3" sslcollector_agent_probed_files_removed_total)), BPF links" \
	"$links0 -> $links1 (${freed_after} s after the last container), RSS ${rss50} KiB after" \
	"50, ${rss100} KiB after 100"
check_mirrored_all() {
	local n
	n=$(cat "$dump3"/conn-*.json | jq -s '[.[] | select(.local | startswith("127.0.0.1:"))] | length')
	((n >= 100)) || { echo "$n loopback connections of the short-lived containers mirrored, expected 100"; return 1; }
}
e2e_check "every short-lived container's connection was mirrored" check_mirrored_all
check_freed() {
	forgotten_all || { echo "namespaces forgotten $(prom_value "$stats3" sslcollector_agent_netns_forgotten_total) (want >= 101), files removed $(prom_value "$stats3" sslcollector_agent_probed_files_removed_total) (want >= 100), probed $files1 (was $files0)"; return 1; }
	((links1 <= links0)) || { echo "BPF links $links0 -> $links1"; return 1; }
	((rss100 - rss50 < 8192)) || { echo "RSS grew by $((rss100 - rss50)) KiB from 50 to 100 containers"; return 1; }
}
e2e_check "the stopped containers are forgotten: namespaces, probes and links freed, memory bounded" check_freed
e2e_stop agent-all TERM 60 || e2e_fail "the --netns all agent did not exit cleanly"
e2e_checks_done
