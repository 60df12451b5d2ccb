#!/usr/bin/env bash
# Issue 3: the capture alone (no forging), checked byte for byte. The agent runs in the server
# namespace with --dump-dir (each connection's plaintext, one file per direction) and --print:
#
#   ns client                              ns server
#  +-------------------------+   veth   +------------------------------------------------+
#  | c-ID 10.77.0.1, fd77::1 |==========| s-ID 10.77.0.2, fd77::2                        |
#  | workload.py (curl,      |          | nginx :443 TLS (SSL_read/SSL_write)            |
#  |   Python http.client)   |          | tls_clients.py bigwrite-server :8443 (Python:  |
#  | tls_clients.py late     |          |   SSL_read_ex/SSL_write_ex, one 4 MiB write)   |
#  | tls_clients.py fetch    |          | tls_clients.py reset-server :8444 (answers a   |
#  | tls_clients.py closer   |          |   client that has closed: reset in the write)  |
#  |                         |          | sslcollector -I s-ID --dump-dir D --print -v   |
#  +-------------------------+          +------------------------------------------------+
#
# Asserts, each against what the clients themselves sent and received:
#  * every connection of the workload (curl and Python, IPv4 and IPv6, GETs, a 300 KiB POST, a
#    5 MiB download, 404s, keep-alive, 20 parallel connections) is captured once, from the
#    server's side (role server, local = the server address:443, remote = the client's
#    address:port), both directions byte-identical, nothing lost;
#  * a connection opened (TCP and TLS handshake done) before sslcollector started is captured
#    with its right addresses and bytes; so is one that its client reset, after sending a
#    request, before sslcollector started: the request, then the end as a reset;
#  * one 4 MiB SSL_write_ex is delivered whole, in chunks covering every byte once;
#  * an answer whose write() brings back a reset (the TCP connection closes before the
#    SSL_write_ex returns) is still captured, ahead of the connection's end;
#  * a copy of libssl loaded by a process of the server namespace after the agent started is
#    probed at once; a copy loaded only in the client namespace is not (not ours to mirror);
#  * the sockets are named by the socket hooks (the default on this kernel), or by the
#    syscall hook when SSLC_E2E_AGENT_ARGS=--syscall-hook (ctest runs both).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/e2e.sh
source "$here/lib/e2e.sh"

e2e_setup
e2e_nginx_start 443:tls
bigsize=$((4 << 20))
e2e_bg bigwrite server "$E2E_TMP/bigwrite.log" "$E2E_PY" "$E2E_LIB/tls_clients.py" \
	bigwrite-server --cert "$E2E_PKI_DIR/server.pem" --key "$E2E_PKI_DIR/server.key" \
	--size "$bigsize" "$E2E_SERVER4" 8443
e2e_wait_listen server 8443
resets=5
e2e_bg resetsrv server "$E2E_TMP/reset-server.log" "$E2E_PY" "$E2E_LIB/tls_clients.py" \
	reset-server --cert "$E2E_PKI_DIR/server.pem" --key "$E2E_PKI_DIR/server.key" \
	--out "$E2E_TMP/reset-gt.json" --count "$resets" "$E2E_SERVER4" 8444
e2e_wait_listen server 8444

# A connection that the client resets before the agent exists, after sending its request;
# the server reads that request only after the agent has started. Its socket is closed before
# the agent learns it is ours (at the server's first read), so its end must wait for that read.
e2e_bg lateresetsrv server "$E2E_TMP/late-reset-server.log" "$E2E_PY" \
	"$E2E_LIB/tls_clients.py" late-reset-server --cert "$E2E_PKI_DIR/server.pem" \
	--key "$E2E_PKI_DIR/server.key" --out "$E2E_TMP/late-reset-gt.json" \
	--go "$E2E_TMP/late-reset.go" "$E2E_SERVER4" 8445
e2e_wait_listen server 8445
e2e_in client "$E2E_PY" "$E2E_LIB/tls_clients.py" resetter --cafile "$E2E_PKI_DIR/ca.pem" \
	"$E2E_SERVER4" 8445 /late-reset || e2e_fail "the resetting client failed"

# A client that connects before the agent exists, and speaks only after it has started.
ready=$E2E_TMP/late.ready go=$E2E_TMP/late.go
e2e_bg late client "$E2E_TMP/late.log" "$E2E_PY" "$E2E_LIB/tls_clients.py" late \
	--out "$E2E_TMP/late-gt.json" --ready "$ready" --go "$go" --cafile "$E2E_PKI_DIR/ca.pem" \
	"$E2E_SERVER4" 443 /index.html
e2e_wait_until 30 "the early client's handshake" test -e "$ready"

dump=$E2E_TMP/dump
# SSLC_E2E_AGENT_ARGS: more agent options (ctest runs this again with --syscall-hook).
# shellcheck disable=SC2086 # word splitting wanted
e2e_bg agent server "$E2E_TMP/agent.log" "$SSLC_BIN" -I "$E2E_IF_SERVER" --dump-dir "$dump" \
	--print -v ${SSLC_E2E_AGENT_ARGS:-}
e2e_wait_file_match "$E2E_TMP/agent.log" "mirroring TLS on"

# Two private copies of libssl, loaded after the agent started: one by a process of our
# namespace (probed at once), one by a process of the client's (never probed).
copies=$E2E_TMP/libssl-copies
mkdir -p "$copies/ours" "$copies/theirs"
cp /usr/lib/x86_64-linux-gnu/libssl.so.3 "$copies/ours/"
cp /usr/lib/x86_64-linux-gnu/libssl.so.3 "$copies/theirs/"
holder='import ssl, sys, time; print("loaded", flush=True); time.sleep(60)'
e2e_bg theirs client "$E2E_TMP/theirs.log" env "LD_LIBRARY_PATH=$copies/theirs" "$E2E_PY" -c "$holder"
e2e_bg ours server "$E2E_TMP/ours.log" env "LD_LIBRARY_PATH=$copies/ours" "$E2E_PY" -c "$holder"
ours_pid=${E2E_PIDS[ours]}
e2e_wait_file_match "$E2E_TMP/theirs.log" "loaded"
e2e_wait_file_match "$E2E_TMP/ours.log" "loaded"

touch "$go" "$E2E_TMP/late-reset.go"
e2e_wait_until 30 "the early client to finish" test -s "$E2E_TMP/late-gt.json"
e2e_wait_until 30 "the late reset server's ground truth" test -s "$E2E_TMP/late-reset-gt.json"

gt=$E2E_TMP/workload-gt.json
e2e_workload "$gt" "https://$E2E_SERVER4/" "https://[$E2E_SERVER6]/"

e2e_in client "$E2E_PY" "$E2E_LIB/tls_clients.py" fetch --out "$E2E_TMP/big-gt.json" \
	--cafile "$E2E_PKI_DIR/ca.pem" "$E2E_SERVER4" 8443 /big ||
	e2e_fail "the 4 MiB fetch failed"
e2e_in client "$E2E_PY" "$E2E_LIB/tls_clients.py" closer --count "$resets" \
	--cafile "$E2E_PKI_DIR/ca.pem" "$E2E_SERVER4" 8444 /gone ||
	e2e_fail "the closing client failed"
e2e_wait_until 30 "the reset server's ground truth" test -s "$E2E_TMP/reset-gt.json"

e2e_stop agent TERM 30 || e2e_fail "sslcollector did not exit cleanly (status $?)"
e2e_stop ours || true
e2e_stop theirs || true

e2e_check "the workload's connections are captured byte for byte from the server side" \
	e2e_py dumptool check "$dump" "$gt"
e2e_check "the connection opened before sslcollector started is captured exactly" \
	e2e_py dumptool check "$dump" "$E2E_TMP/late-gt.json"
e2e_check "a connection reset before the agent knew it is captured and ends as a reset" \
	e2e_py dumptool check --reset "$dump" "$E2E_TMP/late-reset-gt.json"
e2e_check "the 4 MiB response is captured exactly" \
	e2e_py dumptool check "$dump" "$E2E_TMP/big-gt.json"
e2e_check "the single 4 MiB SSL_write is delivered whole, chunk after chunk" \
	e2e_py dumptool bigcall "$E2E_TMP/agent.log" "$bigsize"
e2e_check "answers whose write() met a reset are captured (the close waits for the call)" \
	e2e_py dumptool check "$dump" "$E2E_TMP/reset-gt.json"
# The reset is usually processed inside the server's write() (the race itself); when the
# machine defers it past the call's return, there is nothing to hold: at least one of the
# connections must have exercised the held close.
e2e_check "... and the agent held at least one of those connections' ends for its call" \
	grep -Eq "closes held for a call ([1-9]|[0-9]{2,})" "$E2E_TMP/agent.log"
# At once: reported by the BPF side as it maps it, not found by the periodic full scan.
e2e_check "a libssl copy loaded in the server namespace is reported as it is mapped" \
	grep -q "process $ours_pid maps a TLS library not seen before" "$E2E_TMP/agent.log"
e2e_check "... and probed" \
	grep -q "probing $copies/ours/libssl.so.3" "$E2E_TMP/agent.log"
e2e_check "a libssl copy loaded only in the client namespace is not" \
	bash -c "! grep -q '$copies/theirs' '$E2E_TMP/agent.log'"
if [[ " ${SSLC_E2E_AGENT_ARGS:-} " == *" --syscall-hook "* ]]; then
	e2e_check "the sockets were named by the syscall hook, as asked" \
		grep -q -- "--syscall-hook: every system call" "$E2E_TMP/agent.log"
else
	e2e_check "the sockets were named by the socket hooks (this kernel has them)" \
		grep -q "sockets named by the socket hooks" "$E2E_TMP/agent.log"
fi
e2e_check "the agent reports nothing lost" \
	grep -q "0 B lost" "$E2E_TMP/agent.log"
e2e_checks_done
