# shellcheck shell=bash
# tests/e2e/lib/prom.sh — reading the Prometheus text files of --stats-file in tests. Sourced
# by lib/e2e.sh, and on its own by tests that do not need the rest (tests/collector/*.sh).
#
#   prom_value FILE NAME [LABELS]         the sample NAME{LABELS} (NAME alone without LABELS);
#                                         0 when absent
#   prom_sum FILE NAME [LABEL_PREFIX]     the sum of NAME's samples (those whose labels start
#                                         with LABEL_PREFIX, e.g. 'output="-w '); 0 when none
#   prom_await FILE NAME MIN [SECONDS] [LABELS]   polls (every 0.1 s, default 5 s) until the
#                                         sample is at least MIN; fails (1) otherwise

prom_value() {
	local want=$2
	[[ -n ${3:-} ]] && want="$2{$3}"
	[[ -r $1 ]] || { echo 0; return 0; }
	# a label value may hold a space (output="-w FILE"): the sample is the line's last field
	awk -v n="$want" 'index($0, n " ") == 1 { v = $NF } END { print v + 0 }' "$1"
}

prom_sum() {
	[[ -r $1 ]] || { echo 0; return 0; }
	awk -v n="$2" -v p="${3:-}" '
		p == "" && index($0, n " ") == 1 { s += $NF }
		index($0, n "{" p) == 1 { s += $NF }
		END { print s + 0 }' "$1"
}

prom_await() {
	local file=$1 name=$2 min=$3 secs=${4:-5} labels=${5:-} v i
	for ((i = 0; i < secs * 10; i++)); do
		v=$(prom_value "$file" "$name" "$labels")
		awk -v v="$v" -v m="$min" 'BEGIN { exit !(v >= m) }' && return 0
		sleep 0.1
	done
	return 1
}

# prom_await_settled FILE [SECONDS]: until the agent's stats file, written after this call
# began, shows no mirrored connection open (sslcollector_agent_flows_open 0): every
# connection of the workload has ended in the mirror. Default 15 s; fails (1) otherwise.
prom_await_settled() {
	local file=$1 secs=${2:-15} start i
	start=$(date +%s.%N)
	for ((i = 0; i < secs * 10; i++)); do
		if [[ -r $file ]] &&
			awk -v m="$(stat -c %.9Y "$file")" -v s="$start" 'BEGIN { exit !(m > s) }' &&
			[[ $(prom_value "$file" sslcollector_agent_flows_open) == 0 ]]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# prom_await_fresh FILE [SECONDS]: until FILE is written again after this call began (a new
# stats interval: its counters include what happened before the call). Default 5 s.
prom_await_fresh() {
	local file=$1 secs=${2:-5} start i
	start=$(date +%s.%N)
	for ((i = 0; i < secs * 10; i++)); do
		[[ -r $file ]] && awk -v m="$(stat -c %.9Y "$file")" -v s="$start" \
			'BEGIN { exit !(m > s) }' && return 0
		sleep 0.1
	done
	return 1
}
