#!/usr/bin/env bash
# HTTP/2 inside TLS: most browsers, curl and gRPC speak it. sslcollector mirrors the plaintext
# as it is (the HTTP/2 connection preface, HPACK-compressed headers, DATA frames), and Suricata
# 7 decodes it with its http2 parser: it must log every request with its URL, status and
# response length, and the rules of the HTTP/1.1 tests must alert inside HTTP/2 as well.
#
#   ns client                    ns server                                    ns ids
#  +----------------------+ veth +--------------------------------------+ veth +------------+
#  | curl --http2:        |======| 1: nginx :443 h2c (no TLS), tc copies |======| Suricata 7 |
#  |  4 GETs on one conn. |      |    s-ID to m0-ID                      |      | (http2 on) |
#  |  POST /upload        |      | 2: nginx :443 TLS, ALPN h2;           |      |            |
#  |  GET over IPv6       |      |    sslcollector -I s-ID -o m0-ID      |      |            |
#  | nghttp: 5 GETs at    |      |      -w mirror.pcap                   |      |            |
#  |  once (multiplexed)  |      +--------------------------------------+      +------------+
#  | curl --parallel: 4   |
#  |  GETs at once, x3    |
#  +----------------------+
# Phase 1, control: the five multiplexed GETs and curl --parallel's (three connections of four
# GETs; curl speaks TLS to lib/tlsrelay.py in ns client, which relays the HTTP/2 in the clear)
# as HTTP/2 without TLS (h2c), copied by tc.
# Phase 2, mirror: the same over TLS, plus curl's requests, mirrored by sslcollector.
# Asserts: curl got HTTP/2 answers; Suricata logged one HTTP/2 record per request with the
# right URL, status and length, and the four token rules alerted as often as the tokens
# travelled (URI, request body, small and 5 MiB response bodies); for the multiplexed streams,
# and curl --parallel's, the mirror's records and alerts equal the control's (and the control
# has them all: 5 and 12 records, 4 and 9 alerts, the 104-byte body rule 3 times); every
# TLS flow to port 443 was decoded as http2; no drop; mirror.pcap has valid checksums and
# complete connections.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/e2e.sh
source "$here/lib/e2e.sh"

e2e_setup
uri_token=$(cd "$E2E_LIB" && "$E2E_PY" -c 'import content; print(content.URI_TOKEN)')
# mux BASE: five GETs at once on one HTTP/2 connection (streams interleaved), each URL tagged
# mux=N so that their records and alerts can be told from the others'
mux() {
	e2e_in client nghttp -n --timeout=60 "$1/index.html?mux=1" "$1/token.html?mux=2" \
		"$1/index.html?q=$uri_token&mux=3" "$1/big.bin?mux=4" "$1/token.html?mux=5" \
		>>"$E2E_TMP/nghttp.log" 2>&1 || e2e_fail "nghttp $1 failed (see nghttp.log)"
}
# par BASE CURLOPTS...: curl --parallel, four GETs at once on one connection (curl's own
# multiplexing: the 104-byte body among them), three connections one after the other, tagged
# par=N (issue 19: once seen without the 104-byte body alert, never compared with a control)
par() {
	local base=$1 i
	shift
	for i in 1 2 3; do
		e2e_in client curl -sS --parallel --max-time 60 "$@" \
			-w '%{http_version} %{http_code} %{size_download}\n' \
			-o /dev/null "$base/index.html?par=$i" -o /dev/null "$base/token.html?par=$i" \
			-o /dev/null "$base/index.html?q=$uri_token&par=$i" \
			-o /dev/null "$base/big.bin?par=$i" >>"$E2E_TMP/par-answers.txt" ||
			e2e_fail "curl --parallel $base failed"
	done
}
# mux_records EVE [TAG]: the http records and alerts of the streams tagged TAG (mux, par),
# ports and times aside
mux_records() {
	jq -r --arg tag "${2:-mux}=" 'select(.http.url != null and (.http.url | contains($tag)))
		| if .event_type == "alert" then "alert \(.alert.signature_id) \(.http.url)"
		  elif .event_type == "http" then "http \(.http.url) \(.http.status) \(.http.length)"
		  else empty end' "$1" | sort
}

# --- phase 1: control, HTTP/2 without TLS copied by tc -------------------------------------
e2e_nginx_start 80:plain 443:h2c
E2E_SURICATA_HTTP2=1 e2e_suricata_start control
e2e_tc_mirror_start
e2e_wait_pipeline "http://$E2E_SERVER4:80/" # an HTTP/1.1 canary
mux "http://$E2E_SERVER4:443"
# curl --parallel --http2-prior-knowledge fails against this nginx's h2c ("Error in the HTTP2
# framing layer"): curl speaks TLS to a relay in its own namespace, which passes the HTTP/2
# bytes on in the clear (lib/tlsrelay.py), so the same URLs travel the veth as h2c
e2e_bg relay client "$E2E_TMP/relay.log" "$E2E_PY" "$E2E_LIB/tlsrelay.py" 127.0.0.1 8443 \
	"$E2E_SERVER4" 443 "$E2E_PKI_DIR/server.pem" "$E2E_PKI_DIR/server.key"
e2e_wait_file_match "$E2E_TMP/relay.log" "relay listening"
par "https://$E2E_SERVER4" --http2 --cacert "$E2E_PKI_DIR/ca.pem" \
	--connect-to "$E2E_SERVER4:443:127.0.0.1:8443"
e2e_stop relay TERM 5 || true
e2e_suricata_drain
e2e_tc_mirror_stop
e2e_suricata_stop
mux_records "$E2E_EVE" >"$E2E_TMP/control-mux.txt"
mux_records "$E2E_EVE" par >"$E2E_TMP/control-par.txt"
e2e_nginx_stop

# --- phase 2: the mirror of HTTP/2 over TLS ------------------------------------------------
e2e_nginx_start 443:h2
E2E_SURICATA_HTTP2=1 e2e_suricata_start http2
e2e_mirror_start
e2e_mirror_wait_ready "https://$E2E_SERVER4/" # an HTTP/1.1 canary (curl --http1.1)

(cd "$E2E_LIB" && "$E2E_PY" -c 'import content, sys
sys.stdout.buffer.write(content.upload_body("h2"))') >"$E2E_TMP/upload.bin"
answers=$E2E_TMP/curl-answers.txt
h2curl() {
	e2e_in client curl -sS --http2 --cacert "$E2E_PKI_DIR/ca.pem" --max-time 60 \
		-w '%{http_version} %{http_code} %{size_download}\n' "$@" >>"$answers" ||
		e2e_fail "curl $* failed"
}
base=https://$E2E_SERVER4
# four requests on one connection, one after the other (streams 1, 3, 5, 7)
h2curl -o /dev/null "$base/index.html" -o /dev/null "$base/token.html" \
	-o /dev/null "$base/index.html?q=$uri_token" -o /dev/null "$base/big.bin"
h2curl -o /dev/null --data-binary "@$E2E_TMP/upload.bin" "$base/upload"
h2curl -o /dev/null -g "https://[$E2E_SERVER6]/token.html"
mux "$base"
par "$base" --http2 --cacert "$E2E_PKI_DIR/ca.pem"
# the mirror under test may be any command (fake_mirror.py, the bpftrace reference), so there
# is no metric to wait on: a second for it to emit the connections' ends before the drain
# marker (sslcollector's SIGTERM would emit them anyway)
sleep 1
e2e_suricata_drain
e2e_mirror_stop
e2e_suricata_stop

html=$E2E_NGINX_DIR/html
index=$(stat -c %s "$html/index.html") token=$(stat -c %s "$html/token.html")
big=$(stat -c %s "$html/big.bin")
e2e_check "curl got 6 HTTP/2 answers with status 200" \
	test "$(grep -c '^2 200 ' "$answers")" -eq 6

expected=$E2E_TMP/expected-http.txt got=$E2E_TMP/eve-http.txt
sort >"$expected" <<EOT
/big.bin 200 $big
/index.html 200 $index
/index.html?q=$uri_token 200 $index
/token.html 200 $token
/token.html 200 $token
/upload 200 10
EOT
jq -r 'select(.event_type == "http" and .http.version == "2" and .http.url != null)
	| select(.http.url | test("mux=|par=") | not)
	| "\(.http.url) \(.http.status) \(.http.length)"' "$E2E_EVE" |
	sort >"$got"
e2e_check "Suricata logged each HTTP/2 request: URL, status, response length" \
	diff -u "$expected" "$got"

alerts() {
	jq -r 'select(.event_type == "alert" and (.http.url // "" | test("mux=|par=") | not))
		| .alert.signature_id' "$E2E_EVE" |
		grep -vx "$E2E_DRAIN_SID" | sort | uniq -c | awk '{ print $2 " x" $1 }'
}
e2e_check "the token rules alerted inside HTTP/2: URI, request body, response bodies" \
	diff -u <(printf '%s\n' "9000001 x1" "9000002 x1" "9000003 x2" "9000004 x1") <(alerts)
flows=$E2E_TMP/eve-flows.txt
jq -r 'select(.event_type == "flow" and .dest_port == 443) | .app_proto' "$E2E_EVE" |
	sort | uniq -c | awk '{ print $2 " x" $1 }' >"$flows"
only_http2_and_canaries() {
	cat "$flows"
	grep -qx "http2 x7" "$flows" && ! grep -vqE "^http2? x" "$flows"
}
e2e_check "the seven HTTP/2 connections decoded as http2 (the canaries as http)" \
	only_http2_and_canaries
mux_records "$E2E_EVE" >"$E2E_TMP/mirror-mux.txt"
mux_complete() {
	cat "$E2E_TMP/control-mux.txt"
	[[ $(grep -c '^http ' "$E2E_TMP/control-mux.txt") == 5 &&
		$(grep -c '^alert ' "$E2E_TMP/control-mux.txt") == 4 ]]
}
e2e_check "control: Suricata logged all five multiplexed streams and their four alerts" \
	mux_complete
e2e_check "multiplexed streams: the mirror's records and alerts equal the control's" \
	diff -u "$E2E_TMP/control-mux.txt" "$E2E_TMP/mirror-mux.txt"
mux_records "$E2E_EVE" par >"$E2E_TMP/mirror-par.txt"
par_complete() {
	cat "$E2E_TMP/control-par.txt"
	[[ $(grep -c '^http ' "$E2E_TMP/control-par.txt") == 12 &&
		$(grep -c '^alert 9000003 /token.html?par=' "$E2E_TMP/control-par.txt") == 3 &&
		$(grep -c '^alert ' "$E2E_TMP/control-par.txt") == 9 ]]
}
e2e_check "curl --parallel: 24 HTTP/2 answers with status 200 (h2c and TLS)" \
	test "$(grep -c '^2 200 ' "$E2E_TMP/par-answers.txt")" -eq 24
e2e_check "control: curl --parallel's 12 streams logged, 9 alerts (the 104-byte body 3 times)" \
	par_complete
e2e_check "curl --parallel: the mirror's records and alerts equal the control's" \
	diff -u "$E2E_TMP/control-par.txt" "$E2E_TMP/mirror-par.txt"
e2e_check "mirror.pcap: valid checksums, every connection complete" \
	e2e_py pcaptool check "$E2E_MIRROR_PCAP"
# tshark's TCP analysis (issue 19): no gap reported, none allowed
e2e_check "mirror.pcap: tshark's TCP analysis finds no forbidden flag" \
	e2e_py tcpanalysis check "$E2E_MIRROR_PCAP"
e2e_checks_done
