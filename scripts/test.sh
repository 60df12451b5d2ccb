#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with ASan/UBSan (clang, so the
# libFuzzer harnesses build too) in build/test, runs every ctest test (labels unit, e2e,
# fuzz) and exits non-zero on any failure. Extra arguments go to ctest, e.g. -L unit.
# The e2e tests need root (BPF, network namespaces).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" test
build="$top/build/test"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	-DSSLC_SANITIZE=ON -DSSLC_FUZZ=ON --log-level=WARNING
cmake --build "$build" -j"$(nproc)"
cd "$build"
exec ctest --output-on-failure --timeout 900 "$@"
