# bench/lib.sh: shared pieces of the benchmark scripts (sourced, not run): the namespace
# topology, nginx with a TLS 1.3 certificate, process helpers and the Prometheus text reader.
#
#   netns $BNS_C                netns $BNS_S                            netns $BNS_M
#   wrk / idle_conns.py  ── vc$$ ═veth═ vs$$ ── nginx :443 (HTTPS)
#                                         sslcollector -I vs$$ -o vo$$ ═veth═ vm$$  (sink: nothing
#                                         [sslcollector -C -o vo$$]               listens; rx counted)
#
# Every name carries the caller's $$ and everything is removed by bench_cleanup (set as the
# EXIT trap by bench_setup_netns).

BENCH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_PY=/usr/bin/python3 # Debian's python3 (the one on PATH may not be)
BNS_S=sslb$$s
BNS_C=sslb$$c
BNS_M=sslb$$m
BIF_S=vs$$ # server side of the client link (the agent's -I)
BIF_C=vc$$
BIF_O=vo$$ # the agent's -o, in the server namespace
BIF_M=vm$$ # its peer in the sink namespace
BADDR_S=198.18.0.1 # RFC 2544 benchmark range, only inside our namespaces
BADDR_C=198.18.0.2
BENCH_TMP=
BENCH_PIDS=()

bench_die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

bench_need_root() {
	[[ $(id -u) == 0 ]] || bench_die "run as root (namespaces, BPF, AF_PACKET)"
}

# bench_need_build BUILD_DIR: the release build's sslcollector must exist.
bench_need_build() {
	[[ -x $1/sslcollector ]] ||
		bench_die "$1/sslcollector missing; build first: cmake -S . -B $1 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSSLC_TESTS=OFF && cmake --build $1 -j2"
}

bench_need_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null ||
			bench_die "$t missing (scripts/install-deps.sh bench installs it)"
	done
}

# bench_interrupt PID [SECONDS]: SIGINT (the capture's way to stop cleanly), again every 5 s
# while it is still there (bpftrace now and then misses the first one and waits forever),
# KILL after SECONDS (default 30); reaps it. 1 when it had to be killed.
bench_interrupt() {
	local pid=$1 limit=${2:-30} i
	[[ -n $pid ]] || return 0
	for ((i = 0; i < limit * 10; i++)); do
		if ((i % 50 == 0)); then
			kill -INT "$pid" 2>/dev/null || break
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		return 1
	fi
	wait "$pid" 2>/dev/null || true
	return 0
}

# Kills (TERM, then KILL after 5 s) and reaps the processes we started, by pid.
bench_stop_pid() {
	local pid=$1 i
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

bench_cleanup() {
	local pid
	for pid in "${BENCH_PIDS[@]}"; do
		bench_stop_pid "$pid"
	done
	if [[ -n $BENCH_TMP && -f $BENCH_TMP/nginx.pid ]]; then
		kill -QUIT "$(cat "$BENCH_TMP/nginx.pid")" 2>/dev/null || true
		sleep 0.3
	fi
	ip netns del "$BNS_C" 2>/dev/null || true
	ip netns del "$BNS_M" 2>/dev/null || true
	ip netns del "$BNS_S" 2>/dev/null || true
	# BENCH_KEEP=1: leave the logs and stats files for a look
	if [[ -n $BENCH_TMP && -z ${BENCH_KEEP:-} ]]; then
		rm -rf "$BENCH_TMP"
	elif [[ -n $BENCH_TMP ]]; then
		echo "bench: kept $BENCH_TMP" >&2
	fi
	return 0
}

# Makes the temporary directory, the three namespaces and the two veth pairs.
bench_setup_netns() {
	BENCH_TMP=$(mktemp -d "/tmp/sslbench.$$.XXXXXX")
	chmod 755 "$BENCH_TMP"
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	ip netns add "$BNS_S"
	ip netns add "$BNS_C"
	ip netns add "$BNS_M"
	ip link add "$BIF_C" netns "$BNS_C" type veth peer name "$BIF_S" netns "$BNS_S"
	ip link add "$BIF_O" netns "$BNS_S" type veth peer name "$BIF_M" netns "$BNS_M"
	ip -n "$BNS_S" addr add "$BADDR_S/30" dev "$BIF_S"
	ip -n "$BNS_C" addr add "$BADDR_C/30" dev "$BIF_C"
	local ns
	for ns in "$BNS_S" "$BNS_C" "$BNS_M"; do
		ip -n "$ns" link set lo up
	done
	ip -n "$BNS_S" link set "$BIF_S" up
	ip -n "$BNS_S" link set "$BIF_O" up
	ip -n "$BNS_C" link set "$BIF_C" up
	ip -n "$BNS_M" link set "$BIF_M" up
	local i
	for i in $(seq 50); do # wait for the carrier on both pairs before the first packet
		ip -n "$BNS_C" link show dev "$BIF_C" | grep -q LOWER_UP &&
			ip -n "$BNS_M" link show dev "$BIF_M" | grep -q LOWER_UP && return 0
		sleep 0.1
	done
	bench_die "the veth pairs $BIF_C/$BIF_S, $BIF_O/$BIF_M have no carrier"
}

# bench_client_lib MODE: how the load generator gets its libssl. "private" (the default of the
# scripts): a copy of the system libssl.so.3 in $BENCH_TMP, through LD_LIBRARY_PATH, so that
# probes on the system file (the agent's, bpftrace's) do not fire in the client: on a real
# server the clients are other machines, and their cost is not the server's. The agent does
# not probe the copy: only processes of other network namespaces use it. "shared": the client
# uses the system libssl too and pays every probe hit (what the benchmark measured before
# 2026-11-23). Sets BENCH_CLIENT_ENV, a prefix for the client's command line.
BENCH_CLIENT_ENV=()
bench_client_lib() {
	case $1 in
	shared) BENCH_CLIENT_ENV=(env) ;;
	private)
		mkdir -p "$BENCH_TMP/client-lib"
		cp /usr/lib/x86_64-linux-gnu/libssl.so.3 "$BENCH_TMP/client-lib/"
		BENCH_CLIENT_ENV=(env "LD_LIBRARY_PATH=$BENCH_TMP/client-lib")
		;;
	*) bench_die "client libssl: '$1' is neither private nor shared" ;;
	esac
}

# bench_start_nginx WORKER_CONNECTIONS: nginx (Debian) in $BNS_S on $BADDR_S:443, TLS 1.3 only,
# keep-alive, one worker, bodies www/1k, www/64k, www/1m, access log "request_length bytes_sent".
bench_start_nginx() {
	local wc=${1:-1024} nofile
	nofile=$(ulimit -Hn)
	[[ $nofile == unlimited ]] && nofile=1048576
	((nofile > wc * 2 + 100)) && nofile=$((wc * 2 + 100))
	mkdir -p "$BENCH_TMP/www" "$BENCH_TMP/nginx-tmp"
	head -c 1024 /dev/urandom >"$BENCH_TMP/www/1k"
	head -c 65536 /dev/urandom >"$BENCH_TMP/www/64k"
	head -c 1048576 /dev/urandom >"$BENCH_TMP/www/1m"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=bench.invalid -keyout "$BENCH_TMP/key.pem" -out "$BENCH_TMP/cert.pem" \
		2>/dev/null
	cat >"$BENCH_TMP/nginx.conf" <<EOF
user root;
worker_processes 1;
worker_rlimit_nofile $nofile;
pid $BENCH_TMP/nginx.pid;
error_log $BENCH_TMP/nginx-error.log warn;
events { worker_connections $wc; }
http {
	default_type application/octet-stream;
	log_format bench '\$request_length \$bytes_sent \$status';
	access_log $BENCH_TMP/access.log bench;
	client_body_temp_path $BENCH_TMP/nginx-tmp;
	proxy_temp_path $BENCH_TMP/nginx-tmp;
	fastcgi_temp_path $BENCH_TMP/nginx-tmp;
	uwsgi_temp_path $BENCH_TMP/nginx-tmp;
	scgi_temp_path $BENCH_TMP/nginx-tmp;
	keepalive_requests 100000000;
	keepalive_timeout 600s;
	server {
		listen $BADDR_S:443 ssl backlog=4096;
		ssl_certificate $BENCH_TMP/cert.pem;
		ssl_certificate_key $BENCH_TMP/key.pem;
		ssl_protocols TLSv1.3;
		root $BENCH_TMP/www;
	}
}
EOF
	: >"$BENCH_TMP/access.log"
	ip netns exec "$BNS_S" nginx -c "$BENCH_TMP/nginx.conf" -e "$BENCH_TMP/nginx-error.log" ||
		bench_die "nginx did not start: $(cat "$BENCH_TMP/nginx-error.log")"
	local i
	for i in $(seq 50); do
		ip netns exec "$BNS_C" curl -sk -o /dev/null "https://$BADDR_S/1k" && return 0
		sleep 0.1
	done
	bench_die "nginx does not answer on https://$BADDR_S/: $(cat "$BENCH_TMP/nginx-error.log")"
}

# The pids of nginx's master and workers.
bench_nginx_pids() {
	local master
	master=$(cat "$BENCH_TMP/nginx.pid")
	echo "$master $(pgrep -P "$master" | tr '\n' ' ')"
}

# bench_wait_log FILE PATTERN SECONDS PID: waits for PATTERN in FILE while PID lives.
bench_wait_log() {
	local file=$1 pattern=$2 secs=$3 pid=$4 i
	for i in $(seq $((secs * 20))); do
		grep -q -- "$pattern" "$file" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# bench_metric FILE NAME [LABELS]: one sample's value from a Prometheus text file (0 if absent).
# Label values may hold spaces (output="-o vo1"): the value is the last field.
bench_metric() {
	local k=$2
	[[ -z ${3:-} ]] || k+="{$3}"
	awk -v k="$k" '
		/^#/ { next }
		substr($0, 1, length($0) - length($NF) - 1) == k { v = $NF }
		END { printf "%.0f\n", v + 0 }' "$1" 2>/dev/null || echo 0
}

# bench_metric_sum FILE NAME: the sum over all label sets of NAME.
bench_metric_sum() {
	awk -v n="$2" '
		/^#/ { next }
		{ k = substr($0, 1, length($0) - length($NF) - 1) }
		k == n || index(k, n "{") == 1 { s += $NF }
		END { printf "%.0f\n", s + 0 }' "$1" 2>/dev/null || echo 0
}

# bench_rss_kb PID FIELD: VmRSS or VmHWM of PID in KiB.
bench_rss_kb() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# Machine description for the reports (one Markdown list).
bench_machine_md() {
	local cpu cores kernel distro mem
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	cores=$(nproc)
	kernel=$(uname -r)
	distro=$(. /etc/os-release && echo "$PRETTY_NAME")
	mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	echo "- CPU: $cpu, $cores cores (\`nproc\`), memory $mem"
	echo "- kernel $kernel, $distro"
	echo "- nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), wrk $(wrk -v 2>&1 | awk 'NR == 1 { print $2 }'), bpftrace $(bpftrace --version 2>/dev/null | awk '{ print $2 }'), OpenSSL $(openssl version | awk '{ print $2 }')"
}
