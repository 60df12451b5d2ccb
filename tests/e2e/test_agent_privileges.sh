#!/usr/bin/env bash
# Issue 20: least privilege. The agent, started as root with -o, -w and -t, keeps after its
# start only CAP_SYS_ADMIN (new uprobes) and CAP_SYS_PTRACE (other users' /proc entries):
# effective, permitted and bounding sets are exactly those, inheritable and ambient empty,
# no_new_privs set; its tunnel thread holds none. A library first mapped after the drop (a
# copy of libssl, run by curl) is still probed and mirrored. Started with only the set that
# was documented (CAP_BPF, CAP_PERFMON, CAP_NET_RAW), it fails and names what is missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/e2e.sh
source "$here/lib/e2e.sh"
top=$(cd "$here/../.." && pwd)

e2e_setup
SSLC_BIN=$(e2e_sslcollector_bin) || e2e_fail "no sslcollector binary: build it first"
KEEP=0000000000280000 # CAP_SYS_ADMIN (21) | CAP_SYS_PTRACE (19)

tpki=$E2E_TMP/tunnel-pki
"$top/scripts/make-certs.sh" -d "$tpki" -c 127.0.0.1 -a host-a >"$E2E_TMP/make-certs.log" 2>&1 ||
	e2e_fail "scripts/make-certs.sh failed"
e2e_nginx_start 443:tls
e2e_bg collector server "$E2E_TMP/collector.log" "$SSLC_BIN" -C -l 127.0.0.1:7010 \
	-w "$E2E_TMP/collector.pcap" --ca "$tpki/ca.crt" --cert "$tpki/collector.crt" \
	--key "$tpki/collector.key"
e2e_wait_listen server 7010
pcap=$E2E_TMP/agent.pcap
e2e_bg agent server "$E2E_TMP/agent.log" "$SSLC_BIN" -I any -o "$E2E_IF_MIRROR" -w "$pcap" \
	-t 127.0.0.1:7010 --ca "$tpki/agents/host-a/ca.crt" \
	--cert "$tpki/agents/host-a/agent.crt" --key "$tpki/agents/host-a/agent.key"
e2e_wait_file_match "$E2E_TMP/agent.log" "mirroring TLS on" 60
e2e_wait_file_match "$E2E_TMP/agent.log" "tunnel to .*: connected" 30
pid=${E2E_PIDS[agent]}

field() { awk -v f="$1:" '$1 == f { print $2 }' "$2"; }
st=/proc/$pid/status
e2e_log "agent $pid: $(grep -E '^(Cap|NoNewPrivs)' "$st" | tr '\n\t' '  ')"
for f in CapEff CapPrm CapBnd; do
	e2e_check "$f is CAP_SYS_ADMIN + CAP_SYS_PTRACE only (got $(field "$f" "$st"))" \
		test "$(field "$f" "$st")" = "$KEEP"
done
for f in CapInh CapAmb; do
	e2e_check "$f is empty" test "$(field "$f" "$st")" = 0000000000000000
done
e2e_check "no_new_privs is set" test "$(field NoNewPrivs "$st")" = 1
none=0 over=0
for t in /proc/"$pid"/task/*/status; do
	eff=$(field CapEff "$t")
	[[ $eff != 0000000000000000 ]] || none=$((none + 1))
	[[ $eff == 0000000000000000 || $eff == "$KEEP" ]] || over=$((over + 1))
done
e2e_check "no thread holds more than the kept set ($over do)" test "$over" -eq 0
e2e_check "the tunnel's thread holds nothing ($none threads without capabilities)" \
	test "$none" -ge 1

# a libssl no process had mapped before the drop: probed and mirrored all the same
lib=$E2E_TMP/lib
mkdir -p "$lib"
cp "$(ldconfig -p | awk '/libssl.so.3 .*x86-64/ { print $NF; exit }')" "$lib/libssl.so.3"
# the first request maps the copy (the agent probes it at once, or at its next scan); once the
# log says so, the next ones go through the probes
e2e_in server env LD_LIBRARY_PATH="$lib" curl -sS --cacert "$E2E_PKI_DIR/ca.pem" \
	-o /dev/null "https://$E2E_SERVER4/after-the-drop-0" || true
e2e_wait_file_match "$E2E_TMP/agent.log" "probing $lib/libssl.so.3" 15
for i in 1 2; do
	e2e_in server env LD_LIBRARY_PATH="$lib" curl -sS --cacert "$E2E_PKI_DIR/ca.pem" \
		-o /dev/null "https://$E2E_SERVER4/after-the-drop-$i" || true
done
e2e_stop agent TERM 30 || e2e_fail "the agent did not exit 0"
e2e_check "a request through it is mirrored" grep -qaF "GET /after-the-drop-" "$pcap"
e2e_stop collector TERM 20 || true

# the set the README once documented: not enough on this kernel, and the agent says so
rc=0
e2e_in server timeout 60 setpriv --bounding-set=-all,+bpf,+perfmon,+net_raw --inh-caps=-all \
	"$SSLC_BIN" -I any -w "$E2E_TMP/few.pcap" >"$E2E_TMP/few.log" 2>&1 || rc=$?
e2e_log "with CAP_BPF, CAP_PERFMON, CAP_NET_RAW: exit $rc: $(grep -m1 error "$E2E_TMP/few.log" || true)"
e2e_check "too few capabilities: exit non-zero, not 0 (got $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
e2e_check "too few capabilities: names CAP_SYS_ADMIN" grep -q "missing: CAP_SYS_ADMIN" \
	"$E2E_TMP/few.log"

e2e_checks_done
