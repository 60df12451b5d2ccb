# shellcheck shell=bash
# tests/e2e/lib/e2e.sh — the end-to-end test library; a test sources this one file:
#
#   source "$(dirname "$0")/lib/e2e.sh"
#   e2e_setup                        # root check, tools, temp dir + trap, topology, PKI
#
# then uses the functions of netns.sh, nginx.sh, suricata.sh, mirror.sh and the Python tools
# (workload.py, evetool.py, pcaptool.py) through $E2E_PY. tests/e2e/README.md has the guide.

E2E_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_PY=/usr/bin/python3 # Debian's interpreter (scapy); python3 on PATH may be another one
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree

# shellcheck source=netns.sh
source "$E2E_LIB/netns.sh"
# shellcheck source=nginx.sh
source "$E2E_LIB/nginx.sh"
# shellcheck source=suricata.sh
source "$E2E_LIB/suricata.sh"
# shellcheck source=mirror.sh
source "$E2E_LIB/mirror.sh"
# shellcheck source=prom.sh
source "$E2E_LIB/prom.sh"

e2e_setup() {
	e2e_require_root
	e2e_require_cmds ip tc ethtool ss nginx openssl suricata curl dumpcap jq "$E2E_PY"
	"$E2E_PY" -c 'import scapy.all' 2>/dev/null ||
		e2e_fail "$E2E_PY cannot import scapy (install python3-scapy: scripts/install-deps.sh test)"
	e2e_init
	e2e_topology_create
	e2e_pki "$E2E_TMP/pki"
}

# e2e_workload GT_JSON [WORKLOAD ARGS...] BASE_URL...: run the workload in ns client.
e2e_workload() {
	local gt=$1
	shift
	e2e_register_log "workload" "$E2E_TMP/workload.log"
	e2e_in client "$E2E_PY" "$E2E_LIB/workload.py" --out "$gt" \
		--cafile "$E2E_PKI_DIR/ca.pem" "$@" >>"$E2E_TMP/workload.log" 2>&1 ||
		e2e_fail "the workload failed (log: $E2E_TMP/workload.log)"
	e2e_log "$(tail -n 1 "$E2E_TMP/workload.log")"
}

# e2e_py TOOL ARGS...: run one of the Python tools (evetool, pcaptool, ...) from lib/.
e2e_py() {
	local tool=$1
	shift
	"$E2E_PY" "$E2E_LIB/$tool.py" "$@"
}

# Assertions: e2e_check runs every check even after one failed, so a run reports all that is
# wrong; e2e_checks_done fails the test if any did.
E2E_FAILED_CHECKS=()

# e2e_check DESCRIPTION CMD...: run CMD (its output goes to stderr); remember a failure.
e2e_check() {
	local desc=$1
	shift
	e2e_log "check: $desc"
	if ! "$@" >&"$E2E_ERR" 2>&1; then
		printf '[%s] CHECK FAILED: %s\n' "$E2E_NAME" "$desc" >&"$E2E_ERR"
		E2E_FAILED_CHECKS+=("$desc")
	fi
}

e2e_checks_done() {
	local c
	if ((${#E2E_FAILED_CHECKS[@]})); then
		for c in "${E2E_FAILED_CHECKS[@]}"; do
			printf '[%s] failed: %s\n' "$E2E_NAME" "$c" >&"$E2E_ERR"
		done
		e2e_fail "${#E2E_FAILED_CHECKS[@]} check(s) failed"
	fi
}
