#!/usr/bin/env bash
# Installs what sslcollector needs from Debian 12 (bookworm, plus bookworm-backports for
# Suricata 7, libbpf 1.4 and bpftool 7.5). Idempotent: when everything is present it only
# checks and returns.
#
#   scripts/install-deps.sh [run|test|bench|all]     (default: run; also makes the system
#   user sslcollector, the collector's default --user)
#     run    build and run sslcollector
#     test   run + the test suite (Suricata, nginx, curl, scapy, tshark, ...)
#     bench  test + the benchmarks (wrk, bpftrace, tcpreplay)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
what=${1:-run}

build_pkgs=(cmake make gcc clang llvm pkg-config libelf-dev zlib1g-dev libpcap-dev libnet1-dev
	libssl-dev libnghttp2-dev libcmocka-dev libclang-rt-14-dev iproute2 openssl ca-certificates)
backports_pkgs=(libbpf-dev bpftool)
test_pkgs=(nginx curl socat nghttp2-client python3 python3-scapy tshark tcpreplay jq ethtool procps
	psmisc clang-format)
test_backports_pkgs=(suricata)
bench_pkgs=(wrk bpftrace linux-perf)

case $what in
run) ;;
test) build_pkgs+=("${test_pkgs[@]}"); backports_pkgs+=("${test_backports_pkgs[@]}") ;;
bench | all) build_pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}")
	backports_pkgs+=("${test_backports_pkgs[@]}") ;;
*) echo "install-deps.sh: unknown set '$what' (run, test, bench or all)" >&2; exit 2 ;;
esac

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
if ((${#missing[@]} == 0 && ${#missing_bpo[@]} == 0)); then
	exit 0
fi

if [[ $(id -u) != 0 ]]; then
	echo "install-deps.sh: missing packages (${missing[*]} ${missing_bpo[*]}); run as root to install them" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
src=/etc/apt/sources.list.d/sslcollector-backports.sources
if ! cmp -s "$here/bookworm-backports.sources" "$src"; then
	install -m 0644 "$here/bookworm-backports.sources" "$src"
fi
echo "install-deps.sh: installing ${missing[*]} ${missing_bpo[*]}" >&2
# A broken third-party source must not stop us: Debian's own suites are what we need.
apt-get update -qq || echo "install-deps.sh: warning: apt-get update reported errors" >&2
if ((${#missing_bpo[@]})); then
	apt-get install -y -qq -t bookworm-backports "${missing_bpo[@]}" >/dev/null
fi
if ((${#missing[@]})); then
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
