/* Command-line parsing for both roles (agent and collector -C): getopt_long driven by the
 * option table (options_table.c), each value read (option_values.c), then options_validate
 * (options_check.c). */
#include "options_impl.h"
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

const struct sslc_options options_defaults = {
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

int options_fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return EXIT_USAGE;
}

/* A value the row describes (VALUE_FLAG ... VALUE_DURATION): read, checked against the
 * row's limits and stored in its field. 0 or EXIT_USAGE with the message. */
static int row_value(const struct option_row *r, const char *arg, struct sslc_options *o, char *err,
		     size_t err_len)
{
	unsigned char *field = (unsigned char *)o + r->off;
	unsigned long long v = 0;
	char name[64];
	int bad = 0;

	switch (r->value) {
	case VALUE_FLAG:
		*(bool *)(void *)field = true;
		return 0;
	case VALUE_STRING:
		*(const char **)(void *)field = arg;
		return 0;
	case VALUE_UINT:
		bad = value_uint(arg, r->min, r->max, &v);
		break;
	case VALUE_SIZE:
		bad = value_size(arg, &v) || v < r->min || v > r->max;
		break;
	case VALUE_DURATION:
		bad = value_duration(arg, &v) || v < r->min || v > r->max;
		break;
	case VALUE_CODE:
		return 0;
	}
	if (bad)
		return options_fail(err, err_len, "%s %s: %s",
				    option_row_name(r, name, sizeof(name)), arg, r->limits);
	if (r->size == sizeof(uint64_t)) {
		uint64_t w = v;

		memcpy(field, &w, sizeof(w));
	} else {
		uint32_t w = (uint32_t)v; /* unsigned or int fields; the limits fit both */

		memcpy(field, &w, sizeof(w));
	}
	return 0;
}

int options_parse(int argc, char **argv, struct sslc_options *o, char *err, size_t err_len)
{
	unsigned long long v;
	const char *why = NULL;
	int c, quiet = 0, verbose = 0;

	*o = options_defaults;
	err[0] = '\0';
	optind = 0; /* full re-initialisation, so tests can parse repeatedly */
	opterr = 0;
	struct option long_options[96];
	char short_options[64] = ":";
	bool given[OPT_END + 1] = {false};
	size_t ns = 1;

	if (option_rows_n >= sizeof(long_options) / sizeof(long_options[0]))
		return options_fail(err, err_len,
				    "internal error: the option table outgrew the parser");
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
			return options_fail(err, err_len, "%s", r->wrong_role);
		return options_fail(err, err_len,
				    given['C'] ? "%s: only for the agent, not with -C"
					       : "%s: only for the collector (-C)",
				    option_row_name(r, name, sizeof(name)));
	}
	optind = 0;
	while ((c = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
		const struct option_row *row = option_row_by_id(c);
		int ret;

		if (row && row->value != VALUE_CODE) {
			if ((ret = row_value(row, optarg, o, err, err_len)))
				return ret;
			continue;
		}
		switch (c) {
		case 'I':
			if (!*optarg || value_copy(o->iface, sizeof(o->iface), optarg))
				return options_fail(err, err_len,
						    "-I '%s': not a valid interface name", optarg);
			break;
		case 'o':
			if (!*optarg || value_copy(o->out_iface, sizeof(o->out_iface), optarg))
				return options_fail(err, err_len,
						    "-o '%s': not a valid interface name", optarg);
			break;
		case 't':
			o->tunnel = true;
			if (value_host_port(optarg, o->tunnel_host, sizeof(o->tunnel_host),
					    &o->tunnel_port, &why))
				return options_fail(err, err_len, "-t %s: %s", optarg, why);
			if (!value_host_name(o->tunnel_host))
				return options_fail(err, err_len,
						    "-t %s: '%s' is not a host name or IP address",
						    optarg, o->tunnel_host);
			break;
		case 'l':
			o->listen_given = true;
			if (value_host_port(optarg, o->listen_addr, sizeof(o->listen_addr),
					    &o->listen_port, &why))
				return options_fail(err, err_len, "-l %s: %s", optarg, why);
			if (o->listen_addr[0] && strcmp(o->listen_addr, "*") &&
			    !value_numeric_address(o->listen_addr))
				return options_fail(
				    err, err_len,
				    "-l %s: '%s' is not an IP address (use ADDR, ADDR:PORT, "
				    "[V6]:PORT or :PORT)",
				    optarg, o->listen_addr);
			if (!strcmp(o->listen_addr, "*"))
				o->listen_addr[0] = '\0';
			break;
		case 'p':
			if (value_uint(optarg, 1, 4194304, &v))
				return options_fail(err, err_len, "-p %s: not a process id",
						    optarg);
			if (o->n_pids == SSLC_MAX_PIDS)
				return options_fail(err, err_len, "-p %s: at most %d processes",
						    optarg, SSLC_MAX_PIDS);
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
		case OPT_LIB:
			if (o->n_libs == SSLC_MAX_LIBS)
				return options_fail(err, err_len, "--lib %s: at most %d libraries",
						    optarg, SSLC_MAX_LIBS);
			o->libs[o->n_libs++] = optarg;
			break;
		case OPT_NETNS:
			if (!strcmp(optarg, "all")) {
				o->netns_all = true;
				break;
			}
			if (!*optarg)
				return options_fail(
				    err, err_len,
				    "--netns: empty; give 'all' or a namespace's path "
				    "(/run/netns/NAME, /proc/PID/ns/net)");
			if (o->n_netns == SSLC_MAX_NETNS)
				return options_fail(err, err_len,
						    "--netns %s: at most %d namespaces", optarg,
						    SSLC_MAX_NETNS);
			o->netns_paths[o->n_netns++] = optarg;
			break;
		case OPT_CGROUP:
			if (!*optarg)
				return options_fail(err, err_len,
						    "--cgroup: empty; give a cgroup v2 directory "
						    "(/sys/fs/cgroup/...)");
			if (o->n_cgroups == SSLC_MAX_CGROUPS)
				return options_fail(err, err_len, "--cgroup %s: at most %d cgroups",
						    optarg, SSLC_MAX_CGROUPS);
			o->cgroups[o->n_cgroups++] = optarg;
			break;
		case OPT_RING_SIZE:
			if (value_size(optarg, &v) || v < (1ULL << 16) || v > (1ULL << 30) ||
			    (v & (v - 1)))
				return options_fail(
				    err, err_len,
				    "--ring-size %s: a power of two from 64K to 1G (e.g. 16M)",
				    optarg);
			o->ring_bytes = v;
			break;
		case OPT_AGENT_IDLE_TIMEOUT:
			if (value_uint(optarg, 0, 86400, &v) || (v && v < 20))
				return options_fail(
				    err, err_len,
				    "--agent-idle-timeout %s: 0 (never) or seconds from 20 to "
				    "86400 (agents send a keepalive every 15 s)",
				    optarg);
			o->agent_idle_timeout_s = (unsigned)v;
			break;
		case ':':
			/* named as typed: "--pid" rather than its short form */
			if (optopt && strncmp(argv[optind - 1], "--", 2) != 0)
				return options_fail(err, err_len, "-%c: missing argument", optopt);
			return options_fail(err, err_len, "%s: missing argument", argv[optind - 1]);
		default: {
			const char *arg = argv[optind - 1];

			if (!strncmp(arg, "--", 2)) {
				/* getopt_long sets optopt to the option's value when a flag was
				 * given an argument (--vlan-per-agent=3, or a prefix of it) */
				const struct option_row *r =
				    optopt ? option_row_by_id(optopt) : NULL;

				if (r && strchr(arg, '='))
					return options_fail(err, err_len,
							    "--%s: takes no argument (%s)",
							    r->long_name, arg);
				return options_fail(
				    err, err_len, "%s: unknown option (see sslcollector -h)", arg);
			}
			if (optopt > 0 && optopt < 0x80)
				return options_fail(err, err_len,
						    "-%c: unknown option (see sslcollector -h)",
						    optopt);
			return options_fail(err, err_len,
					    "%s: unknown option (see sslcollector -h)", arg);
		}
		}
	}
	if (optind < argc)
		return options_fail(
		    err, err_len, "'%s': unexpected argument (options only; see -h)", argv[optind]);
	if (quiet && verbose)
		return options_fail(err, err_len, "-q: conflicts with -v");
	o->verbosity = quiet ? -1 : verbose;
	return options_validate(o, err, err_len);
}
