#!/usr/bin/env bash
# Proves test_mirror_suricata.sh, independently of sslcollector: it must PASS with a correct
# mirror and FAIL, naming the problem, with broken ones. The mirror is lib/fake_mirror.py, which
# forges from the workload's ground truth what sslcollector should produce (see its header):
#
#   fake_mirror.py                       -> the mirror test passes
#   fake_mirror.py --corrupt tcp-checksum -> fails: bad TCP checksum in mirror.pcap and on m1,
#                                           Suricata counts an invalid checksum and a gap
#   fake_mirror.py --corrupt payload      -> fails: bytes differ from the ground truth, the
#                                           response-body alert is missing (parity broken)
#   fake_mirror.py --corrupt drop         -> fails: hole in the client stream, request-body
#                                           alert missing, Suricata counts a reassembly gap,
#                                           tshark's TCP analysis flags the lost segment
#
# Each run is a complete test_mirror_suricata.sh (its own namespaces, nginx, Suricata); the
# broken ones run IPv4 only to save time.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$0" .sh)
[[ $(id -u) == 0 || -n ${CI:-} || ${SSLC_E2E_REQUIRE:-0} == 1 ]] || {
	echo "[$name] SKIP: not root" >&2
	exit 77
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sslc-e2e-harness-$$.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failed=0

# run NAME EXPECT(pass|fail) FAMILIES CORRUPT [PATTERN...]: each PATTERN (grep -E) must appear
# in the output of a failing run.
run() {
	local label=$1 expect=$2 families=$3 corrupt=$4 rc=0 pattern
	shift 4
	echo "[$name] $label: test_mirror_suricata.sh with fake_mirror.py --corrupt $corrupt" >&2
	SSLC_E2E_FAMILIES=$families SSLC_E2E_MIRROR_READY=none \
		SSLC_E2E_MIRROR_CMD="/usr/bin/python3 $here/lib/fake_mirror.py --corrupt $corrupt" \
		"$here/test_mirror_suricata.sh" >"$tmp/$label.log" 2>&1 || rc=$?
	case $expect in
	pass)
		if ((rc != 0)); then
			tail -n 60 "$tmp/$label.log" >&2
			echo "[$name] FAIL: $label: the mirror test failed (exit $rc) with a correct mirror" >&2
			failed=1
			return
		fi
		;;
	fail)
		if ((rc != 1)); then
			tail -n 60 "$tmp/$label.log" >&2
			echo "[$name] FAIL: $label: the mirror test exited $rc with a broken mirror, expected 1" >&2
			failed=1
			return
		fi
		for pattern in "$@"; do
			if ! grep -qE -- "$pattern" "$tmp/$label.log"; then
				tail -n 60 "$tmp/$label.log" >&2
				echo "[$name] FAIL: $label: no '$pattern' in the mirror test's output" >&2
				failed=1
			fi
		done
		;;
	esac
	echo "[$name] $label: $expect as expected; it said:" >&2
	grep -E '^(eve check|eve compare|pcap check):|^tcp analysis: FORBIDDEN|CHECK FAILED|PASS$' "$tmp/$label.log" |
		grep -v 'every checksum valid\|match the ground truth exactly\|have the same' |
		head -n 12 | sed 's/^/    /' >&2
}

run correct pass "4 6" none
run tcp-checksum fail 4 tcp-checksum \
	'mirror.pcap: .*1 checksum problems' 'pcap check: frame [0-9]+: TCP checksum 0x[0-9a-f]{4}, expected' \
	'Suricata counter tcp.invalid_checksum is 1' 'CHECK FAILED: mirror: the frames Suricata received'
run payload fail 4 payload \
	'server->client: 1839 bytes in the capture, the client received 1839; first difference at offset' \
	'rule 9000003 \(e2e response body token\): 7 alerts expected, 6 raised' \
	'CHECK FAILED: parity'
run drop fail 4 drop \
	'client->server: hole of [0-9]+ bytes at offset' \
	'rule 9000002 \(e2e request body token\): 2 alerts expected, 1 raised' \
	'Suricata counter tcp.reassembly_gap is 1' 'CHECK FAILED: parity' \
	'tcp analysis: FORBIDDEN frame [0-9]+: .* lost_segment \(no gap reported' \
	"CHECK FAILED: mirror: tshark's TCP analysis of mirror.pcap"

((failed == 0)) || { echo "[$name] FAILED" >&2; exit 1; }
echo "[$name] PASS: the mirror test passes a correct mirror and catches each broken one" >&2
