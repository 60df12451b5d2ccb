#!/usr/bin/env bash
# HTTP/2 inside TLS: most browsers, curl and gRPC speak it. sslcollector mirrors the plaintext
# as it is (the HTTP/2 connection preface, HPACK-compressed headers, DATA frames), and Suricata
# 7 decodes it with its http2 parser: it must log every request with its URL, status and
# response length, and the rules of the HTTP/1.1 tests must alert inside HTTP/2 as well.
#
#   ns client                    ns server                                    ns ids
#  +----------------------+ veth +--------------------------------------+ veth +------------+
#  | curl --http2:        |======| nginx :443 TLS, ALPN h2              |======| Suricata 7 |
#  |  4 GETs on one conn. |      | sslcollector -I s-ID -o m0-ID        |      | (http2 on) |
#  |  POST /upload        |      |   -w mirror.pcap                     |      |            |
#  |  GET over IPv6       |      +--------------------------------------+      +------------+
#  +----------------------+
# Asserts: curl got HTTP/2 answers; Suricata logged one HTTP/2 record per request with the
# right URL, status and length, and the four token rules alerted as often as the tokens
# travelled (URI, request body, small and 5 MiB response bodies); every TLS flow to port 443 was
# decoded as http2; no drop; mirror.pcap has valid checksums and complete connections.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/e2e.sh
source "$here/lib/e2e.sh"

e2e_setup
e2e_nginx_start 443:h2
E2E_SURICATA_HTTP2=1 e2e_suricata_start http2
e2e_mirror_start
e2e_mirror_wait_ready "https://$E2E_SERVER4/" # an HTTP/1.1 canary (curl --http1.1)

uri_token=$(cd "$E2E_LIB" && "$E2E_PY" -c 'import content; print(content.URI_TOKEN)')
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
sleep 1 # the agent has mirrored the ends of the connections
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
	| "\(.http.url) \(.http.status) \(.http.length)"' "$E2E_EVE" |
	sort >"$got"
e2e_check "Suricata logged each HTTP/2 request: URL, status, response length" \
	diff -u "$expected" "$got"

alerts() {
	jq -r 'select(.event_type == "alert") | .alert.signature_id' "$E2E_EVE" |
		grep -vx "$E2E_DRAIN_SID" | sort | uniq -c | awk '{ print $2 " x" $1 }'
}
e2e_check "the token rules alerted inside HTTP/2: URI, request body, response bodies" \
	diff -u <(printf '%s\n' "9000001 x1" "9000002 x1" "9000003 x2" "9000004 x1") <(alerts)
flows=$E2E_TMP/eve-flows.txt
jq -r 'select(.event_type == "flow" and .dest_port == 443) | .app_proto' "$E2E_EVE" |
	sort | uniq -c | awk '{ print $2 " x" $1 }' >"$flows"
only_http2_and_canaries() {
	cat "$flows"
	grep -qx "http2 x3" "$flows" && ! grep -vqE "^http2? x" "$flows"
}
e2e_check "the three HTTP/2 connections decoded as http2 (the canaries as http)" \
	only_http2_and_canaries
e2e_check "mirror.pcap: valid checksums, every connection complete" \
	e2e_py pcaptool check "$E2E_MIRROR_PCAP"
e2e_checks_done
