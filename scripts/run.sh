#!/usr/bin/env bash
# Installs what is missing, builds sslcollector (release build in build/release) and runs it
# with the given options. With none, mirrors every TLS connection of this host into
# ./sslcollector.pcap until Ctrl-C.
#
#   scripts/run.sh                         # = sslcollector -I any -w ./sslcollector.pcap
#   scripts/run.sh -I eth0 -o mirror0      # any sslcollector options
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" run
build="$top/build/release"
log="$top/build/release-build.log"
mkdir -p "$build"
if ! { cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSSLC_TESTS=OFF &&
	cmake --build "$build" -j"$(nproc)"; } >"$log" 2>&1; then
	tail -n 40 "$log" >&2
	echo "run.sh: the build failed; the whole log is in $log" >&2
	exit 1
fi
if (($# == 0)); then
	set -- -I any -w ./sslcollector.pcap
	echo "run.sh: sslcollector -I any -w ./sslcollector.pcap (Ctrl-C to stop)" >&2
fi
exec "$build/sslcollector" "$@"
