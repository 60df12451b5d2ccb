#!/usr/bin/env bash
# What the agent costs programs that do not use TLS: bench/syscall_cost (getppid(), and a
# 64-byte write() + read() over a UNIX socket pair) run with no capture, with the agent
# (sslcollector -I vs$$ -w /dev/null: its default socket hooks) and with the agent and
# --syscall-hook (a BPF program on every system call, what kernels before 6.3 get). The three
# alternate, each repeat in another order; each measure is the median over the repeats of
# the fastest of 40 rounds, and the added time is the median of the differences to no capture
# within each repeat. Prints a Markdown table.
#
#   bench/syscall_cost.sh [-b BUILD_DIR] [-r REPEATS]      (root; defaults build-rel, 5)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

build=$BENCH_TOP/build-rel
repeats=5
while getopts "b:r:h" o; do
	case $o in
	b) build=$OPTARG ;;
	r) repeats=$OPTARG ;;
	*) sed -n '2,/^set -e/{/^set -e/d;p}' "$0"; exit 2 ;;
	esac
done
[[ $repeats =~ ^[1-9][0-9]*$ ]] || bench_die "-r $repeats: a number of repeats, 1 or more"
[[ $build == /* ]] || build=$PWD/$build
bench_need_root
bench_need_build "$build"
[[ -x $build/bench/syscall_cost ]] || bench_die "$build/bench/syscall_cost missing: build $build"
bin=$build/sslcollector
bench_setup_netns

configs=(none agent agent-sys)
results=$BENCH_TMP/results.tsv
: >"$results"
for ((r = 1; r <= repeats; r++)); do
	for ((k = 0; k < ${#configs[@]}; k++)); do
		config=${configs[$(((k + r) % ${#configs[@]}))]}
		pid=
		if [[ $config != none ]]; then
			opts=()
			[[ $config == agent-sys ]] && opts=(--syscall-hook)
			ip netns exec "$BNS_S" "$bin" -I "$BIF_S" -w /dev/null "${opts[@]}" \
				2>"$BENCH_TMP/$config.$r.log" &
			pid=$!
			BENCH_PIDS+=("$pid")
			bench_wait_log "$BENCH_TMP/$config.$r.log" "mirroring TLS on" 20 "$pid" ||
				bench_die "the agent did not start: $(tail -2 "$BENCH_TMP/$config.$r.log")"
		fi
		"$build/bench/syscall_cost" | while read -r name ns; do
			printf '%s\t%s\t%s\t%s\n' "$r" "$config" "$name" "$ns"
		done >>"$results"
		if [[ -n $pid ]]; then
			bench_interrupt "$pid" || bench_die "the agent did not stop on SIGINT"
		fi
	done
	echo "syscall_cost: repeat $r of $repeats done" >&2
done

"$BENCH_PY" - "$results" "$repeats" <<'EOF'
import statistics
import sys

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
val = {(r, c, n): float(v) for r, c, n, v in rows}
labels = {
    "none": "no capture",
    "agent": "sslcollector -I vs -w /dev/null (socket hooks, the default)",
    "agent-sys": "sslcollector -I vs -w /dev/null --syscall-hook",
}
measures = {"getppid": "getppid()", "unix_socket_write_read": "write() or read() of 64 bytes, UNIX socket"}
reps = sorted({r for r, _, _ in val})
print("| call | capture | ns per call (median of %s repeats) | added to each call (median) |" % sys.argv[2])
print("| --- | --- | ---: | ---: |")
for m, mlabel in measures.items():
    for c in ("none", "agent", "agent-sys"):
        ns = [val[(r, c, m)] for r in reps if (r, c, m) in val]
        add = [val[(r, c, m)] - val[(r, "none", m)] for r in reps
               if (r, c, m) in val and (r, "none", m) in val]
        print("| %s | %s | %.1f | %s |" % (mlabel, labels[c], statistics.median(ns),
              "–" if c == "none" else "%+.1f ns" % statistics.median(add)))
EOF
