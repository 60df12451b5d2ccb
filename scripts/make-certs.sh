#!/usr/bin/env bash
# The tunnel's PKI with the openssl command line: a CA, a collector certificate naming the
# host names / IP addresses agents use in -t, and one certificate per agent. Private keys are
# mode 0600. Idempotent: the CA is made once and reused; a leaf certificate is kept while it
# is signed by the CA and names what is asked, otherwise (or with --force) made again.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/make-certs.sh [-d DIR] [-c NAME|IP]... [-a AGENT]... [--days N] [--force]
                             [--revoke AGENT]... [--crl] [--crl-days N]

Makes the certificates of sslcollector's mutually authenticated tunnel (ECDSA P-256):

  DIR/ca.crt, DIR/ca.key          the CA (made once; keep ca.key offline if you can)
  DIR/collector.crt, .key         the collector's certificate, subjectAltName = every -c
  DIR/agents/AGENT/{agent.crt,agent.key,ca.crt}
                                  one bundle per -a: copy it to that host's /etc/sslcollector

Options:
  -d, --dir DIR        where to write (default $SSLCOLLECTOR_CERT_DIR or /etc/sslcollector)
  -c, --collector N    a host name or IP address agents give in -t (repeatable; default:
                       this host's name). Without -c and with an existing collector
                       certificate, that certificate is kept.
  -a, --agent NAME     make an agent certificate with subject CN=NAME (repeatable)
      --days N         validity of new certificates (default 825; the CA: 3650)
      --force          make the collector and agent certificates again
      --revoke AGENT   put that agent's certificate on the revocation list (repeatable);
                       writes DIR/crl.pem: give it to the collector's --crl and send the
                       collector SIGHUP (its sessions with that certificate end at once)
      --crl            write DIR/crl.pem again (a fresh one before --crl-days run out: an
                       expired list makes the collector refuse every agent)
      --crl-days N     validity of the revocation list (default 365)
  -h, --help           this text

Example:
  scripts/make-certs.sh -c collector.example.net -c 10.0.0.5 -a web-1 -a web-2
  sslcollector -C -o ids0                                      # on the collector
  sslcollector -I eth0 -t 10.0.0.5 --ca ca.crt --cert agent.crt --key agent.key   # web-1
EOF
}

die() {
	echo "make-certs.sh: $*" >&2
	exit 1
}

dir=${SSLCOLLECTOR_CERT_DIR:-/etc/sslcollector}
days=825
force=0
crl=0
crl_days=365
collector_names=()
agents=()
revoke=()
while (($#)); do
	case $1 in
	-d | --dir) (($# >= 2)) || die "$1: missing directory"; dir=$2; shift 2 ;;
	-c | --collector) (($# >= 2)) || die "$1: missing name or address"; collector_names+=("$2"); shift 2 ;;
	-a | --agent) (($# >= 2)) || die "$1: missing agent name"; agents+=("$2"); shift 2 ;;
	--days) (($# >= 2)) || die "$1: missing number"; days=$2; shift 2 ;;
	--force) force=1; shift ;;
	--revoke) (($# >= 2)) || die "$1: missing agent name"; revoke+=("$2"); crl=1; shift 2 ;;
	--crl) crl=1; shift ;;
	--crl-days) (($# >= 2)) || die "$1: missing number"; crl_days=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "make-certs.sh: $1: unknown argument" >&2; usage >&2; exit 2 ;;
	esac
done
[[ $crl_days =~ ^[1-9][0-9]{0,4}$ ]] || { echo "make-certs.sh: --crl-days $crl_days: a number of days from 1 to 99999" >&2; exit 2; }
[[ $days =~ ^[1-9][0-9]{0,4}$ ]] || { echo "make-certs.sh: --days $days: a number of days from 1 to 99999" >&2; exit 2; }
command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"

is_ip() {
	[[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ || $1 == *:* ]]
}
valid_name() {
	[[ $1 =~ ^[A-Za-z0-9]([A-Za-z0-9._-]{0,252})$ ]]
}
for n in "${collector_names[@]}"; do
	if is_ip "$n"; then
		[[ $n =~ ^[0-9a-fA-F.:]+$ ]] || { echo "make-certs.sh: -c $n: not an IP address" >&2; exit 2; }
	else
		valid_name "$n" || { echo "make-certs.sh: -c $n: not a host name" >&2; exit 2; }
	fi
done
for a in "${agents[@]}" "${revoke[@]}"; do
	valid_name "$a" || { echo "make-certs.sh: -a $a: use letters, digits, '.', '_' and '-'" >&2; exit 2; }
done

mkdir -p "$dir" || die "cannot create $dir"
[[ -w $dir ]] || die "$dir: not writable (run as root, or choose another directory with -d)"
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A CA when there is none. Its key never leaves this directory.
if [[ ! -s $dir/ca.crt || ! -s $dir/ca.key ]]; then
	[[ -e $dir/ca.crt || -e $dir/ca.key ]] && die "$dir has ca.crt or ca.key but not both; move them away first"
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
		-days 3650 -subj "/CN=sslcollector CA $(hostname -s 2>/dev/null || echo local)" \
		-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-keyout "$tmp/ca.key" -out "$tmp/ca.crt" 2>"$tmp/err" || die "cannot make the CA: $(cat "$tmp/err")"
	install -m 0600 "$tmp/ca.key" "$dir/ca.key"
	install -m 0644 "$tmp/ca.crt" "$dir/ca.crt"
	echo "make-certs.sh: made the CA $dir/ca.crt"
fi
openssl x509 -in "$dir/ca.crt" -noout 2>/dev/null || die "$dir/ca.crt is not a PEM certificate"

# The subjectAltName line of a certificate, normalised ("DNS:a,IP:1.2.3.4"), or nothing.
san_of() {
	openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | tail -n +2 |
		sed 's/IP Address:/IP:/g; s/ //g' | tr -d '\n'
}

# keep NAME CRT WANT_SAN: is CRT from our CA, valid for another day, with that SAN?
keep() {
	local crt=$2 key=${2%.crt}.key
	((force)) && return 1
	[[ -s $crt && -s $key ]] || return 1
	openssl verify -CAfile "$dir/ca.crt" "$crt" >/dev/null 2>&1 || return 1
	openssl x509 -in "$crt" -noout -checkend 86400 >/dev/null 2>&1 || return 1
	[[ -z $3 || $(san_of "$crt") == "$3" ]] || return 1
	echo "make-certs.sh: kept $1 certificate $crt"
}

# issue CN SAN EKU OUT_CRT OUT_KEY
issue() {
	local cn=$1 san=$2 eku=$3 crt=$4 key=$5 ext=$tmp/ext.cnf
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature"
		echo "extendedKeyUsage=$eku"
		echo "subjectKeyIdentifier=hash"
		echo "authorityKeyIdentifier=keyid"
		[[ -n $san ]] && echo "subjectAltName=$san"
	} >"$ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
		-keyout "$tmp/leaf.key" -out "$tmp/leaf.csr" 2>"$tmp/err" || die "cannot make a key for $cn: $(cat "$tmp/err")"
	openssl x509 -req -in "$tmp/leaf.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
		-CAcreateserial -CAserial "$dir/ca.srl" -days "$days" -sha256 -extfile "$ext" \
		-out "$tmp/leaf.crt" 2>"$tmp/err" || die "cannot sign the certificate of $cn: $(cat "$tmp/err")"
	install -m 0600 "$tmp/leaf.key" "$key"
	install -m 0644 "$tmp/leaf.crt" "$crt"
}

# The collector: serverAuth only, so an agent's certificate can never pose as the collector.
if ((${#collector_names[@]} == 0)) && [[ -s $dir/collector.crt ]]; then
	keep collector "$dir/collector.crt" "" || { force=1 && collector_names=("$(hostname -f 2>/dev/null || hostname)"); }
elif ((${#collector_names[@]} == 0)); then
	collector_names=("$(hostname -f 2>/dev/null || hostname)")
fi
if ((${#collector_names[@]})); then
	san=""
	for n in "${collector_names[@]}"; do
		if is_ip "$n"; then san+="${san:+,}IP:$n"; else san+="${san:+,}DNS:$n"; fi
	done
	# openssl prints IPv6 addresses its own way: compare with what it prints for a request
	want=$(openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=x \
		-addext "subjectAltName=$san" -keyout /dev/null 2>/dev/null |
		openssl req -noout -text 2>/dev/null | grep -A1 'Subject Alternative Name' |
		tail -n 1 | sed 's/IP Address:/IP:/g; s/ //g')
	if ! keep collector "$dir/collector.crt" "$want"; then
		issue "${collector_names[0]}" "$san" serverAuth "$dir/collector.crt" "$dir/collector.key"
		echo "make-certs.sh: made $dir/collector.crt for ${collector_names[*]}"
	fi
fi

# Agents: clientAuth only. Each gets a bundle to copy to its host.
for a in "${agents[@]}"; do
	out=$dir/agents/$a
	mkdir -p "$out"
	if ! keep "agent $a" "$out/agent.crt" ""; then
		issue "$a" "" clientAuth "$out/agent.crt" "$out/agent.key"
		echo "make-certs.sh: made $out/agent.crt (CN=$a)"
	fi
	install -m 0644 "$dir/ca.crt" "$out/ca.crt"
done

# Revocation: an openssl ca database of the revoked certificates, and the list it signs.
if ((crl)); then
	[[ -e $dir/ca-index.txt ]] || : >"$dir/ca-index.txt"
	[[ -s $dir/ca-crlnumber ]] || echo 01 >"$dir/ca-crlnumber"
	cat >"$tmp/ca.cnf" <<EOF
[ca]
default_ca = sslc
[sslc]
database = $dir/ca-index.txt
crlnumber = $dir/ca-crlnumber
certificate = $dir/ca.crt
private_key = $dir/ca.key
new_certs_dir = $tmp
serial = $dir/ca.srl
default_md = sha256
unique_subject = no
EOF
	for r in "${revoke[@]}"; do
		crt=$dir/agents/$r/agent.crt
		[[ -s $crt ]] || die "--revoke $r: no certificate $crt"
		serial=$(openssl x509 -in "$crt" -noout -serial | cut -d= -f2)
		if awk -F'\t' -v s="$serial" '$1 == "R" && toupper($4) == toupper(s) { f = 1 } END { exit !f }' "$dir/ca-index.txt"; then
			echo "make-certs.sh: $crt (serial $serial) was already revoked"
			continue
		fi
		openssl ca -batch -config "$tmp/ca.cnf" -revoke "$crt" >"$tmp/out" 2>&1 ||
			die "cannot revoke $crt: $(tail -1 "$tmp/out")"
		echo "make-certs.sh: revoked $crt (CN=$r, serial $serial)"
	done
	openssl ca -batch -config "$tmp/ca.cnf" -gencrl -crldays "$crl_days" -out "$tmp/crl.pem" \
		>"$tmp/out" 2>&1 || die "cannot make the revocation list: $(tail -1 "$tmp/out")"
	install -m 0644 "$tmp/crl.pem" "$dir/crl.pem"
	echo "make-certs.sh: wrote $dir/crl.pem ($(grep -c '^R' "$dir/ca-index.txt" || true) revoked, valid $crl_days days): sslcollector -C --crl $dir/crl.pem, then SIGHUP after each change"
fi
