#!/usr/bin/env bash
# Puts the OPTIONS section made from the option table (cli/options_table.c, printed by the
# build's gen_man_options) between the BEGIN and END markers of docs/sslcollector.8.
#   scripts/update-man.sh [BUILD_DIR]     (default: build/test, else build)
#   scripts/update-man.sh --check GEN     exit 1 when the page differs from GEN's output
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
page=$top/docs/sslcollector.8
begin='.\" BEGIN OPTIONS (made from cli/options_table.c by scripts/update-man.sh)'
end='.\" END OPTIONS'

check=false
if [[ ${1:-} == --check ]]; then
	check=true
	gen=$2
else
	build=${1:-}
	if [[ -z $build ]]; then
		for b in "$top/build/test" "$top/build"; do
			[[ -x $b/cli/gen_man_options ]] && { build=$b; break; }
		done
	fi
	gen=${build:+$build/cli/gen_man_options}
	[[ -n $gen && -x $gen ]] || { echo "update-man.sh: build first (no gen_man_options)" >&2; exit 1; }
fi
grep -qxF "$begin" "$page" && grep -qxF "$end" "$page" ||
	{ echo "update-man.sh: $page lacks the OPTIONS markers" >&2; exit 1; }

new=$(mktemp)
trap 'rm -f "$new"' EXIT
# the markers through the environment: awk -v would take their backslash as an escape
B=$begin E=$end GEN=$gen awk '
	$0 == ENVIRON["B"] { print; while ((ENVIRON["GEN"] | getline l) > 0) print l; skip = 1; next }
	$0 == ENVIRON["E"] { skip = 0 }
	!skip { print }' "$page" >"$new"
grep -qxF "$end" "$new" && [[ $(grep -cxF "$begin" "$new") == 1 ]] ||
	{ echo "update-man.sh: could not splice the OPTIONS section" >&2; exit 1; }
if $check; then
	if ! diff -u "$page" "$new"; then
		echo "update-man.sh: docs/sslcollector.8 differs from the option table; run scripts/update-man.sh" >&2
		exit 1
	fi
	echo "update-man.sh: the man page's OPTIONS match the option table"
	exit 0
fi
cp "$new" "$page"
echo "update-man.sh: $page updated"
