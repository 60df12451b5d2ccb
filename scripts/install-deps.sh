#!/usr/bin/env bash
# Installs what sslcollector needs from Debian 12 (bookworm, plus bookworm-backports for
# Suricata 7, libbpf 1.4 and bpftool 7.5). Idempotent: when everything is present it only
# checks and returns.
#
#   scripts/install-deps.sh [run|test|bench|all]     (default: run; also makes the system
#   user sslcollector, the collector's default --user)
#     run    build and run sslcollector
#     test   run + the test suite (Suricata, nginx, curl, scapy, tshark, Dovecot, ...) and
#            Debian's Node.js 18 (it links the system libssl) unpacked into
#            /var/cache/sslcollector-tests/node18 for tests/e2e/test_capture_membio.sh
#     bench  test + the benchmarks (wrk, bpftrace, tcpreplay)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
what=${1:-run}

build_pkgs=(cmake make gcc clang llvm pkg-config libelf-dev zlib1g-dev libpcap-dev libnet1-dev
	libssl-dev libnghttp2-dev libcmocka-dev libclang-rt-14-dev iproute2 openssl ca-certificates)
backports_pkgs=(libbpf-dev bpftool)
test_pkgs=(nginx curl socat nghttp2-client python3 python3-scapy tshark tcpreplay jq ethtool procps
	psmisc clang-format dovecot-imapd python3-yaml gnutls-bin libnss3-tools wget git
	node-acorn node-cjs-module-lexer node-undici) # node-*: Debian's node 18 loads them at start
test_backports_pkgs=(suricata)
bench_pkgs=(wrk bpftrace linux-perf)

# Debian's nodejs 18 and libnode108 conflict with a nodesource nodejs (OpenSSL inside the
# binary) where one is installed, so they are unpacked here instead of installed; the test runs
# $node18_dir/usr/bin/node with LD_LIBRARY_PATH=$node18_dir/usr/lib/x86_64-linux-gnu.
node18_dir=/var/cache/sslcollector-tests/node18
want_node18=0

case $what in
run) ;;
test) build_pkgs+=("${test_pkgs[@]}"); backports_pkgs+=("${test_backports_pkgs[@]}")
	want_node18=1 ;;
bench | all) build_pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}")
	backports_pkgs+=("${test_backports_pkgs[@]}"); want_node18=1 ;;
*) echo "install-deps.sh: unknown set '$what' (run, test, bench or all)" >&2; exit 2 ;;
esac

node18_ok() {
	LD_LIBRARY_PATH=$node18_dir/usr/lib/x86_64-linux-gnu "$node18_dir/usr/bin/node" \
		-e 'require("https")' >/dev/null 2>&1
}

# The collector's system user (its default --user after it opened its sockets): its own, so
# that no other service's processes can read what it writes or signal it.
if ! getent passwd sslcollector >/dev/null; then
	if [[ $(id -u) == 0 ]]; then
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
			--user-group sslcollector
		echo "install-deps.sh: made the system user sslcollector (the collector runs as it)" >&2
	else
		echo "install-deps.sh: warning: no user sslcollector (the collector's default --user); run as root to make it" >&2
	fi
fi

# What is missing? (backports packages must come from backports: libbpf >= 1.4, suricata >= 7)
missing=()
for p in "${build_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
missing_bpo=()
for p in "${backports_pkgs[@]}"; do
	v=$(dpkg-query -W -f='${Status} ${Version}' "$p" 2>/dev/null || true)
	case $v in
	"install ok installed "*bpo*) ;;
	*) missing_bpo+=("$p") ;;
	esac
done
need_node18=0
((want_node18)) && [[ ! -x $node18_dir/usr/bin/node ]] && need_node18=1
if ((${#missing[@]} == 0 && ${#missing_bpo[@]} == 0 && need_node18 == 0)); then
	exit 0
fi

if [[ $(id -u) != 0 ]]; then
	((need_node18)) && missing+=("(Debian's node 18 in $node18_dir)")
	echo "install-deps.sh: missing packages (${missing[*]} ${missing_bpo[*]}); run as root to install them" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
src=/etc/apt/sources.list.d/sslcollector-backports.sources
if ! cmp -s "$here/bookworm-backports.sources" "$src"; then
	install -m 0644 "$here/bookworm-backports.sources" "$src"
fi
if ((${#missing[@]} + ${#missing_bpo[@]})); then
	echo "install-deps.sh: installing ${missing[*]} ${missing_bpo[*]}" >&2
fi
# A broken third-party source must not stop us: Debian's own suites are what we need.
apt-get update -qq || echo "install-deps.sh: warning: apt-get update reported errors" >&2
# Packages must not start their services (dovecot: the tests run their own, and there may be
# no init system): a policy-rc.d that refuses every start (101), unless one is already there.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\n# install-deps.sh: no service starts while it installs\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
if ((${#missing_bpo[@]})); then
	apt-get install -y -qq -t bookworm-backports "${missing_bpo[@]}" >/dev/null
fi
if ((${#missing[@]})); then
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's node 18 (libnode108's version: apt's candidate for nodejs may be nodesource's).
if ((need_node18)); then
	v=$(apt-cache show --no-all-versions libnode108 | awk '/^Version:/ { print $2; exit }')
	[[ -n $v ]] || { echo "install-deps.sh: apt knows no libnode108" >&2; exit 1; }
	echo "install-deps.sh: unpacking Debian's nodejs $v into $node18_dir" >&2
	dl=$(mktemp -d)
	chown _apt "$dl" 2>/dev/null || true # apt downloads as _apt where it can
	(cd "$dl" && apt-get download -qq "nodejs=$v" "libnode108=$v")
	rm -rf "$node18_dir.new"
	mkdir -p "$node18_dir.new"
	for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$node18_dir.new"; done
	rm -rf "$dl" "$node18_dir"
	mv "$node18_dir.new" "$node18_dir"
fi
if ((want_node18)) && ! node18_ok; then
	echo "install-deps.sh: $node18_dir/usr/bin/node does not run (missing node-* builtins?)" >&2
	exit 1
fi
