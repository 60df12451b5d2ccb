/* Option parsing: every example command line of docs/design.md parses, and bad input gets exit
 * code 2 with a one-line message naming the offending argument. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "test_tmpdir.h"
#include "options.h"
#include "options_table.h"

static char tmpdir[] = "/tmp/sslc-options-XXXXXX";

/* Interfaces of the documented examples exist for these tests. */
static unsigned fake_iface_index(const char *name)
{
	static const char *const known[] = {"eth0", "mirror0", "ids0", "lo", "veth1"};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(name, known[i]))
			return (unsigned)i + 1;
	return 0;
}

static void touch(const char *name, mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x\n", 2), 2);
	close(fd);
	chmod(path, mode);
}

static int setup(void **state)
{
	(void)state;
	if (test_tmpdir_make(tmpdir))
		return -1;
	touch("ca.crt", 0644);
	touch("agent.crt", 0644);
	touch("agent.key", 0600);
	touch("collector.crt", 0644);
	touch("collector.key", 0600);
	{
		char link[300];

		snprintf(link, sizeof(link), "%s/link.pcap", tmpdir);
		if (symlink("/dev/null", link) < 0)
			return -1;
	}
	setenv("SSLCOLLECTOR_CERT_DIR", tmpdir, 1);
	options_set_iface_resolver(fake_iface_index);
	return chdir(tmpdir);
}

static int teardown(void **state)
{
	(void)state;
	return test_tmpdir_remove(tmpdir);
}

/* Splits a command line on spaces (no quoting needed here) and parses it. */
static int parse_line(const char *line, struct sslc_options *o, char *err, size_t err_len)
{
	static char buf[1024];
	char *argv[64];
	int argc = 0;

	snprintf(buf, sizeof(buf), "%s", line);
	for (char *tok = strtok(buf, " "); tok && argc < 63; tok = strtok(NULL, " "))
		argv[argc++] = tok;
	argv[argc] = NULL;
	return options_parse(argc, argv, o, err, err_len);
}

static void expect_ok(const char *line, struct sslc_options *o)
{
	char err[512];
	int ret = parse_line(line, o, err, sizeof(err));

	if (ret)
		print_error("'%s' failed: %s\n", line, err);
	assert_int_equal(ret, 0);
	assert_int_equal(o->action, ACTION_RUN);
}

static void test_design_examples(void **state)
{
	struct sslc_options o;

	(void)state;
	expect_ok("sslcollector -I eth0 -t 10.0.0.5", &o);
	assert_string_equal(o.iface, "eth0");
	assert_true(o.tunnel);
	assert_string_equal(o.tunnel_host, "10.0.0.5");
	assert_int_equal(o.tunnel_port, 57012);
	assert_false(o.collector);
	assert_non_null(strstr(o.ca_path, "/ca.crt"));
	assert_non_null(strstr(o.cert_path, "/agent.crt"));
	assert_non_null(strstr(o.key_path, "/agent.key"));

	expect_ok("sslcollector -I eth0 -o mirror0", &o);
	assert_string_equal(o.out_iface, "mirror0");
	assert_false(o.tunnel);
	assert_null(o.pcap_path);

	expect_ok("sslcollector -I eth0 -w tls.pcap", &o);
	assert_string_equal(o.pcap_path, "tls.pcap");

	expect_ok("sslcollector -C -o ids0", &o);
	assert_true(o.collector);
	assert_string_equal(o.out_iface, "ids0");
	assert_int_equal(o.listen_port, 57012);
	assert_string_equal(o.listen_addr, "");
	assert_non_null(strstr(o.cert_path, "/collector.crt"));
}

static void test_more_valid_lines(void **state)
{
	struct sslc_options o;

	(void)state;
	expect_ok("sslcollector -I eth0 -t 10.0.0.5:9000 -o mirror0 -w tls.pcap", &o);
	assert_int_equal(o.tunnel_port, 9000);
	assert_string_equal(o.out_iface, "mirror0");
	assert_string_equal(o.pcap_path, "tls.pcap");

	expect_ok("sslcollector -I any -t [fd00::5]:443", &o);
	assert_string_equal(o.iface, "any");
	assert_string_equal(o.tunnel_host, "fd00::5");
	assert_int_equal(o.tunnel_port, 443);

	/* --netns and --cgroup: -I any by default, the paths kept */
	expect_ok("sslcollector --netns all -o mirror0", &o);
	assert_true(o.netns_all);
	assert_string_equal(o.iface, "any");
	expect_ok("sslcollector --netns /proc/self/ns/net --netns /proc/thread-self/ns/net -I any "
		  "-o mirror0",
		  &o);
	assert_false(o.netns_all);
	assert_int_equal(o.n_netns, 2);
	assert_string_equal(o.netns_paths[1], "/proc/thread-self/ns/net");
	struct statfs sf;
	expect_ok(statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC
		      ? "sslcollector --cgroup /sys/fs/cgroup -o mirror0"
		      : "sslcollector --cgroup /sys/fs/cgroup/unified -o mirror0",
		  &o);
	assert_int_equal(o.n_cgroups, 1);
	assert_string_equal(o.iface, "any");

	expect_ok("sslcollector -I eth0 -t fd00::5", &o);
	assert_string_equal(o.tunnel_host, "fd00::5");
	assert_int_equal(o.tunnel_port, 57012);

	expect_ok("sslcollector -I eth0 -t collector.example.net", &o);
	assert_string_equal(o.tunnel_host, "collector.example.net");

	expect_ok("sslcollector -C -o ids0 -w all.pcap -l 10.0.0.5:6000 --vlan-per-agent", &o);
	assert_string_equal(o.listen_addr, "10.0.0.5");
	assert_int_equal(o.listen_port, 6000);
	assert_true(o.vlan_per_agent);

	expect_ok("sslcollector -C -w all.pcap -l :7000", &o);
	assert_string_equal(o.listen_addr, "");
	assert_int_equal(o.listen_port, 7000);

	expect_ok("sslcollector -I eth0 -o mirror0 -p 1 -p 1 --mtu 9000 --vlan 42 -vv", &o);
	assert_int_equal(o.n_pids, 2);
	assert_int_equal(o.pids[0], 1);
	assert_int_equal(o.mtu, 9000);
	assert_int_equal(o.vlan, 42);
	assert_int_equal(o.verbosity, 2);

	expect_ok("sslcollector -I eth0 -t 10.0.0.5 --queue-size 128M --ring-size 1M "
		  "--max-call-size 4M --idle-timeout 60",
		  &o);
	assert_int_equal(o.queue_bytes, 128ULL << 20);
	assert_int_equal(o.ring_bytes, 1ULL << 20);
	assert_int_equal(o.max_call_bytes, 4ULL << 20);
	assert_int_equal(o.idle_timeout_s, 60);
	assert_false(o.syscall_hook);

	expect_ok("sslcollector -I eth0 -o mirror0 --syscall-hook", &o);
	assert_true(o.syscall_hook);

	expect_ok("sslcollector --print", &o);
	assert_true(o.print);
	assert_string_equal(o.iface, "any");

	expect_ok("sslcollector -I eth0 -w tls.pcap --rotate-size 100M --rotate-time 1h "
		  "--rotate-keep 24",
		  &o);
	assert_int_equal(o.rotate_bytes, 100ULL << 20);
	assert_int_equal(o.rotate_interval_s, 3600);
	assert_int_equal(o.rotate_keep, 24);
	expect_ok("sslcollector -C -w all.pcap --rotate-time 1h --rotate-keep-size 50G", &o);
	assert_int_equal(o.rotate_keep_bytes, 50ULL << 30);
	/* the sizes the messages name as limits parse (1T, 1P) */
	expect_ok("sslcollector -C -w all.pcap --rotate-size 1T --rotate-keep-size 1PiB", &o);
	assert_int_equal(o.rotate_bytes, 1ULL << 40);
	assert_int_equal(o.rotate_keep_bytes, 1ULL << 50);
	expect_ok("sslcollector -C -w all.pcap --rotate-time 90", &o);
	assert_int_equal(o.rotate_interval_s, 90);
	assert_int_equal(o.rotate_bytes, 0);
	expect_ok("sslcollector -I eth0 -w tls.pcap --rotate-time 15m --rotate-time 30d", &o);
	assert_int_equal(o.rotate_interval_s, 30 * 86400);
	expect_ok("sslcollector -I eth0 -w tls.pcap --rotate-size 64K", &o);
	assert_int_equal(o.rotate_bytes, 64 << 10);

	if (!isatty(STDOUT_FILENO)) { /* as under ctest */
		expect_ok("sslcollector -I eth0 -w -", &o);
		assert_string_equal(o.pcap_path, "-");
	} else {
		char err[256];

		assert_int_equal(parse_line("sslcollector -I eth0 -w -", &o, err, sizeof(err)),
				 EXIT_USAGE);
		assert_non_null(strstr(err, "-w -: standard output is a terminal"));
	}

	expect_ok("sslcollector --list -q", &o);
	assert_true(o.list);
	assert_int_equal(o.verbosity, -1);
}

static void test_help_and_version(void **state)
{
	struct sslc_options o;
	char err[256];

	(void)state;
	assert_int_equal(parse_line("sslcollector -h", &o, err, sizeof(err)), 0);
	assert_int_equal(o.action, ACTION_HELP);
	assert_int_equal(parse_line("sslcollector -I eth0 --version", &o, err, sizeof(err)), 0);
	assert_int_equal(o.action, ACTION_VERSION);
	/* the usage shows the four documented command lines */
	assert_non_null(strstr(options_usage(), "sslcollector -I eth0 -t 10.0.0.5"));
	assert_non_null(strstr(options_usage(), "sslcollector -I eth0 -o mirror0"));
	assert_non_null(strstr(options_usage(), "sslcollector -I eth0 -w tls.pcap"));
	assert_non_null(strstr(options_usage(), "sslcollector -C -o ids0"));
}

struct bad_case {
	const char *line;
	const char *names; /* the message must start with the offending argument */
};

static const struct bad_case bad_cases[] = {
    {"sslcollector -o mirror0", "-I"},
    {"sslcollector -I eth0", "no output"},
    {"sslcollector -I eth9 -o mirror0", "-I eth9"},
    {"sslcollector -I eth0 -o nosuch0", "-o nosuch0"},
    {"sslcollector -I eth0 -o eth0", "-o eth0"},
    {"sslcollector -I eth0 -t 10.0.0.5:0", "-t 10.0.0.5:0"},
    {"sslcollector -I eth0 -t 10.0.0.5:70000", "-t 10.0.0.5:70000"},
    {"sslcollector -I eth0 -t 10.0.0.5:http", "-t 10.0.0.5:http"},
    {"sslcollector -I eth0 -t [fd00::5", "-t [fd00::5"},
    {"sslcollector -I eth0 -t bad/host", "-t bad/host"},
    {"sslcollector -C", "-C"},
    {"sslcollector -C -o ids0 -I eth0", "-I"},
    {"sslcollector -C -o ids0 -t 10.0.0.5", "-t"},
    {"sslcollector -C -o ids0 --syscall-hook", "--syscall-hook: only for the agent"},
    {"sslcollector -C -o ids0 --dump-dir /tmp", "--dump-dir: only for the agent"},
    /* a flag given a value, also by a prefix of its name (found by fuzz_options: the message
     * printed the option's getopt value as a character, a newline) */
    {"sslcollector -C -o ids0 --vlan-per-agent=3",
     "--vlan-per-agent: takes no argument (--vlan-per-agent=3)"},
    {"sslcollector -I eth0 -o mirror0 --vlan-=in", "--vlan-per-agent: takes no argument"},
    {"sslcollector -I eth0 -o mirror0 --nosuch", "--nosuch: unknown option"},
    {"sslcollector -C -o ids0 -l 10.0.0.5:99999", "-l 10.0.0.5:99999"},
    {"sslcollector -C -o ids0 -l not-an-ip", "-l not-an-ip"},
    {"sslcollector -I eth0 -o mirror0 -l 10.0.0.5", "-l"},
    {"sslcollector -I eth0 -t 10.0.0.5 --ca /nonexistent/ca.crt", "--ca /nonexistent/ca.crt"},
    {"sslcollector -I eth0 -t 10.0.0.5 --key /nonexistent/x.key", "--key /nonexistent/x.key"},
    {"sslcollector -I eth0 -o mirror0 -p 0", "-p 0"},
    {"sslcollector -I eth0 -o mirror0 -p abc", "-p abc"},
    {"sslcollector -I eth0 -o mirror0 -p 4000000", "-p 4000000"},
    {"sslcollector -I eth0 -o mirror0 --mtu 100", "--mtu 100"},
    {"sslcollector -I eth0 -o mirror0 --vlan 4095", "--vlan 4095"},
    {"sslcollector -I eth0 -o mirror0 --ring-size 3M", "--ring-size 3M"},
    {"sslcollector -I eth0 -o mirror0 --queue-size 1M", "--queue-size"},
    {"sslcollector -I eth0 -w /nonexistent/dir/x.pcap", "-w /nonexistent/dir/x.pcap"},
    {"sslcollector -I eth0 -w /", "-w /"},
    {"sslcollector -I eth0 -o mirror0 --lib /nonexistent/libssl.so", "--lib /nonexistent"},
    {"sslcollector -I eth0 -o mirror0 --bogus", "--bogus"},
    {"sslcollector -I eth0 -o mirror0 -Z", "-Z"},
    {"sslcollector -I eth0 -o", "-o: missing argument"},
    {"sslcollector -I eth0 -o mirror0 --pid", "--pid: missing argument"},
    {"sslcollector -I eth0 -o mirror0 -vp", "-p: missing argument"},
    {"sslcollector -I eth0 --output", "--output: missing argument"},
    {"sslcollector -I eth0 -o mirror0 extra", "'extra'"},
    {"sslcollector -I eth0 -o mirror0 -q -v", "-q"},
    {"sslcollector -I eth0 -o mirror0 --ca ca.crt", "--ca"},
    {"sslcollector --list -o mirror0", "--list"},
    {"sslcollector -C -o ids0 --user no-such-user-xyz", "--user no-such-user-xyz"},
    {"sslcollector -I eth0 -o mirror0 --rotate-size 1G", "--rotate-size: only with -w"},
    {"sslcollector -C -o ids0 --rotate-time 1h", "--rotate-time: only with -w"},
    {"sslcollector -I eth0 -w tls.pcap --rotate-keep 3", "--rotate-keep: needs"},
    {"sslcollector -I eth0 -w tls.pcap --rotate-keep-size 1G", "--rotate-keep-size: needs"},
    {"sslcollector -I eth0 -o mirror0 --rotate-keep-size 1G", "--rotate-keep-size: only with -w"},
    {"sslcollector -I eth0 -w tls.pcap --rotate-size 2G --rotate-keep-size 1G",
     "--rotate-keep-size: smaller than --rotate-size"},
    {"sslcollector -I eth0 -w tls.pcap --rotate-time 1h --rotate-keep-size 1k",
     "--rotate-keep-size 1k"},
    {"sslcollector -I eth0 -w tls.pcap --rotate-size 1000", "--rotate-size 1000"},
    {"sslcollector -I eth0 -w tls.pcap --rotate-size 2T", "--rotate-size 2T"},
    {"sslcollector -I eth0 -w tls.pcap --rotate-size 10X", "--rotate-size 10X"},
    {"sslcollector -I eth0 -w tls.pcap --rotate-time 0", "--rotate-time 0"},
    {"sslcollector -I eth0 -w tls.pcap --rotate-time 31d", "--rotate-time 31d"},
    {"sslcollector -I eth0 -w tls.pcap --rotate-time 1w", "--rotate-time 1w"},
    {"sslcollector -I eth0 -w tls.pcap --rotate-time 1hh", "--rotate-time 1hh"},
    {"sslcollector -I eth0 -w tls.pcap --rotate-time -1", "--rotate-time -1"},
    {"sslcollector -I eth0 -w tls.pcap --rotate-time 1h --rotate-keep 0", "--rotate-keep 0"},
    {"sslcollector -I eth0 -w /dev/null --rotate-size 1G", "-w /dev/null: not a regular"},
    {"sslcollector -I eth0 -w tls.pcap --rotate-size", "--rotate-size: missing argument"},
    {"sslcollector -I eth0 -w - --rotate-time 1h", "--rotate-time: standard output"},
    {"sslcollector -I eth0 -w - --print", "-w -: --print"},
    {"sslcollector -I eth0 -w link.pcap", "-w link.pcap: a symbolic link"},
    {"sslcollector --netns all -I eth0 -o mirror0", "--netns: mirrors every address"},
    {"sslcollector --cgroup /nonexistent -I eth0 -o mirror0", "--cgroup: mirrors every"},
    {"sslcollector --netns all --netns /proc/self/ns/net -o mirror0", "--netns all: every"},
    {"sslcollector --netns /nonexistent/ns -o mirror0", "--netns /nonexistent/ns: No such"},
    {"sslcollector --netns /proc/self/ns/mnt -o mirror0", "--netns /proc/self/ns/mnt: another"},
    {"sslcollector --netns /etc/passwd -o mirror0", "--netns /etc/passwd: not a namespace"},
    {"sslcollector --netns= -o mirror0", "--netns: empty"},
    {"sslcollector --cgroup /etc -o mirror0", "--cgroup /etc: not a cgroup v2"},
    {"sslcollector --cgroup /nonexistent/cg -o mirror0", "--cgroup /nonexistent/cg: No such"},
    {"sslcollector -C -o ids0 --netns all", "--netns: only for the agent"},
};

static void test_bad_arguments(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct sslc_options o;
		char err[512] = "";
		int ret = parse_line(bad_cases[i].line, &o, err, sizeof(err));

		if (ret != EXIT_USAGE ||
		    strncmp(err, bad_cases[i].names, strlen(bad_cases[i].names)))
			print_error("case '%s': exit %d, message '%s' (expected it to start with "
				    "'%s')\n",
				    bad_cases[i].line, ret, err, bad_cases[i].names);
		assert_int_equal(ret, EXIT_USAGE);
		assert_int_equal(strncmp(err, bad_cases[i].names, strlen(bad_cases[i].names)), 0);
		assert_null(strchr(err, '\n')); /* one line */
	}
}

static void test_certificate_directory_is_not_a_file(void **state)
{
	struct sslc_options o;
	char err[512], line[512];

	(void)state;
	snprintf(line, sizeof(line), "sslcollector -C -o ids0 --cert %s", tmpdir);
	assert_int_equal(parse_line(line, &o, err, sizeof(err)), EXIT_USAGE);
	assert_int_equal(strncmp(err, "--cert", 6), 0);
	assert_non_null(strstr(err, "is a directory"));
}

/* The option table drives everything: every row is in -h with its names, getopt knows it
 * (given alone it is either accepted or refused for a reason other than "unknown"), and the
 * defaults that -h states are the parser's. */
static void test_table_help_and_getopt(void **state)
{
	const char *help = options_usage();

	(void)state;
	for (size_t i = 0; i < option_rows_n; i++) {
		const struct option_row *r = &option_rows[i];
		char name[80], line[200];
		struct sslc_options o;
		char err[512];

		snprintf(name, sizeof(name), "--%s%s%s", r->long_name, r->arg ? " " : "",
			 r->arg ? r->arg : "");
		if (!strstr(help, name))
			fail_msg("-h does not show %s", name);
		if (r->short_name) {
			snprintf(name, sizeof(name), "-%c, --%s", r->short_name, r->long_name);
			if (!strstr(help, name))
				fail_msg("-h does not show %s", name);
		}
		snprintf(line, sizeof(line), "sslcollector --%s%s", r->long_name,
			 r->arg ? " 1" : "");
		if (parse_line(line, &o, err, sizeof(err)) && strstr(err, "unknown option"))
			fail_msg("getopt does not know --%s: %s", r->long_name, err);
	}
}

/* The table's help text of --opt says "default VALUE". */
static void expect_default(const char *opt, unsigned long long value)
{
	char needle[80];

	snprintf(needle, sizeof(needle), "default %llu", value);
	for (size_t i = 0; i < option_rows_n; i++)
		if (!strcmp(option_rows[i].long_name, opt)) {
			if (!strstr(option_rows[i].help, needle))
				fail_msg("the help of --%s does not say \"%s\"", opt, needle);
			return;
		}
	fail_msg("no row for --%s", opt);
}

static void test_table_defaults(void **state)
{
	struct sslc_options o;

	(void)state;
	expect_ok("sslcollector -C -o ids0", &o);
	expect_default("max-agents", o.max_agents);
	expect_default("max-handshakes", o.max_handshakes);
	expect_default("max-handshakes-per-source", o.max_handshakes_per_source);
	expect_default("handshake-timeout", o.handshake_timeout_s);
	expect_default("agent-idle-timeout", o.agent_idle_timeout_s);
	expect_default("max-sessions-per-agent", o.max_sessions_per_agent);
	expect_default("stats-interval", o.stats_interval_s);
	expect_ok("sslcollector -I eth0 -o mirror0", &o);
	expect_default("idle-timeout", o.idle_timeout_s);
	assert_int_equal(o.queue_bytes, 64ULL << 20); /* "default 64M" */
	assert_non_null(strstr(options_usage(), "(default 64M)"));
	assert_int_equal(o.ring_bytes, 16ULL << 20);
	assert_non_null(strstr(options_usage(), "power of two, default 16M"));
	assert_int_equal(o.max_call_bytes, 16ULL << 20);
	assert_non_null(strstr(options_usage(), "as a gap (default 16M)"));
}

/* Every option is for its roles only, with the generic message unless the row has its own. */
static void test_table_roles(void **state)
{
	(void)state;
	for (size_t i = 0; i < option_rows_n; i++) {
		const struct option_row *r = &option_rows[i];
		char line[200], err[512], name[64];
		struct sslc_options o;

		if (r->roles == FOR_BOTH)
			continue;
		snprintf(line, sizeof(line), "%s --%s%s",
			 r->roles == FOR_AGENT ? "sslcollector -C -o ids0"
					       : "sslcollector -I eth0 -o mirror0",
			 r->long_name, r->arg ? " 1" : "");
		assert_int_equal(parse_line(line, &o, err, sizeof(err)), 2);
		if (r->wrong_role) {
			assert_string_equal(err, r->wrong_role);
			continue;
		}
		option_row_name(r, name, sizeof(name));
		if (strncmp(err, name, strlen(name)) || !strstr(err, "only for the"))
			fail_msg("%s: \"%s\" for the other role", line, err);
	}
}

/* Every number the table describes: its limits accepted, one beyond each refused with the
 * row's words; accepted values land in the row's field. */
static void test_table_limits(void **state)
{
	(void)state;
	for (size_t i = 0; i < option_rows_n; i++) {
		const struct option_row *r = &option_rows[i];
		const char *ctx = r->roles == FOR_COLLECTOR ? "sslcollector -C -w x.pcap"
							    : "sslcollector -I eth0 -w x.pcap";
		unsigned long long tries[4] = {r->min, r->max, r->min - 1, r->max + 1};
		char line[300], err[512], want[300], name[64];
		struct sslc_options o;

		if (r->value != VALUE_UINT && r->value != VALUE_SIZE && r->value != VALUE_DURATION)
			continue;
		assert_non_null(r->limits);
		option_row_name(r, name, sizeof(name));
		for (int k = 0; k < 4; k++) {
			if (k == 2 && r->min == 0)
				continue;
			snprintf(line, sizeof(line), "%s --%s %llu", ctx, r->long_name, tries[k]);
			snprintf(want, sizeof(want), "%s %llu: %s", name, tries[k], r->limits);
			int ret = parse_line(line, &o, err, sizeof(err));

			if (k >= 2) {
				if (ret != 2 || strcmp(err, want))
					fail_msg("%s: \"%s\", not \"%s\"", line, err, want);
				continue;
			}
			if (ret && !strcmp(err, want))
				fail_msg("%s: its own limit refused", line);
			if (!ret) {
				uint64_t got = 0;

				if (r->size == sizeof(uint64_t)) {
					memcpy(&got, (const char *)&o + r->off, 8);
				} else {
					uint32_t g;

					memcpy(&g, (const char *)&o + r->off, 4);
					got = g;
				}
				if (got != tries[k])
					fail_msg("%s: the field holds %llu", line,
						 (unsigned long long)got);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_design_examples),
	    cmocka_unit_test(test_more_valid_lines),
	    cmocka_unit_test(test_help_and_version),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_certificate_directory_is_not_a_file),
	    cmocka_unit_test(test_table_help_and_getopt),
	    cmocka_unit_test(test_table_defaults),
	    cmocka_unit_test(test_table_roles),
	    cmocka_unit_test(test_table_limits),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
