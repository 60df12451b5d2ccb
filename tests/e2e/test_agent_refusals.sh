#!/usr/bin/env bash
# Issue 20: the agent (root) gives a local user (uid daemon) no file trick and sends no
# plaintext onto a real network. With fs.protected_{hardlinks,symlinks,regular,fifos} = 0
# (restored at the end), the user plants, in a world-writable sticky directory:
#  * a --dump-dir of its own, a --dump-dir symlink to a root directory; and root leaves a
#    world-writable --dump-dir: all refused, nothing written;
#  * a -w file of its own (held open, to read what root would write), a -w symlink to a root
#    file, a -w hard link to a root file, a -w FIFO it reads: all refused, the root file
#    untouched and nothing reaches the user;
# while a --dump-dir and a -w of root's own (an earlier run's, mode 0644) are used, made
# private, and /dev/null is written. -o onto an interface with addresses is refused unless
# --force-output; -o onto the mirror link (no address) is accepted.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/e2e.sh
source "$here/lib/e2e.sh"

e2e_setup
SSLC_BIN=$(e2e_sslcollector_bin) || e2e_fail "no sslcollector binary: build it first"
# the local user who plants the files: Debian always has it; without it nothing is proved
id daemon >/dev/null 2>&1 || e2e_fail "no user daemon (uid 1) to plant files as"

for k in hardlinks symlinks regular fifos; do
	old=$(sysctl -n "fs.protected_$k")
	e2e_on_teardown sysctl -qw "fs.protected_$k=$old"
	sysctl -qw "fs.protected_$k=0"
done

pub=$E2E_TMP/pub # what /tmp is to a local user
mkdir -m 1777 "$pub"
chmod 0755 "$E2E_TMP"
as_daemon() { setpriv --reuid=daemon --regid=daemon --clear-groups -- "$@"; }
victim=$E2E_TMP/victim # a root file the user must not reach
echo "root's own data" >"$victim"
chmod 0644 "$victim"

# refused DESCRIPTION REGEX ARGS...: the agent exits non-zero with REGEX in its message.
refused() {
	local desc=$1 re=$2 rc=0 log=$E2E_TMP/refused.$RANDOM.log
	shift 2
	e2e_in server timeout 60 "$SSLC_BIN" -I any "$@" >"$log" 2>&1 || rc=$?
	e2e_log "$desc: exit $rc: $(grep -m1 error "$log" || true)"
	e2e_check "$desc: refused (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
	e2e_check "$desc: says why ($re)" grep -qE -- "$re" "$log"
}

# accepted DESCRIPTION ARGS...: the agent starts (its ready line) and exits 0 on SIGTERM.
accepted() {
	local desc=$1 rc=0 log=$E2E_TMP/accepted.$RANDOM.log
	shift
	e2e_bg accepted server "$log" "$SSLC_BIN" -I any "$@"
	e2e_wait_file_match "$log" "mirroring TLS on|error" 60
	e2e_in client curl -sS --cacert "$E2E_PKI_DIR/ca.pem" -o /dev/null "https://$E2E_SERVER4/" ||
		true
	e2e_stop accepted TERM 30 || rc=$? # SIGTERM: the agent drains its ring first
	e2e_check "$desc: accepted, exit 0 (got $rc; log $log)" test "$rc" -eq 0
}

e2e_nginx_start 443:tls

# --- --dump-dir ---------------------------------------------------------------------------------
as_daemon mkdir -m 0777 "$pub/dump-user"
refused "--dump-dir made by the user" "belongs to uid $(id -u daemon)" --dump-dir "$pub/dump-user"
mkdir -m 0700 "$E2E_TMP/root-dir"
as_daemon ln -s "$E2E_TMP/root-dir" "$pub/dump-link"
refused "--dump-dir a symlink" "symbolic link" --dump-dir "$pub/dump-link"
mkdir -m 0777 "$E2E_TMP/dump-open"
as_daemon ln -s "$victim" "$E2E_TMP/dump-open/conn-1.recv"
refused "--dump-dir others may write to" "other users may write" --dump-dir "$E2E_TMP/dump-open"
e2e_check "the root directory behind the link is still empty" \
	test -z "$(ls -A "$E2E_TMP/root-dir")"
accepted "--dump-dir of root's own, new" --dump-dir "$E2E_TMP/dump-ok"
e2e_check "--dump-dir made mode 0700" test "$(stat -c %a "$E2E_TMP/dump-ok")" = 700
e2e_check "--dump-dir holds the connection's plaintext" grep -qa "GET / HTTP" -r "$E2E_TMP/dump-ok"
refused "--dump-dir with an earlier run's files" "earlier run" --dump-dir "$E2E_TMP/dump-ok"

# --- -w -------------------------------------------------------------------------------------------
as_daemon bash -c "umask 0; : >'$pub/user.pcap'"
as_daemon bash -c "exec 3<'$pub/user.pcap'; exec sleep 30" </dev/null >/dev/null 2>&1 &
holder=$!
refused "-w onto the user's file" "belongs to uid $(id -u daemon)" -w "$pub/user.pcap"
e2e_check "the user's file got nothing" test ! -s "$pub/user.pcap"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
as_daemon ln -s "$victim" "$pub/link.pcap"
refused "-w onto a symlink" "symbolic link" -w "$pub/link.pcap"
as_daemon ln "$victim" "$pub/hard.pcap"
refused "-w onto a hard link to a root file" "hard links" -w "$pub/hard.pcap"
as_daemon mkfifo -m 0666 "$pub/fifo.pcap"
as_daemon bash -c "exec cat '$pub/fifo.pcap' >'$pub/stolen'" </dev/null 2>/dev/null &
reader=$!
refused "-w onto the user's FIFO" "belongs to uid $(id -u daemon)" -w "$pub/fifo.pcap"
: >"$pub/fifo.pcap" # the reader sees the end of it
wait "$reader" 2>/dev/null || true
e2e_check "nothing reached the user's FIFO reader" test ! -s "$pub/stolen"
e2e_check "the root file is untouched" grep -qx "root's own data" "$victim"
echo "an earlier run" >"$E2E_TMP/mine.pcap"
chmod 0644 "$E2E_TMP/mine.pcap"
accepted "-w onto root's own earlier file" -w "$E2E_TMP/mine.pcap"
e2e_check "-w made it private (0600)" test "$(stat -c %a "$E2E_TMP/mine.pcap")" = 600
e2e_check "-w started it again (a pcap now)" \
	test "$(od -An -tx4 -N4 "$E2E_TMP/mine.pcap" | tr -d ' ')" = a1b2c3d4
accepted "-w /dev/null" -w /dev/null
e2e_check "/dev/null is still a device" test -c /dev/null

# --- -o ---------------------------------------------------------------------------------------------
refused "-o onto an interface with addresses" "has address $E2E_SERVER4.*--force-output" \
	-o "$E2E_IF_SERVER"
accepted "-o onto it with --force-output" -o "$E2E_IF_SERVER" --force-output
accepted "-o onto the mirror link (no address)" -o "$E2E_IF_MIRROR"

e2e_checks_done
