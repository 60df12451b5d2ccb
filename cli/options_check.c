/* options_validate: the checks after argv is read: combinations of options, the files and
 * interfaces they name, the certificate defaults. */
#include "options_impl.h"

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
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* A file we will read: say precisely why not. */
static int check_readable(const char *opt, const char *path, const char *hint, char *err,
			  size_t err_len)
{
	struct stat st;
	int fd;

	if (stat(path, &st) < 0)
		return options_fail(err, err_len, "%s %s: %s%s", opt, path, strerror(errno), hint);
	if (S_ISDIR(st.st_mode))
		return options_fail(err, err_len, "%s %s: is a directory, expected a file", opt,
				    path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return options_fail(err, err_len, "%s %s: cannot read: %s", opt, path,
				    strerror(errno));
	close(fd);
	return 0;
}

/* A file we will create or replace: its directory must exist and be writable. */
static int check_writable(const char *opt, const char *path, char *err, size_t err_len)
{
	char dir[PATH_MAX];
	struct stat st;

	if (!*path)
		return options_fail(err, err_len, "%s: empty file name", opt);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return options_fail(err, err_len, "%s %s: is a directory, expected a file name",
				    opt, path);
	if (value_copy(dir, sizeof(dir), path))
		return options_fail(err, err_len, "%s: file name too long", opt);
	const char *d = dirname(dir);
	if (stat(d, &st) < 0)
		return options_fail(err, err_len, "%s %s: directory %s: %s", opt, path, d,
				    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return options_fail(err, err_len, "%s %s: %s is not a directory", opt, path, d);
	if (access(d, W_OK) < 0)
		return options_fail(err, err_len, "%s %s: cannot write in %s: %s", opt, path, d,
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
		return options_fail(
		    err, err_len,
		    "%s %s: no such network interface in this namespace (see 'ip link')", opt,
		    name);
	return 0;
}

/* --netns PATH: a network namespace's file (nsfs). */
static int check_netns(const char *path, char *err, size_t err_len)
{
	struct statfs sf;
	int fd, type;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return options_fail(err, err_len, "--netns %s: %s%s", path, strerror(errno),
				    errno == ENOENT ? " (ip netns list; or /proc/PID/ns/net)" : "");
	if (fstatfs(fd, &sf) < 0 || sf.f_type != NSFS_MAGIC) {
		close(fd);
		return options_fail(err, err_len,
				    "--netns %s: not a namespace file (/run/netns/NAME, "
				    "/proc/PID/ns/net)",
				    path);
	}
	type = ioctl(fd, NS_GET_NSTYPE);
	close(fd);
	if (type >= 0 && type != CLONE_NEWNET)
		return options_fail(
		    err, err_len, "--netns %s: another kind of namespace, not a network one", path);
	return 0;
}

/* --cgroup PATH: a directory of the cgroup v2 hierarchy. */
static int check_cgroup(const char *path, char *err, size_t err_len)
{
	char procs[PATH_MAX];
	struct statfs sf;
	struct stat st;

	if (stat(path, &st) < 0)
		return options_fail(err, err_len, "--cgroup %s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode) || statfs(path, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC)
		return options_fail(err, err_len,
				    "--cgroup %s: not a cgroup v2 directory (e.g. "
				    "/sys/fs/cgroup/system.slice/NAME.service)",
				    path);
	if ((size_t)snprintf(procs, sizeof(procs), "%s/cgroup.procs", path) >= sizeof(procs) ||
	    access(procs, R_OK) < 0)
		return options_fail(err, err_len, "--cgroup %s: cannot read its cgroup.procs",
				    path);
	return 0;
}

/* --netns and --cgroup: what they combine with. */
static int check_namespaces(struct sslc_options *o, char *err, size_t err_len)
{
	const char *opt = o->n_cgroups && !o->netns_all && !o->n_netns ? "--cgroup" : "--netns";
	int ret;

	if (!o->netns_all && !o->n_netns && !o->n_cgroups)
		return 0;
	if (o->netns_all && (o->n_netns || o->n_cgroups))
		return options_fail(
		    err, err_len,
		    "--netns all: every namespace already; not with --netns PATH or "
		    "--cgroup");
	if (!o->iface[0])
		strcpy(o->iface, "any");
	else if (strcmp(o->iface, "any") != 0)
		return options_fail(err, err_len,
				    "%s: mirrors every address of the namespaces it names: give -I "
				    "any (-I %s names addresses of this namespace only)",
				    opt, o->iface);
	for (size_t i = 0; i < o->n_netns; i++)
		if ((ret = check_netns(o->netns_paths[i], err, err_len)))
			return ret;
	for (size_t i = 0; i < o->n_cgroups; i++)
		if ((ret = check_cgroup(o->cgroups[i], err, err_len)))
			return ret;
	return 0;
}

int options_validate(struct sslc_options *o, char *err, size_t err_len)
{
	int ret;

	if (o->action != ACTION_RUN)
		return 0;

	if (o->collector) {
		if (!o->out_iface[0] && !o->pcap_path)
			return options_fail(
			    err, err_len,
			    "-C needs an output: -o IFACE and/or -w FILE (e.g. -C -o ids0)");
		if (o->max_handshakes_per_source > o->max_handshakes)
			return options_fail(
			    err, err_len,
			    "--max-handshakes-per-source %u: more than --max-handshakes %u",
			    o->max_handshakes_per_source, o->max_handshakes);
		if (o->crl_path && (ret = check_readable("--crl", o->crl_path, "", err, err_len)))
			return ret;
		if (o->allow_path &&
		    (ret = check_readable("--allow", o->allow_path, "", err, err_len)))
			return ret;
	} else {
		bool debug_out = o->print || o->dump_dir;

		if ((ret = check_namespaces(o, err, err_len)))
			return ret;
		if (!o->iface[0]) {
			if (o->list || debug_out)
				strcpy(o->iface, "any");
			else
				return options_fail(err, err_len,
						    "-I: missing; name the interface whose "
						    "TLS connections to mirror (or 'any')");
		}
		if (!o->list && !debug_out && !o->out_iface[0] && !o->pcap_path && !o->tunnel)
			return options_fail(
			    err, err_len,
			    "no output: give -o IFACE, -w FILE and/or -t HOST[:PORT]");
		if (o->list && (debug_out || o->out_iface[0] || o->pcap_path || o->tunnel))
			return options_fail(
			    err, err_len,
			    "--list: prints the TLS processes and exits; not with --print, "
			    "--dump-dir, -o, -w or -t");
		if (o->dump_dir) {
			struct stat st;

			if (stat(o->dump_dir, &st) == 0) {
				if (!S_ISDIR(st.st_mode))
					return options_fail(err, err_len,
							    "--dump-dir %s: not a directory",
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
		return options_fail(
		    err, err_len,
		    "-o %s: same interface as -I; mirror into a separate interface so the "
		    "IDS never confuses mirror and real traffic",
		    o->out_iface);
	if (o->pcap_path && !strcmp(o->pcap_path, "-")) {
		if (o->print)
			return options_fail(
			    err, err_len,
			    "-w -: --print writes to standard output too; give -w a file");
		if (isatty(STDOUT_FILENO))
			return options_fail(
			    err, err_len,
			    "-w -: standard output is a terminal; pipe it into a pcap reader "
			    "(e.g. | tshark -r -) or give -w a file");
	} else if (o->pcap_path) {
		struct stat st;

		if ((ret = check_writable("-w", o->pcap_path, err, err_len)))
			return ret;
		if (lstat(o->pcap_path, &st) == 0 && S_ISLNK(st.st_mode))
			return options_fail(
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
			return options_fail(err, err_len, "%s: only with -w FILE", opt);
		if (!o->rotate_bytes && !o->rotate_interval_s)
			return options_fail(err, err_len,
					    "%s: needs --rotate-size and/or --rotate-time", opt);
		if (o->rotate_keep_bytes && o->rotate_bytes > o->rotate_keep_bytes)
			return options_fail(
			    err, err_len,
			    "--rotate-keep-size: smaller than --rotate-size, so every file "
			    "would be removed as soon as it is complete");
		if (!strcmp(o->pcap_path, "-"))
			return options_fail(err, err_len,
					    "%s: standard output (-w -) cannot be rotated", opt);
		if (lstat(o->pcap_path, &st) == 0 && !S_ISREG(st.st_mode))
			return options_fail(err, err_len,
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
		return options_fail(err, err_len, "%s: certificates are only used with -t or -C",
				    o->ca_path	   ? "--ca"
				    : o->cert_path ? "--cert"
						   : "--key");
	}
	if (!o->tunnel && o->queue_bytes != options_defaults.queue_bytes)
		return options_fail(err, err_len, "--queue-size: only used with -t");
	if (o->collector && o->user && *o->user && !getpwnam(o->user))
		return options_fail(
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
			return options_fail(err, err_len, "-p %d: no such process", o->pids[i]);
	}
	return 0;
}
