/* Command-line parsing and validation for both roles (agent and collector -C), driven by the
 * option table (options_table.c). */
#include "options.h"
#include "options_table.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct sslc_options defaults = {
    .action = ACTION_RUN,
    .tunnel_port = SSLC_TUNNEL_PORT,
    .listen_port = SSLC_TUNNEL_PORT,
    .stats_interval_s = 5,
    .vlan = -1,
    .queue_bytes = 64ULL << 20,
    .ring_bytes = 16ULL << 20,
    .max_call_bytes = 16ULL << 20,
    .idle_timeout_s = 300,
    .handshake_timeout_s = 10,
    .max_agents = 1024,
    .user = SSLC_USER,
    .max_handshakes = 256,
    .max_handshakes_per_source = 16,
    .max_sessions_per_agent = 4,
    .agent_idle_timeout_s = 60,
};

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return EXIT_USAGE;
}

/* An unsigned decimal number within [min, max], the whole string. */
static int parse_uint(const char *s, unsigned long long min, unsigned long long max,
		      unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* "65536", "64K", "16M", "1G" (binary multiples). */
static int parse_size(const char *s, unsigned long long *out)
{
	char *end;
	unsigned long long v, mult = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'K':
			mult = 1ULL << 10;
			break;
		case 'M':
			mult = 1ULL << 20;
			break;
		case 'G':
			mult = 1ULL << 30;
			break;
		case 'T':
			mult = 1ULL << 40;
			break;
		case 'P':
			mult = 1ULL << 50;
			break;
		default:
			return -EINVAL;
		}
		end++;
		if (toupper((unsigned char)*end) == 'I')
			end++;
		if (toupper((unsigned char)*end) == 'B')
			end++;
		if (*end)
			return -EINVAL;
	}
	if (v > ULLONG_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

static int copy_str(char *dst, size_t dst_len, const char *src)
{
	size_t n = strlen(src);

	if (n >= dst_len)
		return -ENAMETOOLONG;
	memcpy(dst, src, n + 1);
	return 0;
}

/* HOST, HOST:PORT, [V6], [V6]:PORT or a bare IPv6 address. host may be empty on return. */
static int split_host_port(const char *arg, char *host, size_t host_len, uint16_t *port,
			   const char **why)
{
	const char *colon, *port_str = NULL;
	size_t hlen;

	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');

		if (!close) {
			*why = "missing ']' after IPv6 address";
			return -EINVAL;
		}
		hlen = (size_t)(close - arg - 1);
		if (hlen == 0) {
			*why = "empty address in []";
			return -EINVAL;
		}
		if (close[1] == ':')
			port_str = close + 2;
		else if (close[1] != '\0') {
			*why = "unexpected text after ']'";
			return -EINVAL;
		}
		arg++;
	} else {
		colon = strchr(arg, ':');
		if (colon && strchr(colon + 1, ':')) {
			hlen = strlen(arg); /* bare IPv6 address, no port */
		} else if (colon) {
			hlen = (size_t)(colon - arg);
			port_str = colon + 1;
		} else {
			hlen = strlen(arg);
		}
	}
	if (hlen >= host_len) {
		*why = "host name too long";
		return -ENAMETOOLONG;
	}
	memcpy(host, arg, hlen);
	host[hlen] = '\0';
	if (port_str) {
		unsigned long long p;

		if (parse_uint(port_str, 1, 65535, &p)) {
			*why = "port must be a number from 1 to 65535";
			return -ERANGE;
		}
		*port = (uint16_t)p;
	}
	return 0;
}

static bool valid_host_name(const char *h)
{
	struct in6_addr a6;

	if (inet_pton(AF_INET6, h, &a6) == 1)
		return true;
	if (!*h || strlen(h) > 253)
		return false;
	for (const char *p = h; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
			return false;
	return true;
}

static bool numeric_address(const char *a)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, a, buf) == 1 || inet_pton(AF_INET6, a, buf) == 1;
}

/* A file we will read: say precisely why not. */
static int check_readable(const char *opt, const char *path, const char *hint, char *err,
			  size_t err_len)
{
	struct stat st;
	int fd;

	if (stat(path, &st) < 0)
		return fail(err, err_len, "%s %s: %s%s", opt, path, strerror(errno), hint);
	if (S_ISDIR(st.st_mode))
		return fail(err, err_len, "%s %s: is a directory, expected a file", opt, path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, err_len, "%s %s: cannot read: %s", opt, path, strerror(errno));
	close(fd);
	return 0;
}

/* "90", "90s", "15m", "1h", "1d": seconds from 1 to 30 days. */
static int parse_duration(const char *s, unsigned long long *out)
{
	char *end;
	unsigned long long v, mult = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	if (*end) {
		const char *units = "smhd", *u = strchr(units, *end);
		static const unsigned secs[] = {1, 60, 3600, 86400};

		if (!u || end[1])
			return -EINVAL;
		mult = secs[u - units];
	}
	if (v > 2592000 / mult || v == 0)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

/* A file we will create or replace: its directory must exist and be writable. */
static int check_writable(const char *opt, const char *path, char *err, size_t err_len)
{
	char dir[PATH_MAX];
	struct stat st;

	if (!*path)
		return fail(err, err_len, "%s: empty file name", opt);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return fail(err, err_len, "%s %s: is a directory, expected a file name", opt, path);
	if (copy_str(dir, sizeof(dir), path))
		return fail(err, err_len, "%s: file name too long", opt);
	const char *d = dirname(dir);
	if (stat(d, &st) < 0)
		return fail(err, err_len, "%s %s: directory %s: %s", opt, path, d, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail(err, err_len, "%s %s: %s is not a directory", opt, path, d);
	if (access(d, W_OK) < 0)
		return fail(err, err_len, "%s %s: cannot write in %s: %s", opt, path, d,
			    strerror(errno));
	return 0;
}

static unsigned (*iface_index)(const char *name) = if_nametoindex;

void options_set_iface_resolver(unsigned (*resolve)(const char *name))
{
	iface_index = resolve ? resolve : if_nametoindex;
}

static int check_iface(const char *opt, const char *name, char *err, size_t err_len)
{
	if (!iface_index(name))
		return fail(err, err_len,
			    "%s %s: no such network interface in this namespace (see 'ip link')",
			    opt, name);
	return 0;
}

int options_validate(struct sslc_options *o, char *err, size_t err_len)
{
	int ret;

	if (o->action != ACTION_RUN)
		return 0;

	if (o->collector) {
		if (!o->out_iface[0] && !o->pcap_path)
			return fail(
			    err, err_len,
			    "-C needs an output: -o IFACE and/or -w FILE (e.g. -C -o ids0)");
		if (o->max_handshakes_per_source > o->max_handshakes)
			return fail(err, err_len,
				    "--max-handshakes-per-source %u: more than --max-handshakes %u",
				    o->max_handshakes_per_source, o->max_handshakes);
		if (o->crl_path && (ret = check_readable("--crl", o->crl_path, "", err, err_len)))
			return ret;
		if (o->allow_path &&
		    (ret = check_readable("--allow", o->allow_path, "", err, err_len)))
			return ret;
	} else {
		bool debug_out = o->print || o->dump_dir;

		if (!o->iface[0]) {
			if (o->list || debug_out)
				strcpy(o->iface, "any");
			else
				return fail(err, err_len,
					    "-I: missing; name the interface whose "
					    "TLS connections to mirror (or 'any')");
		}
		if (!o->list && !debug_out && !o->out_iface[0] && !o->pcap_path && !o->tunnel)
			return fail(err, err_len,
				    "no output: give -o IFACE, -w FILE and/or -t HOST[:PORT]");
		if (o->list && (debug_out || o->out_iface[0] || o->pcap_path || o->tunnel))
			return fail(err, err_len,
				    "--list: prints the TLS processes and exits; not with --print, "
				    "--dump-dir, -o, -w or -t");
		if (o->dump_dir) {
			struct stat st;

			if (stat(o->dump_dir, &st) == 0) {
				if (!S_ISDIR(st.st_mode))
					return fail(err, err_len, "--dump-dir %s: not a directory",
						    o->dump_dir);
			} else if ((ret =
					check_writable("--dump-dir", o->dump_dir, err, err_len))) {
				return ret;
			}
		}
		if (strcmp(o->iface, "any") != 0 &&
		    (ret = check_iface("-I", o->iface, err, err_len)))
			return ret;
	}

	if (o->out_iface[0] && (ret = check_iface("-o", o->out_iface, err, err_len)))
		return ret;
	if (o->out_iface[0] && o->iface[0] && !strcmp(o->out_iface, o->iface))
		return fail(err, err_len,
			    "-o %s: same interface as -I; mirror into a separate interface so the "
			    "IDS never confuses mirror and real traffic",
			    o->out_iface);
	if (o->pcap_path && !strcmp(o->pcap_path, "-")) {
		if (o->print)
			return fail(err, err_len,
				    "-w -: --print writes to standard output too; give -w a file");
		if (isatty(STDOUT_FILENO))
			return fail(
			    err, err_len,
			    "-w -: standard output is a terminal; pipe it into a pcap reader "
			    "(e.g. | tshark -r -) or give -w a file");
	} else if (o->pcap_path) {
		struct stat st;

		if ((ret = check_writable("-w", o->pcap_path, err, err_len)))
			return ret;
		if (lstat(o->pcap_path, &st) == 0 && S_ISLNK(st.st_mode))
			return fail(
			    err, err_len,
			    "-w %s: a symbolic link, which is not followed (the file holds "
			    "secrets); give the path it points to, or - for standard output",
			    o->pcap_path);
	}
	if (o->rotate_bytes || o->rotate_interval_s || o->rotate_keep || o->rotate_keep_bytes) {
		const char *opt = o->rotate_bytes	 ? "--rotate-size"
				  : o->rotate_interval_s ? "--rotate-time"
				  : o->rotate_keep	 ? "--rotate-keep"
							 : "--rotate-keep-size";
		struct stat st;

		if (!o->pcap_path)
			return fail(err, err_len, "%s: only with -w FILE", opt);
		if (!o->rotate_bytes && !o->rotate_interval_s)
			return fail(err, err_len, "%s: needs --rotate-size and/or --rotate-time",
				    opt);
		if (o->rotate_keep_bytes && o->rotate_bytes > o->rotate_keep_bytes)
			return fail(err, err_len,
				    "--rotate-keep-size: smaller than --rotate-size, so every file "
				    "would be removed as soon as it is complete");
		if (!strcmp(o->pcap_path, "-"))
			return fail(err, err_len, "%s: standard output (-w -) cannot be rotated",
				    opt);
		if (lstat(o->pcap_path, &st) == 0 && !S_ISREG(st.st_mode))
			return fail(err, err_len,
				    "-w %s: not a regular file, so %s cannot rotate it",
				    o->pcap_path, opt);
	}
	if (o->stats_path && (ret = check_writable("--stats-file", o->stats_path, err, err_len)))
		return ret;

	if (o->tunnel || o->collector) {
		static const char hint[] =
		    " (make certificates with scripts/make-certs.sh, or pass --ca/--cert/--key)";
		const char *dir = getenv("SSLCOLLECTOR_CERT_DIR");
		const char *role = o->collector ? "collector" : "agent";

		if (!dir || !*dir)
			dir = SSLC_CERT_DIR;
		if (!o->ca_path) {
			snprintf(o->default_ca, sizeof(o->default_ca), "%s/ca.crt", dir);
			o->ca_path = o->default_ca;
		}
		if (!o->cert_path) {
			snprintf(o->default_cert, sizeof(o->default_cert), "%s/%s.crt", dir, role);
			o->cert_path = o->default_cert;
		}
		if (!o->key_path) {
			snprintf(o->default_key, sizeof(o->default_key), "%s/%s.key", dir, role);
			o->key_path = o->default_key;
		}
		if ((ret = check_readable("--ca", o->ca_path, hint, err, err_len)) ||
		    (ret = check_readable("--cert", o->cert_path, hint, err, err_len)) ||
		    (ret = check_readable("--key", o->key_path, hint, err, err_len)))
			return ret;
	} else if (o->ca_path || o->cert_path || o->key_path) {
		return fail(err, err_len, "%s: certificates are only used with -t or -C",
			    o->ca_path	   ? "--ca"
			    : o->cert_path ? "--cert"
					   : "--key");
	}
	if (!o->tunnel && o->queue_bytes != defaults.queue_bytes)
		return fail(err, err_len, "--queue-size: only used with -t");
	if (o->collector && o->user && *o->user && !getpwnam(o->user))
		return fail(
		    err, err_len,
		    !strcmp(o->user, SSLC_USER)
			? "--user %s: no such user; the collector runs as this system user "
			  "after opening its sockets: create it (useradd --system --no-create-home "
			  "--shell /usr/sbin/nologin " SSLC_USER ") or name another with --user"
			: "--user %s: no such user",
		    o->user);

	for (size_t i = 0; i < o->n_libs; i++)
		if ((ret = check_readable("--lib", o->libs[i], "", err, err_len)))
			return ret;
	for (size_t i = 0; i < o->n_pids; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d", o->pids[i]);
		if (access(path, F_OK) < 0)
			return fail(err, err_len, "-p %d: no such process", o->pids[i]);
	}
	return 0;
}

int options_parse(int argc, char **argv, struct sslc_options *o, char *err, size_t err_len)
{
	unsigned long long v;
	const char *why = NULL;
	int c, quiet = 0, verbose = 0;

	*o = defaults;
	err[0] = '\0';
	optind = 0; /* full re-initialisation, so tests can parse repeatedly */
	opterr = 0;
	struct option long_options[96];
	char short_options[64] = ":";
	bool given[OPT_END + 1] = {false};
	size_t ns = 1;

	if (option_rows_n >= sizeof(long_options) / sizeof(long_options[0]))
		return fail(err, err_len, "internal error: the option table outgrew the parser");
	for (size_t i = 0; i < option_rows_n; i++) {
		const struct option_row *r = &option_rows[i];

		long_options[i] = (struct option){
		    r->long_name, r->arg ? required_argument : no_argument, NULL, r->id};
		if (r->short_name) {
			short_options[ns++] = r->short_name;
			if (r->arg)
				short_options[ns++] = ':';
		}
	}
	long_options[option_rows_n] = (struct option){NULL, 0, NULL, 0};
	short_options[ns] = '\0';
	/* first which options are given, so that an option of the other role is named as such
	 * before its value is looked at (-h and -V win over it) */
	while ((c = getopt_long(argc, argv, short_options, long_options, NULL)) != -1)
		if (c > 0 && c <= OPT_END)
			given[c] = true;
	for (size_t i = 0; i < option_rows_n && !given['h'] && !given['V']; i++) {
		const struct option_row *r = &option_rows[i];
		char name[64];

		if (!given[r->id] || (r->roles & (given['C'] ? FOR_COLLECTOR : FOR_AGENT)))
			continue;
		if (r->wrong_role)
			return fail(err, err_len, "%s", r->wrong_role);
		return fail(err, err_len,
			    given['C'] ? "%s: only for the agent, not with -C"
				       : "%s: only for the collector (-C)",
			    option_row_name(r, name, sizeof(name)));
	}
	optind = 0;
	while ((c = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
		switch (c) {
		case 'I':
			if (!*optarg || copy_str(o->iface, sizeof(o->iface), optarg))
				return fail(err, err_len, "-I '%s': not a valid interface name",
					    optarg);
			break;
		case 'o':
			if (!*optarg || copy_str(o->out_iface, sizeof(o->out_iface), optarg))
				return fail(err, err_len, "-o '%s': not a valid interface name",
					    optarg);
			break;
		case 'w':
			o->pcap_path = optarg;
			break;
		case 't':
			o->tunnel = true;
			if (split_host_port(optarg, o->tunnel_host, sizeof(o->tunnel_host),
					    &o->tunnel_port, &why))
				return fail(err, err_len, "-t %s: %s", optarg, why);
			if (!valid_host_name(o->tunnel_host))
				return fail(err, err_len,
					    "-t %s: '%s' is not a host name or IP address", optarg,
					    o->tunnel_host);
			break;
		case 'C':
			o->collector = true;
			break;
		case 'l':
			o->listen_given = true;
			if (split_host_port(optarg, o->listen_addr, sizeof(o->listen_addr),
					    &o->listen_port, &why))
				return fail(err, err_len, "-l %s: %s", optarg, why);
			if (o->listen_addr[0] && strcmp(o->listen_addr, "*") &&
			    !numeric_address(o->listen_addr))
				return fail(
				    err, err_len,
				    "-l %s: '%s' is not an IP address (use ADDR, ADDR:PORT, "
				    "[V6]:PORT or :PORT)",
				    optarg, o->listen_addr);
			if (!strcmp(o->listen_addr, "*"))
				o->listen_addr[0] = '\0';
			break;
		case 'p':
			if (parse_uint(optarg, 1, 4194304, &v))
				return fail(err, err_len, "-p %s: not a process id", optarg);
			if (o->n_pids == SSLC_MAX_PIDS)
				return fail(err, err_len, "-p %s: at most %d processes", optarg,
					    SSLC_MAX_PIDS);
			o->pids[o->n_pids++] = (int)v;
			break;
		case 'v':
			verbose++;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			o->action = ACTION_HELP;
			return 0;
		case 'V':
			o->action = ACTION_VERSION;
			return 0;
		case OPT_CA:
			o->ca_path = optarg;
			break;
		case OPT_CERT:
			o->cert_path = optarg;
			break;
		case OPT_KEY:
			o->key_path = optarg;
			break;
		case OPT_STATS_FILE:
			o->stats_path = optarg;
			break;
		case OPT_STATS_INTERVAL:
			if (parse_uint(optarg, 1, 3600, &v))
				return fail(err, err_len,
					    "--stats-interval %s: seconds from 1 to 3600", optarg);
			o->stats_interval_s = (unsigned)v;
			break;
		case OPT_LIB:
			if (o->n_libs == SSLC_MAX_LIBS)
				return fail(err, err_len, "--lib %s: at most %d libraries", optarg,
					    SSLC_MAX_LIBS);
			o->libs[o->n_libs++] = optarg;
			break;
		case OPT_LIST:
			o->list = true;
			break;
		case OPT_FORCE_OUTPUT:
			o->force_output = true;
			break;
		case OPT_PRINT:
			o->print = true;
			break;
		case OPT_MTU:
			if (parse_uint(optarg, 576, 65535, &v))
				return fail(err, err_len, "--mtu %s: bytes from 576 to 65535",
					    optarg);
			o->mtu = (unsigned)v;
			break;
		case OPT_VLAN:
			if (parse_uint(optarg, 1, 4094, &v))
				return fail(err, err_len, "--vlan %s: a VLAN id from 1 to 4094",
					    optarg);
			o->vlan = (int)v;
			break;
		case OPT_VLAN_PER_AGENT:
			o->vlan_per_agent = true;
			break;
		case OPT_QUEUE_SIZE:
			if (parse_size(optarg, &v) || v < (64ULL << 10) || v > (16ULL << 30))
				return fail(err, err_len,
					    "--queue-size %s: a size from 64K to 16G (e.g. 64M)",
					    optarg);
			o->queue_bytes = v;
			break;
		case OPT_RING_SIZE:
			if (parse_size(optarg, &v) || v < (1ULL << 16) || v > (1ULL << 30) ||
			    (v & (v - 1)))
				return fail(
				    err, err_len,
				    "--ring-size %s: a power of two from 64K to 1G (e.g. 16M)",
				    optarg);
			o->ring_bytes = v;
			break;
		case OPT_SYSCALL_HOOK:
			o->syscall_hook = true;
			break;
		case OPT_MAX_CALL_SIZE:
			if (parse_size(optarg, &v) || v < 1 || v > (1ULL << 30))
				return fail(err, err_len,
					    "--max-call-size %s: a size from 1 to 1G (e.g. 16M)",
					    optarg);
			o->max_call_bytes = v;
			break;
		case OPT_IDLE_TIMEOUT:
			if (parse_uint(optarg, 1, 86400, &v))
				return fail(err, err_len,
					    "--idle-timeout %s: seconds from 1 to 86400", optarg);
			o->idle_timeout_s = (unsigned)v;
			break;
		case OPT_HANDSHAKE_TIMEOUT:
			if (parse_uint(optarg, 1, 600, &v))
				return fail(err, err_len,
					    "--handshake-timeout %s: seconds from 1 to 600",
					    optarg);
			o->handshake_timeout_s = (unsigned)v;
			break;
		case OPT_MAX_AGENTS:
			if (parse_uint(optarg, 1, 65536, &v))
				return fail(err, err_len,
					    "--max-agents %s: a number from 1 to 65536", optarg);
			o->max_agents = (unsigned)v;
			break;
		case OPT_USER:
			o->user = optarg;
			break;
		case OPT_MAX_HANDSHAKES:
			if (parse_uint(optarg, 1, 65536, &v))
				return fail(err, err_len,
					    "--max-handshakes %s: a number from 1 to 65536",
					    optarg);
			o->max_handshakes = (unsigned)v;
			break;
		case OPT_MAX_HANDSHAKES_PER_SOURCE:
			if (parse_uint(optarg, 1, 65536, &v))
				return fail(
				    err, err_len,
				    "--max-handshakes-per-source %s: a number from 1 to 65536",
				    optarg);
			o->max_handshakes_per_source = (unsigned)v;
			break;
		case OPT_MAX_SESSIONS_PER_AGENT:
			if (parse_uint(optarg, 1, 1024, &v))
				return fail(err, err_len,
					    "--max-sessions-per-agent %s: a number from 1 to 1024",
					    optarg);
			o->max_sessions_per_agent = (unsigned)v;
			break;
		case OPT_AGENT_IDLE_TIMEOUT:
			if (parse_uint(optarg, 0, 86400, &v) || (v && v < 20))
				return fail(
				    err, err_len,
				    "--agent-idle-timeout %s: 0 (never) or seconds from 20 to "
				    "86400 (agents send a keepalive every 15 s)",
				    optarg);
			o->agent_idle_timeout_s = (unsigned)v;
			break;
		case OPT_CRL:
			o->crl_path = optarg;
			break;
		case OPT_ALLOW:
			o->allow_path = optarg;
			break;
		case OPT_TCP_ONLY:
			o->tcp_only = true;
			break;
		case OPT_SYSLOG:
			o->use_syslog = true;
			break;
		case OPT_DUMP_DIR:
			o->dump_dir = optarg;
			break;
		case OPT_ROTATE_SIZE:
			if (parse_size(optarg, &v) || v < (64ULL << 10) || v > (1ULL << 40))
				return fail(err, err_len,
					    "--rotate-size %s: a size from 64K to 1T (e.g. 100M)",
					    optarg);
			o->rotate_bytes = v;
			break;
		case OPT_ROTATE_TIME:
			if (parse_duration(optarg, &v))
				return fail(err, err_len,
					    "--rotate-time %s: a time from 1s to 30d, in seconds "
					    "or with s, m, h or d (e.g. 1h)",
					    optarg);
			o->rotate_interval_s = (unsigned)v;
			break;
		case OPT_ROTATE_KEEP_SIZE:
			if (parse_size(optarg, &v) || v < (64ULL << 10) || v > (1ULL << 50))
				return fail(
				    err, err_len,
				    "--rotate-keep-size %s: a size from 64K to 1P (e.g. 50G)",
				    optarg);
			o->rotate_keep_bytes = v;
			break;
		case OPT_ROTATE_KEEP:
			if (parse_uint(optarg, 1, 1000000, &v))
				return fail(err, err_len,
					    "--rotate-keep %s: a number of files from 1 to 1000000",
					    optarg);
			o->rotate_keep = (unsigned)v;
			break;
		case ':':
			/* named as typed: "--pid" rather than its short form */
			if (optopt && strncmp(argv[optind - 1], "--", 2) != 0)
				return fail(err, err_len, "-%c: missing argument", optopt);
			return fail(err, err_len, "%s: missing argument", argv[optind - 1]);
		default:
			if (optopt)
				return fail(err, err_len,
					    "-%c: unknown option (see sslcollector -h)", optopt);
			return fail(err, err_len, "%s: unknown option (see sslcollector -h)",
				    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fail(err, err_len, "'%s': unexpected argument (options only; see -h)",
			    argv[optind]);
	if (quiet && verbose)
		return fail(err, err_len, "-q: conflicts with -v");
	o->verbosity = quiet ? -1 : verbose;
	return options_validate(o, err, err_len);
}
