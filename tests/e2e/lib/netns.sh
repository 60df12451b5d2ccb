# shellcheck shell=bash
# tests/e2e/lib/netns.sh — the end-to-end topology (three network namespaces joined by two veth
# pairs), background processes tracked by pid, one EXIT trap that tears everything down, and
# wait-for helpers. Sourced through lib/e2e.sh; see tests/e2e/README.md.
#
#   ns client                 ns server                               ns ids
#   c-ID 10.77.0.1/24  ==veth== s-ID 10.77.0.2/24  nginx :80 :443
#        fd77::1/64                fd77::2/64
#                                  m0-ID (no address) ====veth==== m1-ID  Suricata -i m1-ID
#
# Every name carries E2E_ID (default: this shell's pid), so parallel runs never clash, and the
# veth ends are created directly inside their namespaces (nothing appears in the root one).

E2E_SKIP=77 # ctest SKIP_RETURN_CODE; used only when not root (never in CI, see e2e_require_root)

E2E_ID=${E2E_ID:-$$}
E2E_NAME=${E2E_NAME:-$(basename "$0" .sh)}
E2E_NS_CLIENT=sslc-e2e-$E2E_ID-client
E2E_NS_SERVER=sslc-e2e-$E2E_ID-server
E2E_NS_IDS=sslc-e2e-$E2E_ID-ids
E2E_IF_CLIENT=c-$E2E_ID     # in ns client, peer of E2E_IF_SERVER
E2E_IF_SERVER=s-$E2E_ID     # in ns server: the interface the agent mirrors (-I)
E2E_IF_MIRROR=m0-$E2E_ID    # in ns server: where mirrored frames are sent (-o)
E2E_IF_IDS=m1-$E2E_ID       # in ns ids: what Suricata listens on
E2E_CLIENT4=${E2E_CLIENT4:-10.77.0.1} # addresses are per namespace: no clash between runs
E2E_SERVER4=${E2E_SERVER4:-10.77.0.2}
E2E_CLIENT6=${E2E_CLIENT6:-fd77::1}
E2E_SERVER6=${E2E_SERVER6:-fd77::2}

E2E_TMP=
declare -ga E2E_NAMESPACES=() # full names of the namespaces this test created
declare -gA E2E_PIDS=()      # name -> pid of a background process started by e2e_bg
declare -ga E2E_LOGS=()      # "description|file" printed (tail) when the test fails
declare -ga E2E_CLEANUPS=()  # extra commands run (in reverse order) by the teardown

# Messages go to a copy of the original stderr, so they survive redirections such as the
# >/dev/null of a polled command.
exec {E2E_ERR}>&2
e2e_log() { printf '[%s %(%T)T] %s\n' "$E2E_NAME" -1 "$*" >&"$E2E_ERR"; }

# e2e_fail MESSAGE: stop the test with a message; the EXIT trap prints logs and tears down.
e2e_fail() {
	printf '[%s] FAIL: %s\n' "$E2E_NAME" "$*" >&"$E2E_ERR"
	exit 1
}

e2e_skip() {
	printf '[%s] SKIP: %s\n' "$E2E_NAME" "$*" >&"$E2E_ERR"
	exit "$E2E_SKIP"
}

# Not root: skip with E2E_SKIP, unless CI (or SSLC_E2E_REQUIRE=1) says these tests must run.
e2e_require_root() {
	if [[ $(id -u) != 0 ]]; then
		if [[ -n ${CI:-} || ${SSLC_E2E_REQUIRE:-0} == 1 ]]; then
			e2e_fail "end-to-end tests need root (network namespaces, BPF); CI must run them as root"
		fi
		e2e_skip "not root: end-to-end tests need root (network namespaces, BPF)"
	fi
}

# e2e_require_cmds CMD...: a missing tool is a failure, not a skip (scripts/install-deps.sh test).
e2e_require_cmds() {
	local c missing=()
	for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
	((${#missing[@]} == 0)) ||
		e2e_fail "missing ${missing[*]} (install them with: scripts/install-deps.sh test)"
}

# e2e_register_log DESCRIPTION FILE: print the tail of FILE if the test fails.
e2e_register_log() {
	local e
	for e in "${E2E_LOGS[@]}"; do [[ $e != "$1|$2" ]] || return 0; done
	E2E_LOGS+=("$1|$2")
}

# e2e_on_teardown COMMAND...: run COMMAND (a string for eval) at teardown, newest first.
e2e_on_teardown() { E2E_CLEANUPS+=("$*"); }

# e2e_init: temp dir and the EXIT trap. Call first (e2e.sh's e2e_setup does).
e2e_init() {
	E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/sslc-e2e-$E2E_ID.XXXXXX")
	chmod 0755 "$E2E_TMP"
	trap 'e2e_teardown $?' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	e2e_log "temp dir $E2E_TMP, namespaces sslc-e2e-$E2E_ID-*"
}

e2e_print_logs() {
	local entry desc file
	for entry in "${E2E_LOGS[@]}"; do
		desc=${entry%%|*} file=${entry#*|}
		[[ -s $file ]] || continue
		printf -- '----- %s (%s, last 40 lines) -----\n' "$desc" "$file" >&"$E2E_ERR"
		tail -n 40 "$file" >&"$E2E_ERR"
	done
}

# Everything goes to E2E_ERR: a signal may arrive while stderr is redirected (polled commands).
e2e_teardown() {
	local rc=$1 i name ns pid
	trap - EXIT INT TERM
	set +e
	if ((rc != 0)); then
		e2e_print_logs
	fi
	for ((i = ${#E2E_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${E2E_CLEANUPS[i]}" >/dev/null 2>&1
	done
	for name in "${!E2E_PIDS[@]}"; do
		e2e_stop "$name" TERM 5 >/dev/null 2>&1
	done
	for ns in "${E2E_NAMESPACES[@]}"; do
		# Anything still running inside our own namespaces was started by this test.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	if [[ -n $E2E_TMP && -d $E2E_TMP ]]; then
		if [[ ${E2E_KEEP:-0} == 1 ]]; then
			printf '[%s] E2E_KEEP=1: kept %s\n' "$E2E_NAME" "$E2E_TMP" >&"$E2E_ERR"
		else
			rm -rf "$E2E_TMP"
		fi
	fi
	if ((rc == 0)); then
		printf '[%s] PASS\n' "$E2E_NAME" >&"$E2E_ERR"
	elif ((rc != E2E_SKIP)); then
		printf '[%s] FAILED (exit %d)\n' "$E2E_NAME" "$rc" >&"$E2E_ERR"
	fi
	exit "$rc"
}

# e2e_netns_add NS: create network namespace sslc-e2e-ID-NS (NS a short name such as "client";
# e2e_in and e2e_bg accept it) with lo up; it is deleted at teardown, with anything still
# running in it.
e2e_netns_add() {
	local ns=sslc-e2e-$E2E_ID-$1
	ip netns add "$ns" || e2e_fail "cannot create network namespace $ns (left over from a killed run? ip netns del $ns)"
	E2E_NAMESPACES+=("$ns")
	ip -n "$ns" link set lo up
}

# e2e_veth NS_A IF_A NS_B IF_B: a veth pair with its ends created directly in the two
# namespaces, up. TX checksum offload is off on both ends, so frames copied by tc or captured
# carry their final checksums instead of CHECKSUM_PARTIAL placeholders (that also turns TSO
# off: no frame exceeds the MTU). Receive packet steering sends both ends' frames to one CPU's
# backlog, in the order they were sent: without it tc's copy of a data segment (egress of the
# server veth) and of its ACK (ingress) can sit on different CPUs and reach Suricata ACK first,
# and Suricata records a gap for data it sees a moment later. E2E_RPS_MASK (default 1).
e2e_veth() {
	local nsa nsb
	nsa=$(e2e_ns "$1") nsb=$(e2e_ns "$3")
	ip link add "$2" netns "$nsa" type veth peer name "$4" netns "$nsb" ||
		e2e_fail "cannot create veth $2 ($nsa) / $4 ($nsb)"
	_e2e_link_setup "$nsa" "$2"
	_e2e_link_setup "$nsb" "$4"
}
_e2e_link_setup() {
	ip netns exec "$1" ethtool -K "$2" tx off >/dev/null || e2e_fail "cannot turn TX offload off on $2"
	ip netns exec "$1" sh -c "echo ${E2E_RPS_MASK:-1} > /sys/class/net/$2/queues/rx-0/rps_cpus" ||
		e2e_fail "cannot set RPS on $2"
	ip -n "$1" link set "$2" up
}

# e2e_addr NS IFACE ADDR/PREFIX...: IPv4 and IPv6 addresses (IPv6 without duplicate address
# detection, usable at once).
e2e_addr() {
	local ns a
	ns=$(e2e_ns "$1")
	for a in "${@:3}"; do
		if [[ $a == *:* ]]; then
			ip -n "$ns" addr add "$a" dev "$2" nodad
		else
			ip -n "$ns" addr add "$a" dev "$2"
		fi || e2e_fail "cannot add $a to $2 in $ns"
	done
}

# e2e_no_ipv6 NS IFACE: no IPv6 on IFACE (a mirror link: no router solicitations or MLD
# chatter reaching Suricata).
e2e_no_ipv6() {
	e2e_in "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
}

# e2e_topology_create: the standard topology (see the top of this file).
e2e_topology_create() {
	e2e_netns_add client
	e2e_netns_add server
	e2e_netns_add ids
	e2e_veth client "$E2E_IF_CLIENT" server "$E2E_IF_SERVER"
	e2e_veth server "$E2E_IF_MIRROR" ids "$E2E_IF_IDS"
	if [[ -n ${SSLC_E2E_MIRROR_MTU:-} ]]; then # the README's large-MTU mirror link
		ip -n "$E2E_NS_SERVER" link set "$E2E_IF_MIRROR" mtu "$SSLC_E2E_MIRROR_MTU" &&
			ip -n "$E2E_NS_IDS" link set "$E2E_IF_IDS" mtu "$SSLC_E2E_MIRROR_MTU" ||
			e2e_fail "SSLC_E2E_MIRROR_MTU=$SSLC_E2E_MIRROR_MTU: cannot set it on the mirror link"
	fi
	e2e_no_ipv6 server "$E2E_IF_MIRROR"
	e2e_no_ipv6 ids "$E2E_IF_IDS"
	e2e_addr client "$E2E_IF_CLIENT" "$E2E_CLIENT4/24" "$E2E_CLIENT6/64"
	e2e_addr server "$E2E_IF_SERVER" "$E2E_SERVER4/24" "$E2E_SERVER6/64"
	e2e_log "topology up: $E2E_NS_CLIENT/$E2E_IF_CLIENT <-> $E2E_NS_SERVER/$E2E_IF_SERVER," \
		"$E2E_NS_SERVER/$E2E_IF_MIRROR -> $E2E_NS_IDS/$E2E_IF_IDS (MTU ${SSLC_E2E_MIRROR_MTU:-1500})"
}

# e2e_ns NS: the full name of namespace NS (a short name given to e2e_netns_add, such as
# client, server, ids, or already a full name).
e2e_ns() {
	case $1 in
	sslc-e2e-*) echo "$1" ;;
	*) echo "sslc-e2e-$E2E_ID-$1" ;;
	esac
}

# e2e_in NS CMD...: run CMD in namespace NS (client|server|ids or a full name).
e2e_in() {
	local ns
	ns=$(e2e_ns "$1")
	shift
	ip netns exec "$ns" "$@"
}

# e2e_bg NAME NS LOG CMD...: start CMD in namespace NS in the background, output to LOG;
# remembered as NAME for e2e_stop / e2e_running and killed at teardown.
e2e_bg() {
	local name=$1 ns log=$3
	ns=$(e2e_ns "$2")
	shift 3
	# A simple command, so $! is the process itself ("ip netns exec" execs CMD in place).
	ip netns exec "$ns" "$@" >"$log" 2>&1 {E2E_ERR}>&- &
	E2E_PIDS[$name]=$!
	e2e_register_log "$name" "$log"
}

# e2e_running NAME: true while that background process is alive (zombies count as exited).
e2e_running() {
	local pid=${E2E_PIDS[$1]:-} state
	[[ -n $pid ]] || return 1
	state=$(awk '/^State:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || return 1
	[[ -n $state && $state != Z ]]
}

# e2e_stop NAME [SIGNAL [TIMEOUT_S]]: signal it, wait for it to exit (SIGKILL after TIMEOUT_S),
# reap it; returns its exit status (128+n when killed by signal n).
e2e_stop() {
	local name=$1 sig=${2:-TERM} timeout=${3:-10} pid rc=0 deadline
	pid=${E2E_PIDS[$name]:-}
	[[ -n $pid ]] || return 0
	kill "-$sig" "$pid" 2>/dev/null || true
	deadline=$((SECONDS + timeout))
	while e2e_running "$name" && ((SECONDS < deadline)); do sleep 0.05; done
	if e2e_running "$name"; then
		e2e_log "$name (pid $pid) did not exit within ${timeout}s of SIG$sig; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || rc=$?
	unset "E2E_PIDS[$name]"
	return "$rc"
}

# e2e_wait_until TIMEOUT_S DESCRIPTION CMD...: poll CMD every 0.1 s until it succeeds;
# fail the test with DESCRIPTION on timeout.
e2e_wait_until() {
	local timeout=$1 desc=$2 deadline
	shift 2
	deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || e2e_fail "timed out after ${timeout}s waiting for $desc"
		sleep 0.1
	done
}

# e2e_wait_listen NS PORT [TIMEOUT_S]: until something listens on TCP PORT in NS (v4 and v6).
e2e_wait_listen() {
	local ns=$1 port=$2 timeout=${3:-10}
	e2e_wait_until "$timeout" "a TCP listener on port $port in ns $ns" \
		_e2e_listening "$ns" "$port"
}
_e2e_listening() {
	local out
	out=$(e2e_in "$1" ss -Hltn "sport = :$2") && [[ -n $out ]]
}

# e2e_wait_file_match FILE REGEX [TIMEOUT_S]: until FILE has a line matching REGEX (grep -E).
e2e_wait_file_match() {
	local file=$1 re=$2 timeout=${3:-30}
	e2e_wait_until "$timeout" "'$re' in $file" grep -qE -- "$re" "$file"
}

# e2e_if_counter NS IFACE rx|tx packets|bytes: an interface counter.
e2e_if_counter() {
	e2e_in "$1" cat "/sys/class/net/$2/statistics/${3}_$4"
}
