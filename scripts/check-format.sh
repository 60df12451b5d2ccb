#!/usr/bin/env bash
# Fails, naming the files, when a C source or header of the tree is not formatted as
# .clang-format says. Run from anywhere; ctest runs it as the unit test `format`.
# Fix with: clang-format -i FILE...
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
command -v clang-format >/dev/null || {
	echo "check-format.sh: clang-format is missing (scripts/install-deps.sh test)" >&2
	exit 1
}
mapfile -t files < <(cd "$top" && find agent bench bpf cli collector common forge include output tests tunnel \
	-name '*.[ch]' -not -path '*/corpus/*' | sort)
bad=()
for f in "${files[@]}"; do
	clang-format --dry-run -Werror "$top/$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
	echo "check-format.sh: not formatted (clang-format -i to fix): ${bad[*]}" >&2
	exit 1
fi
echo "check-format.sh: ${#files[@]} files formatted"
