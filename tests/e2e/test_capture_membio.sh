#!/usr/bin/env bash
# Issue 23: programs that drive OpenSSL through memory BIOs (they move the ciphertext
# themselves, before SSL_read and after SSL_write, not inside the call) are captured byte for
# byte with their real sockets, and so is a node with OpenSSL inside its binary, found without
# --lib. Each case runs the program under test in the server namespace (mirrored) and its peer
# in the client namespace (never mirrored); the peer records the exact plaintext it sent and
# received, which is the ground truth. One agent per case (--dump-dir, -w, --print -v):
#
#   ns client (peers: lib/membio_peers.py)       ns server (programs under test, the agent)
#   http-client (blocking ssl)       ---->  asyncio-server  lib/membio_asyncio.py :8443
#   http-server :9443                <----  asyncio-client  asyncio.open_connection
#   http-client                      ---->  node20-server   lib/membio_node.js :8444, the node
#   http-server :9444                <----  node20-client     on PATH (nodesource 20: OpenSSL
#                                                             linked into the binary)
#   http-client                      ---->  node18-server   :8445, Debian's node 18 (system
#   http-server :9445                <----  node18-client     libssl; install-deps.sh unpacks it)
#   imap (implicit TLS)              ---->  dovecot-imaps     Dovecot, its own config in
#   imap (STARTTLS)                  ---->  dovecot-starttls  E2E_TMP: imap-login :993, :143
#
# HTTP cases: one keep-alive connection, 2 exchanges of a 1 MiB request body answered with a
# 1 MiB body. Dovecot: LOGIN, SELECT INBOX, FETCH 1 BODY[] (a message holding a marker),
# LOGOUT; with STARTTLS the ground truth is the TLS part only (the plaintext before it is not
# mirrored). Servers under test start before their agent (a running process), clients after
# it (a new one).
#
# Asserts per case: the exchange itself worked (the programs' and the peers' own checks: the
# harness, independent of the agent); the dump holds the connection once with its real
# addresses, ports and role (the program's side), both directions byte-identical; the -w pcap
# holds it byte-identical (pcaptool); the agent's final counters say 0 bytes without a known
# socket. Then suricata -r on the HTTP cases' mirror logs every HTTP transaction (evetool).
# SSLC_E2E_AGENT_ARGS: more agent options for every case (e.g. --lib /usr/bin/node,
# --syscall-hook); SSLC_E2E_NODE18_DIR: where Debian's node 18 is unpacked.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/e2e.sh
source "$here/lib/e2e.sh"

# the peer servers in ns client present the same certificate as the programs under test
export E2E_PKI_EXTRA_SAN="IP:$E2E_CLIENT4,IP:$E2E_CLIENT6"
e2e_setup
e2e_require_cmds node dovecot doveconf ldd mergecap

node20=$(command -v node)
[[ $(ldd "$node20") != *libssl.so* ]] ||
	e2e_fail "$node20 links libssl (ldd); the static case needs a node with OpenSSL inside" \
		"the binary (the nodesource build)"
node18_dir=${SSLC_E2E_NODE18_DIR:-/var/cache/sslcollector-tests/node18}
node18=(env "LD_LIBRARY_PATH=$node18_dir/usr/lib/x86_64-linux-gnu" "$node18_dir/usr/bin/node")
[[ -x $node18_dir/usr/bin/node ]] ||
	e2e_fail "no Debian node 18 in $node18_dir (scripts/install-deps.sh test unpacks it there)"
"${node18[@]}" -e 'require("https")' >/dev/null 2>&1 ||
	e2e_fail "Debian's node 18 in $node18_dir does not run (scripts/install-deps.sh test)"
[[ $(LD_LIBRARY_PATH=$node18_dir/usr/lib/x86_64-linux-gnu ldd "$node18_dir/usr/bin/node") == \
	*"libssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3"* ]] ||
	e2e_fail "$node18_dir/usr/bin/node does not link the system libssl (ldd)"

size=$((1 << 20))
exchanges=2
pem=$E2E_PKI_DIR/server.pem
key=$E2E_PKI_DIR/server.key
ca=$E2E_PKI_DIR/ca.pem
cases=()

# wait_for SECONDS CMD...: until CMD succeeds (true) or SECONDS have passed (false), unlike
# e2e_wait_until, which ends the test: a case whose program failed must not stop the others.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# agent_start CASE: a fresh agent for CASE (dump, pcap and log in $E2E_TMP/CASE/).
agent_start() {
	local d=$E2E_TMP/$1
	mkdir -p "$d"
	# shellcheck disable=SC2086 # word splitting wanted
	e2e_bg "agent-$1" server "$d/agent.log" "$SSLC_BIN" -I "$E2E_IF_SERVER" --dump-dir "$d/dump" \
		-w "$d/mirror.pcap" --print -v ${SSLC_E2E_AGENT_ARGS:-}
	e2e_wait_file_match "$d/agent.log" "mirroring TLS on"
}

# agent_stop CASE: SIGTERM; it must exit 0. Logs its final summary and unattributed bytes.
agent_stop() {
	local d=$E2E_TMP/$1 stopped nosock
	e2e_stop "agent-$1" TERM 30 || e2e_fail "$1: sslcollector did not exit cleanly (status $?)"
	stopped=$(grep -o 'stopped: .*' "$d/agent.log" | tail -n 1) || stopped="no summary"
	nosock=$(grep -o 'bytes without a known socket [0-9]*' "$d/agent.log" | tail -n 1) ||
		nosock="no counters line"
	e2e_log "$1: agent $stopped; $nosock"
}

# check_case CASE SIDE GT MIN_BYTES: the ground truth is complete (one connection, at least
# MIN_BYTES each way), and the agent's capture of it (dump and pcap) exact from SIDE
# (server|client: the role of the program under test).
check_case() {
	local c=$1 side=$2 gt=$3 min=$4 d=$E2E_TMP/$1
	cases+=("$c")
	e2e_check "$c: the exchange itself worked (ground truth of its connection complete)" \
		e2e_py membio_peers gt-ok "$gt" --connections 1 --min-bytes "$min"
	e2e_check "$c: captured byte for byte, both directions, from the $side side" \
		e2e_py dumptool check --side "$side" "$d/dump" "$gt"
	e2e_check "$c: mirrored byte for byte into the -w pcap" \
		e2e_py pcaptool check "$d/mirror.pcap" --gt "$gt"
	e2e_check "$c: the agent counted no byte without a known socket" \
		grep -q "bytes without a known socket 0," "$d/agent.log"
}

# list_says PID REGEX: the line of PID in `sslcollector --list` (run in ns server) matches REGEX.
list_says() {
	e2e_in server "$SSLC_BIN" --list 2>/dev/null | grep -qE "^$1 .*$2"
}

# server_case CASE PORT CMD...: CMD (the server under test, listening on $E2E_SERVER4:PORT) in
# ns server before the agent; the peer client makes one connection of $exchanges exchanges.
server_case() {
	local c=$1 port=$2 rc=0
	shift 2
	mkdir -p "$E2E_TMP/$c"
	e2e_bg "$c" server "$E2E_TMP/$c/program.log" "$@"
	e2e_wait_listen server "$port"
	agent_start "$c"
	e2e_in client "$E2E_PY" "$E2E_LIB/membio_peers.py" http-client --out "$E2E_TMP/$c/gt.json" \
		--cafile "$ca" --exchanges "$exchanges" --size "$size" "$E2E_SERVER4" "$port" \
		>"$E2E_TMP/$c/peer.log" 2>&1 || true # its errors are in the ground truth
	e2e_register_log "$c peer" "$E2E_TMP/$c/peer.log"
	# the peer closed first; the server closes its socket once it has read that end
	wait_for 10 grep -q "connection from .* closed" "$E2E_TMP/$c/program.log" ||
		e2e_log "$c: the server under test never logged the connection's end"
	# --list tells the running agent's view of the process (published every 2 s); dovecot's
	# TLS is spoken by a child (imap-login), not by the process started here
	[[ $c == dovecot* ]] ||
		e2e_check "$c: --list says the server's session came from a memory BIO" \
			wait_for 10 list_says "${E2E_PIDS[$c]}" 'yes: .*\(1 from a memory BIO\)'
	agent_stop "$c"
	e2e_stop "$c" TERM 10 || rc=$?
	e2e_check "$c: the server under test read every request right (exit status $rc)" \
		test "$rc" = 0
	check_case "$c" server "$E2E_TMP/$c/gt.json" $((exchanges * size))
}

# client_case CASE PORT CMD...: the peer server listens on $E2E_CLIENT4:PORT in ns client; the
# agent starts; CMD (the client under test, given HOST PORT after its arguments) runs in ns
# server; the peer writes the ground truth once that connection has ended.
client_case() {
	local c=$1 port=$2 rc=0
	shift 2
	mkdir -p "$E2E_TMP/$c"
	e2e_bg "$c-peer" client "$E2E_TMP/$c/peer.log" "$E2E_PY" "$E2E_LIB/membio_peers.py" \
		http-server --cert "$pem" --key "$key" --out "$E2E_TMP/$c/gt.json" \
		--exchanges "$exchanges" "$E2E_CLIENT4" "$port"
	e2e_wait_listen client "$port"
	agent_start "$c"
	e2e_register_log "$c program" "$E2E_TMP/$c/program.log"
	if [[ -n ${found_at_exec:-} ]]; then
		# a program started after the agent, found by itself when it exec()s: it connects
		# once the agent has probed it (the agent needs 45 ms in a Release build, 100 ms
		# with ASan; a program that speaks TLS sooner loses its first connection)
		e2e_bg "$c" server "$E2E_TMP/$c/program.log" "$@" --go "$E2E_TMP/$c/go" \
			"$E2E_CLIENT4" "$port"
		e2e_check "$c: the program, started after the agent, is found at exec and probed" \
			wait_for 30 grep -qF "probing $found_at_exec (executable of" "$E2E_TMP/$c/agent.log"
		touch "$E2E_TMP/$c/go"
		e2e_stop "$c" 0 60 || rc=$? # signal 0: wait for it to finish
	else
		e2e_in server "$@" "$E2E_CLIENT4" "$port" >"$E2E_TMP/$c/program.log" 2>&1 || rc=$?
	fi
	e2e_check "$c: the client under test got every answer right (exit status $rc)" \
		test "$rc" = 0
	wait_for 30 test -s "$E2E_TMP/$c/gt.json" || e2e_log "$c: the peer server wrote no ground truth"
	e2e_stop "$c-peer" TERM 5 || true
	agent_stop "$c"
	check_case "$c" client "$E2E_TMP/$c/gt.json" $((exchanges * size))
}

# --- a, b: Python asyncio (ssl.SSLObject over ssl.MemoryBIO) ---------------------------------
server_case asyncio-server 8443 "$E2E_PY" "$E2E_LIB/membio_asyncio.py" server --cert "$pem" \
	--key "$key" "$E2E_SERVER4" 8443
client_case asyncio-client 9443 "$E2E_PY" "$E2E_LIB/membio_asyncio.py" client --cafile "$ca" \
	--exchanges "$exchanges" --size "$size"

# --- c: Node.js https (TLSWrap), OpenSSL inside the binary and the system libssl --------------
server_case node20-server 8444 "$node20" "$E2E_LIB/membio_node.js" server --cert "$pem" \
	--key "$key" "$E2E_SERVER4" 8444
found_at_exec=$node20 client_case node20-client 9444 "$node20" "$E2E_LIB/membio_node.js" \
	client --cafile "$ca" --exchanges "$exchanges" --size "$size"
server_case node18-server 8445 "${node18[@]}" "$E2E_LIB/membio_node.js" server --cert "$pem" \
	--key "$key" "$E2E_SERVER4" 8445
client_case node18-client 9445 "${node18[@]}" "$E2E_LIB/membio_node.js" client --cafile "$ca" \
	--exchanges "$exchanges" --size "$size"

# --- d: Dovecot (iostream-openssl); imap-login does the TLS, the mirrored end ------------------
dovecot=$E2E_TMP/dovecot
marker="sslc-membio-marker-$E2E_ID-$RANDOM"
imap_user=membio imap_pass="pw-$RANDOM"
mkdir -p "$dovecot"/{run,state} "$dovecot/mail/$imap_user"/{cur,new,tmp}
printf '%s:{PLAIN}%s::::::\n' "$imap_user" "$imap_pass" >"$dovecot/users"
cat >"$dovecot/mail/$imap_user/cur/1700000000.M1P1.sslc-e2e:2,S" <<EOF
From: sslc-e2e@example.invalid
To: $imap_user@example.invalid
Subject: the marker
Date: Tue, 14 Nov 2023 22:13:20 +0000
Message-ID: <$marker@example.invalid>

The body holds the marker: $marker
EOF
chown -R nobody:nogroup "$dovecot/mail"
cat >"$dovecot/dovecot.conf" <<EOF
# Generated by tests/e2e/test_capture_membio.sh for one run (nothing of /etc/dovecot).
base_dir = $dovecot/run
state_dir = $dovecot/state
log_path = $dovecot/dovecot.log
protocols = imap
listen = $E2E_SERVER4, $E2E_SERVER6
ssl = required
ssl_cert = <$pem
ssl_key = <$key
auth_mechanisms = plain
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dovecot/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$dovecot/mail/%u
}
mail_location = maildir:$dovecot/mail/%u
service imap-login {
  inet_listener imap {
    port = 143
  }
  inet_listener imaps {
    port = 993
    ssl = yes
  }
}
EOF
e2e_register_log "dovecot.log" "$dovecot/dovecot.log"
doveconf -c "$dovecot/dovecot.conf" -n >"$dovecot/doveconf.log" 2>&1 ||
	e2e_fail "doveconf rejects $dovecot/dovecot.conf: $(tail -n 3 "$dovecot/doveconf.log")"
e2e_bg dovecot server "$dovecot/master.log" dovecot -F -c "$dovecot/dovecot.conf"
e2e_wait_listen server 993
e2e_wait_listen server 143

imap_case() { # CASE PORT [--starttls]
	local c=$1 port=$2
	shift 2
	agent_start "$c"
	e2e_in client "$E2E_PY" "$E2E_LIB/membio_peers.py" imap --out "$E2E_TMP/$c/gt.json" \
		--cafile "$ca" --user "$imap_user" --password "$imap_pass" --marker "$marker" "$@" \
		"$E2E_SERVER4" "$port" >"$E2E_TMP/$c/peer.log" 2>&1 || true # errors: in the truth
	e2e_register_log "$c peer" "$E2E_TMP/$c/peer.log"
	agent_stop "$c" # the peer read to the end: imap-login has closed its socket
	check_case "$c" server "$E2E_TMP/$c/gt.json" 40
}
imap_case dovecot-imaps 993
imap_case dovecot-starttls 143 --starttls
e2e_stop dovecot TERM 10 || true

# --- Suricata on the HTTP cases' mirror -------------------------------------------------------
http_cases=(asyncio-server asyncio-client node20-server node20-client node18-server
	node18-client)
suricata_http() {
	local s=$E2E_TMP/suricata pcaps=() gts=() c
	for c in "${http_cases[@]}"; do
		pcaps+=("$E2E_TMP/$c/mirror.pcap") gts+=("$E2E_TMP/$c/gt.json")
	done
	mkdir -p "$s"
	e2e_suricata_conf "$s"
	e2e_py shapecheck suricata-conf "$s/suricata.yaml" # pcap-file checksum-checks: yes
	mergecap -a -F pcap -w "$s/http-mirror.pcap" "${pcaps[@]}" || return 1
	"$E2E_PY" "$E2E_LIB/groundtruth.py" merge "$s/http-gt.json" "${gts[@]}" || return 1
	# suricata -r cannot start on a file without frames (and waits 60 s to say so)
	if (($(stat -c %s "$s/http-mirror.pcap") <= 24)); then
		echo "the HTTP cases' mirror pcaps hold no frame" >&2
		return 1
	fi
	e2e_register_log "suricata.log (-r)" "$s/suricata.log"
	timeout 120 suricata -r "$s/http-mirror.pcap" -c "$s/suricata.yaml" -l "$s" \
		--runmode single >"$s/stdout.log" 2>&1 || return 1
	e2e_py evetool check --strict-stream "$s/eve.json" "$s/http-gt.json"
}
e2e_check "suricata -r on the HTTP cases' mirror logs every transaction, no stream anomaly" \
	suricata_http

e2e_log "agents' counters: $(for c in "${cases[@]}"; do
	printf '%s: %s; ' "$c" "$(grep -o 'bytes without a known socket [0-9]*' \
		"$E2E_TMP/$c/agent.log" | tail -n 1)"
done)"
e2e_checks_done
