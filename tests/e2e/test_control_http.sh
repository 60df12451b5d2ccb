#!/usr/bin/env bash
# Control run of the end-to-end harness; needs none of sslcollector's code. Plain HTTP between
# client and server is copied to Suricata by tc (a software SPAN port). It proves the harness,
# the Suricata configuration and the assertions that the mirror tests reuse:
#
#   ns client                         ns server                                  ns ids
#  +------------------+   veth   +------------------------------+
#  | c-ID 10.77.0.1   |==========| s-ID 10.77.0.2               |
#  |      fd77::1     |          |      fd77::2                 |
#  | workload.py      |          | nginx :80 plain, :443 plain  |
#  | (http.client,    |          | tc: s-ID ingress+egress      |   veth   +--------------------+
#  |  curl)           |          |     --mirred--> m0-ID        |==========| m1-ID              |
#  +------------------+          +------------------------------+          | Suricata 7 (af-    |
#                                                                          | packet) eve.json   |
#                                                                          | dumpcap -> pcap    |
#                                                                          +--------------------+
#
# The workload runs against http://10.77.0.2/, http://[fd77::2]/ and the same on port 443 (plain
# HTTP where the mirror will put it: sslcollector keeps the real port). Asserts:
#  * nginx's access log agrees with the workload's ground truth (requests, bytes per connection);
#  * Suricata's eve.json has exactly one http record per request (method, URL, status, response
#    length, hostname) on the right connection, every TCP flow (443 included) is app_proto http,
#    each rule (URI, request-body, response-body and 5-MiB-tail tokens) alerts exactly on the
#    requests that carry its token; no drops, gaps or invalid checksums in Suricata's counters;
#  * the capture on m1 has valid IPv4/TCP checksums (recomputed) and reassembles byte for byte
#    to what the clients sent and received.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/e2e.sh
source "$here/lib/e2e.sh"

e2e_setup
e2e_nginx_start 80:plain 443:plain
e2e_suricata_start control
e2e_tc_mirror_start
e2e_capture_start control
e2e_wait_pipeline "http://$E2E_SERVER4"

gt=$E2E_TMP/control-gt.json
e2e_workload "$gt" "http://$E2E_SERVER4/" "http://[$E2E_SERVER6]/" \
	"http://$E2E_SERVER4:443/" "http://[$E2E_SERVER6]:443/"

e2e_suricata_drain
e2e_tc_mirror_stop
e2e_capture_stop control
e2e_suricata_stop

e2e_check "nginx's access log agrees with the ground truth" \
	e2e_py groundtruth accesslog "$gt" "$E2E_NGINX_DIR/access.log"
e2e_check "Suricata's http records and alerts match the ground truth" \
	e2e_py evetool check "$E2E_EVE" "$gt"
e2e_check "the tc-mirrored capture has valid checksums and the ground truth's bytes" \
	e2e_py pcaptool check "$E2E_CAPTURE_PCAP" --gt "$gt"
e2e_checks_done
