#!/usr/bin/env bash
# Issue 24: the Kubernetes DaemonSet of docs/kubernetes/, as far as no cluster is needed.
#  * its structure (tests/e2e/lib/k8s_manifest.py check): hostPID, not privileged, read-only
#    root, capabilities exactly those the agent keeps (agent/privileges.h), the node's cgroup
#    hierarchy mounted, every file the arguments name under a mount;
#  * its container's command line, run as written (paths mapped to this test's: the Secret's
#    directory, the metrics hostPath, PID 1's cgroup namespace -> this script's, as PID 1 of
#    this VM refuses it; the collector's address) with only the manifest's capabilities in
#    the bounding set: it starts, connects to a collector, keeps exactly those capabilities,
#    and the collector's pcap holds the plaintext of both namespaces' ends (the client's
#    VLAN-tagged), i.e. what the pod would mirror; a collector with --vlan-per-agent warns
#    that it replaces those tags (docs/kubernetes.md).
# `kubectl apply --dry-run=client` needs an API server to map the kinds, so it cannot run
# here; the pod's cgroup namespace and mounts are exercised by test_capture_containers.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/e2e.sh
source "$here/lib/e2e.sh"
top=$(cd "$here/../.." && pwd)
manifest=$top/docs/kubernetes/sslcollector-daemonset.yaml

e2e_require_cmds setpriv nsenter tshark
"$E2E_PY" -c 'import yaml' 2>/dev/null || e2e_fail "$E2E_PY cannot import yaml (python3-yaml)"
e2e_setup
SSLC_BIN=$(e2e_sslcollector_bin) || e2e_fail "no sslcollector binary: build it first"

e2e_check "the manifest's structure" e2e_py k8s_manifest check "$manifest" "$top/agent/privileges.h"

tpki=$E2E_TMP/tunnel-pki
"$top/scripts/make-certs.sh" -d "$tpki" -c 127.0.0.1 -a node-1 >"$E2E_TMP/make-certs.log" 2>&1 ||
	e2e_fail "scripts/make-certs.sh failed"
mkdir -p "$E2E_TMP/metrics"
# the manifest's command, its paths mapped to this test's
mapfile -t argv < <(e2e_py k8s_manifest command "$manifest" | sed \
	-e "s|^/etc/sslcollector/|$tpki/agents/node-1/|" \
	-e "s|^/var/lib/sslcollector/|$E2E_TMP/metrics/|" \
	-e "s|^--cgroup=/proc/1/ns/cgroup$|--cgroup=/proc/$$/ns/cgroup|" \
	-e "s|^COLLECTOR:57012$|127.0.0.1:7012|" \
	-e "s|^sslcollector$|$SSLC_BIN|")
e2e_log "the manifest's command here: ${argv[*]}"
caps=$(awk '/^ *add: \[/ { gsub(/[][",]/, " "); for (i = 2; i <= NF; i++) printf ",+%s", tolower($i) }' "$manifest")
[[ $caps == ,+sys_admin,+sys_ptrace ]] || e2e_fail "cannot read the manifest's capabilities ($caps)"

e2e_nginx_start 443:tls
e2e_bg collector server "$E2E_TMP/collector.log" "$SSLC_BIN" -C -l 127.0.0.1:7012 \
	-w "$E2E_TMP/collector.pcap" --ca "$tpki/ca.crt" --cert "$tpki/collector.crt" \
	--key "$tpki/collector.key"
e2e_wait_listen server 7012
e2e_bg agent server "$E2E_TMP/agent.log" setpriv --bounding-set="-all$caps" --inh-caps=-all \
	-- "${argv[@]}"
e2e_wait_file_match "$E2E_TMP/agent.log" "mirroring TLS on" 60
e2e_wait_file_match "$E2E_TMP/agent.log" "tunnel to .*: connected" 30
st=/proc/${E2E_PIDS[agent]}/status
e2e_check "the agent keeps CAP_SYS_ADMIN + CAP_SYS_PTRACE only" \
	test "$(awk '$1 == "CapEff:" { print $2 }' "$st")" = 0000000000280000
for i in 1 2 3; do
	e2e_in client curl -sS --cacert "$E2E_PKI_DIR/ca.pem" -o /dev/null \
		"https://$E2E_SERVER4/k8s-manifest-$i" || e2e_fail "curl $i failed"
done
e2e_wait_until 20 "the metrics file" test -s "$E2E_TMP/metrics/sslcollector.prom"
e2e_stop agent TERM 30 || e2e_fail "the agent did not exit 0"
e2e_stop collector TERM 20 || true
requests() { tshark -r "$E2E_TMP/collector.pcap" -Y "http.request.uri contains \"k8s-manifest\" $1" -T fields -e frame.number 2>/dev/null | wc -l; }
e2e_check "the requests reach the collector from the server's namespace (untagged)" \
	test "$(requests '&& !vlan')" -ge 3
e2e_check "and from the client's namespace (VLAN-tagged): every namespace is mirrored" \
	test "$(requests '&& vlan')" -ge 3
e2e_check "the metrics go to the manifest's metrics directory" \
	grep -q '^sslcollector_agent_netns_vlan{' "$E2E_TMP/metrics/sslcollector.prom"

# docs/kubernetes.md: a collector with --vlan-per-agent replaces the namespaces' tags, and says so
e2e_bg collector server "$E2E_TMP/collector-vpa.log" "$SSLC_BIN" -C -l 127.0.0.1:7012 \
	-w "$E2E_TMP/collector-vpa.pcap" --vlan-per-agent --ca "$tpki/ca.crt" \
	--cert "$tpki/collector.crt" --key "$tpki/collector.key"
e2e_wait_listen server 7012
e2e_bg agent server "$E2E_TMP/agent-vpa.log" setpriv --bounding-set="-all$caps" --inh-caps=-all \
	-- "${argv[@]}"
e2e_wait_file_match "$E2E_TMP/agent-vpa.log" "tunnel to .*: connected" 60
e2e_in client curl -sS --cacert "$E2E_PKI_DIR/ca.pem" -o /dev/null \
	"https://$E2E_SERVER4/k8s-manifest-vpa" || e2e_fail "curl through --vlan-per-agent failed"
e2e_check "--vlan-per-agent: the collector warns that it replaces the agent's namespace tags" \
	e2e_wait_file_match "$E2E_TMP/collector-vpa.log" \
	"agent CN=node-1 .* sends VLAN-tagged frames .*--vlan-per-agent replaces their tag" 20
e2e_stop agent TERM 30 || e2e_fail "the agent did not exit 0"
e2e_stop collector TERM 20 || true
e2e_checks_done
