#!/usr/bin/env bash
# Keeps the dependencies one way (docs/design.md "Layout"):
#   include/  <-  forge/ tunnel/ common/ bpf/  <-  output/  <-  agent/ collector/  <-  cli/
# Every #include "..." of a folder's sources must name a header of that folder, of
# include/sslcollector/, or of a folder below it; a header named *_impl.h only of its own
# folder. agent/ and collector/ never include each other; only cli/ knows both roles. Exit 1 with one line per offending include.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

declare -A allowed=(
	[forge]="forge"
	[tunnel]="tunnel"
	[common]="common"
	[bpf]="bpf"
	[output]="output common forge"
	[agent]="agent output common forge tunnel bpf"
	[collector]="collector output common forge tunnel"
	[cli]="cli agent collector output common forge tunnel"
)
# which folder holds each header name (names are unique across the folders; checked here)
declare -A home=()
for dir in "${!allowed[@]}"; do
	while IFS= read -r h; do
		name=${h##*/}
		if [[ -n ${home[$name]:-} ]]; then
			echo "check-layers: header $name in both ${home[$name]}/ and $dir/" >&2
			exit 1
		fi
		home[$name]=$dir
	done < <(find "$dir" -maxdepth 1 -name '*.h')
done

bad=0
for dir in "${!allowed[@]}"; do
	while IFS= read -r f; do
		while IFS= read -r inc; do
			[[ $inc == sslcollector/* ]] && continue
			# generated in the build: the BPF skeleton (agent/) and vmlinux.h (bpf/)
			[[ $inc == capture_bpf.skel.h && $dir == agent ]] && continue
			[[ $inc == vmlinux.h && $dir == bpf ]] && continue
			h=${home[${inc##*/}]:-}
			if [[ -z $h ]]; then
				[[ -f $(dirname "$f")/$inc ]] && continue # a generated or local file
				echo "$f: #include \"$inc\": no such header in the tree" >&2
				bad=1
			elif [[ $inc == *_impl.h && $h != "$dir" ]]; then
				echo "$f: #include \"$inc\": private to $h/ (an _impl.h header)" >&2
				bad=1
			elif [[ " ${allowed[$dir]} " != *" $h "* ]]; then
				echo "$f: #include \"$inc\" ($h/): $dir/ may use only ${allowed[$dir]}, include/" >&2
				bad=1
			fi
		done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
	done < <(find "$dir" -maxdepth 1 -name '*.[ch]')
done
# the contracts include nothing of the folders
if grep -n '#include "' include/sslcollector/*.h | grep -v '"sslcollector/'; then
	echo "check-layers: include/sslcollector/ may include only its own headers" >&2
	bad=1
fi
((bad == 0)) && echo "check-layers: every include follows the layers"
exit "$bad"
