/* The option table (options_table.h). Help texts are plain sentences: -h wraps them, the man
 * page sets them; defaults are said in them and must match cli/options.c's defaults (the unit
 * test test_options checks those of the numbers). */
#include "options_table.h"

#include <stddef.h>
#include <stdio.h>

#define S_WHAT	 "What to mirror (agent)"
#define S_WHERE	 "Where to send it"
#define S_COLL	 "Collector"
#define S_CERTS	 "Tunnel certificates (both roles; make them with scripts/make-certs.sh)"
#define S_TUNING "Tuning"
#define S_REPORT "Reporting"

const struct option_row option_rows[] = {
    {'I', 'I', "interface", "IFACE", FOR_AGENT, S_WHAT,
     "TLS connections whose local address belongs to IFACE in this network namespace; 'any' "
     "for every local address",
     NULL, "-I: not used by the collector (-C); the agents choose what to mirror", ROW_CODE},
    {'p', 'p', "pid", "PID", FOR_AGENT, S_WHAT, "only these processes (repeatable)",
     "At most 64. The probes still fire in other processes (they are attached to the library "
     "file), and their calls are dropped in the kernel.",
     NULL, ROW_CODE},
    {OPT_NETNS, 0, "netns", "all|PATH", FOR_AGENT, S_WHAT,
     "mirror the TLS of every network namespace on the host (all: every container and pod), "
     "or of the namespace PATH names (/run/netns/NAME, /proc/PID/ns/net; repeatable); needs "
     "-I any",
     "Without it only the agent's own namespace is mirrored. Each connection keeps the "
     "addresses and ports its namespace sees; the connections of every namespace but the "
     "agent's own are tagged with an 802.1Q VLAN id of that namespace (2-4094, chosen from "
     "its inode and kept while it lives; the agent's own stays untagged, or --vlan), so that "
     "containers using the same addresses never merge in the IDS. Each namespace is logged "
     "when first seen ('network namespace INODE: VLAN V', with the process, cgroup, "
     "container and the kernel's namespace id) and when gone, and exported "
     "(sslcollector_agent_netns_vlan). Libraries and programs inside containers' own root "
     "filesystems are found through /proc/PID/root. At most 64 paths.",
     NULL, ROW_CODE},
    {OPT_CGROUP, 0, "cgroup", "PATH", FOR_AGENT, S_WHAT,
     "mirror the network namespaces of the processes in this cgroup v2 directory and below it "
     "(a container's or a Kubernetes pod's; repeatable); needs -I any",
     "E.g. /sys/fs/cgroup/system.slice/docker-ID.scope or a pod's kubepods...-podUID.slice. "
     "Re-read every 2 s, so that containers started later in the cgroup are mirrored too. "
     "Combines with --netns PATH; at most 16.",
     NULL, ROW_CODE},
    {OPT_LIB, 0, "lib", "PATH", FOR_AGENT, S_WHAT,
     "also probe this library or static executable (repeatable)",
     "At most 32. Not needed for the system's libssl, libgnutls.so.30, libssl3.so and "
     "libnspr4.so (probed from the start), those that running processes map, or programs with "
     "OpenSSL linked in and its symbols kept (upstream Node.js): those are found without it, "
     "new programs as they start. A file is an OpenSSL library by SSL_read and SSL_write, "
     "GnuTLS by gnutls_record_recv and gnutls_record_send2, NSS's libssl3 by SSL_ImportFD, "
     "NSPR by PR_Read, PR_Write and PR_GetUniqueIdentity.",
     NULL, ROW_CODE},
    {OPT_LIST, 0, "list", NULL, FOR_AGENT, S_WHAT,
     "print the processes using TLS, whether they are mirrored, and what running agents keep "
     "out of their mirror, then exit",
     "What running agents keep out: their tunnel's connection and connections cut as loops "
     "(read from /run/sslcollector). Not with -o, -w, -t, --print or --dump-dir.",
     NULL, ROW_FLAG(list)},
    {OPT_PRINT, 0, "print", NULL, FOR_AGENT, S_WHAT,
     "print one line per captured event (-v: with the first bytes)", NULL, NULL, ROW_FLAG(print)},
    {OPT_DUMP_DIR, 0, "dump-dir", "DIR", FOR_AGENT, S_WHAT,
     "write each connection's plaintext into DIR, one file per direction (debugging; mode "
     "0700, it holds secrets)",
     "DIR is created mode 0700, or must be a directory of the agent's user that no one else may "
     "write to, holding no conn-* files of an earlier run; a symbolic link is refused.",
     NULL, ROW_STRING(dump_dir)},

    {'o', 'o', "output", "IFACE", FOR_BOTH, S_WHERE,
     "send the frames on IFACE (e.g. one end of a veth pair); refused if IFACE has IP "
     "addresses (the frames hold plaintext secrets and would leave on a real network)",
     "AF_PACKET, in batches. With 'ethtool -K IFACE tx off' the kernel cuts runs of data "
     "frames itself (less CPU). An address is an IPv4 or a non-link-local IPv6 one. Also "
     "refused when IFACE is the interface of -I.",
     NULL, ROW_CODE},
    {OPT_FORCE_OUTPUT, 0, "force-output", NULL, FOR_BOTH, S_WHERE,
     "-o even onto an interface that has addresses", NULL, NULL, ROW_FLAG(force_output)},
    {'w', 'w', "write", "FILE", FOR_BOTH, S_WHERE,
     "write a pcap file (mode 0600: it holds plaintext secrets); '-' for standard output (e.g. "
     "-w - | tshark -r -)",
     "Created new, or an existing name reused only when it is a regular file of the program's "
     "user with no other link (an earlier run's), a FIFO of that user, or a device such as "
     "/dev/null; a symbolic link or another user's file is refused. Flushed every 200 ms. When "
     "a write fails (disk full) the file is cut back to its last complete frame and the frames "
     "lost count as dropped. SIGHUP after moving it away starts a new one.",
     NULL, ROW_STRING(pcap_path)},
    {OPT_ROTATE_SIZE, 0, "rotate-size", "SIZE", FOR_BOTH, S_WHERE,
     "-w: a new file before FILE would grow past SIZE (e.g. 100M); the complete one is renamed "
     "FILE's name + .YYYYmmddTHHMMSSZ (its start, UTC) before the extension",
     "A name already taken gets -1, -2... after the stamp.", NULL,
     ROW_NUMBER(VALUE_SIZE, rotate_bytes, 64ULL << 10, 1ULL << 40,
		"a size from 64K to 1T (e.g. 100M)")},
    {OPT_ROTATE_TIME, 0, "rotate-time", "TIME", FOR_BOTH, S_WHERE,
     "-w: a new file at every multiple of TIME (e.g. 1h: on the hour, UTC), if FILE holds "
     "frames",
     NULL, NULL,
     ROW_NUMBER(VALUE_DURATION, rotate_interval_s, 1, 30 * 86400,
		"a time from 1s to 30d, in seconds or with s, m, h or d (e.g. 1h)")},
    {OPT_ROTATE_KEEP, 0, "rotate-keep", "N", FOR_BOTH, S_WHERE,
     "-w: keep the N newest complete files, remove older ones",
     "Only files of this program's naming, regular, owned by its user and not dated in the "
     "future count and are removed; others in the directory are left alone.",
     NULL, ROW_NUMBER(VALUE_UINT, rotate_keep, 1, 1000000, "a number of files from 1 to 1000000")},
    {OPT_ROTATE_KEEP_SIZE, 0, "rotate-keep-size", "SIZE", FOR_BOTH, S_WHERE,
     "-w: remove the oldest complete files while they add up to more than SIZE (e.g. 50G)",
     "At least --rotate-size.", NULL,
     ROW_NUMBER(VALUE_SIZE, rotate_keep_bytes, 64ULL << 10, 1ULL << 50,
		"a size from 64K to 1P (e.g. 50G)")},
    {'t', 't', "tunnel", "HOST[:PORT]", FOR_AGENT, S_WHERE,
     "send through a mutually authenticated TLS tunnel to a collector (default port 57012)",
     "TLS 1.3, client certificate required. Frames wait in --queue-size while the collector is "
     "away; the agent reconnects with backoff and sends a keepalive every 15 s when idle.",
     "-t: the collector (-C) receives tunnels, it does not open one; use -l to set its "
     "address",
     ROW_CODE},

    {'C', 'C', "collector", NULL, FOR_BOTH, S_COLL,
     "receive agents' tunnels and inject them into -o / -w", NULL, NULL, ROW_FLAG(collector)},
    {'l', 'l', "listen", "ADDR[:PORT]", FOR_COLLECTOR, S_COLL,
     "listening address (default every address, port 57012)",
     "ADDR, ADDR:PORT, [V6]:PORT or :PORT.", NULL, ROW_CODE},
    {OPT_VLAN_PER_AGENT, 0, "vlan-per-agent", NULL, FOR_COLLECTOR, S_COLL,
     "tag each agent's frames with a VLAN id of its own",
     "The ids are chosen stably from the certificate subject and logged, and are in the "
     "metrics (agent_vlan). A tag the agent put on (its --vlan, or the VLANs of its --netns "
     "namespaces) is replaced, and the collector warns once per such agent: the namespaces "
     "of one agent then merge, so run without it for agents that use --netns.",
     NULL, ROW_FLAG(vlan_per_agent)},
    {OPT_MAX_AGENTS, 0, "max-agents", "N", FOR_COLLECTOR, S_COLL,
     "refuse agents beyond N connected (default 1024; fewer if the open-file limit cannot be "
     "raised to fit, said at start)",
     NULL, NULL, ROW_NUMBER(VALUE_UINT, max_agents, 1, 65536, "a number from 1 to 65536")},
    {OPT_MAX_HANDSHAKES, 0, "max-handshakes", "N", FOR_COLLECTOR, S_COLL,
     "TLS handshakes in progress at once; a new one closes the oldest (default 256; 2 s "
     "deadline while half are in use)",
     NULL, NULL, ROW_NUMBER(VALUE_UINT, max_handshakes, 1, 65536, "a number from 1 to 65536")},
    {OPT_MAX_HANDSHAKES_PER_SOURCE, 0, "max-handshakes-per-source", "N", FOR_COLLECTOR, S_COLL,
     "of those, from one address or IPv6 /64 (default 16)", NULL, NULL,
     ROW_NUMBER(VALUE_UINT, max_handshakes_per_source, 1, 65536, "a number from 1 to 65536")},
    {OPT_HANDSHAKE_TIMEOUT, 0, "handshake-timeout", "SEC", FOR_COLLECTOR, S_COLL,
     "drop peers that do not finish TLS in time (default 10)", NULL, NULL,
     ROW_NUMBER(VALUE_UINT, handshake_timeout_s, 1, 600, "seconds from 1 to 600")},
    {OPT_AGENT_IDLE_TIMEOUT, 0, "agent-idle-timeout", "SEC", FOR_COLLECTOR, S_COLL,
     "close agent sessions that send nothing this long (default 60, 0: never; agents send a "
     "keepalive every 15 s)",
     "0, or from 20 to 86400 seconds. Agents older than this version send no keepalive: give "
     "0 while they remain.",
     NULL, ROW_CODE},
    {OPT_MAX_SESSIONS_PER_AGENT, 0, "max-sessions-per-agent", "N", FOR_COLLECTOR, S_COLL,
     "live sessions of one certificate subject; a new one closes the oldest (default 4)",
     "A subject live with two different certificates is logged and counted "
     "(certificate_conflicts_total).",
     NULL, ROW_NUMBER(VALUE_UINT, max_sessions_per_agent, 1, 1024, "a number from 1 to 1024")},
    {OPT_CRL, 0, "crl", "FILE", FOR_COLLECTOR, S_COLL,
     "refuse agents whose certificate is revoked (PEM CRL from --ca, e.g. "
     "scripts/make-certs.sh --revoke NAME); SIGHUP reads it again and closes the sessions it "
     "revokes",
     "CRLs inside --ca count too.", NULL, ROW_STRING(crl_path)},
    {OPT_ALLOW, 0, "allow", "FILE", FOR_COLLECTOR, S_COLL,
     "accept only these agents: one certificate subject (CN=web-1) or sha256:FINGERPRINT per "
     "line; SIGHUP rereads",
     "The subject as the log shows it; # starts a comment. SIGHUP also closes the live sessions "
     "of agents no longer listed.",
     NULL, ROW_STRING(allow_path)},
    {OPT_TCP_ONLY, 0, "tcp-only", NULL, FOR_COLLECTOR, S_COLL,
     "inject only IPv4/IPv6 TCP frames (no ARP, router adverts...)",
     "So that a compromised agent cannot put other frames on the IDS segment; the others are "
     "counted (frames_not_tcp_total).",
     NULL, ROW_FLAG(tcp_only)},
    {OPT_USER, 0, "user", "NAME", FOR_COLLECTOR, S_COLL,
     "user to run as after opening sockets (default " SSLC_USER
     ", made by scripts/install-deps.sh)",
     "An empty NAME keeps root (not advised).", NULL, ROW_STRING(user)},

    {OPT_CA, 0, "ca", "FILE", FOR_BOTH, S_CERTS,
     "CA that signed the peer (default " SSLC_CERT_DIR "/ca.crt)",
     "The directory is $SSLCOLLECTOR_CERT_DIR when set. Only with -t or -C.", NULL,
     ROW_STRING(ca_path)},
    {OPT_CERT, 0, "cert", "FILE", FOR_BOTH, S_CERTS,
     "our certificate (default " SSLC_CERT_DIR "/agent.crt, collector: " SSLC_CERT_DIR
     "/collector.crt)",
     NULL, NULL, ROW_STRING(cert_path)},
    {OPT_KEY, 0, "key", "FILE", FOR_BOTH, S_CERTS,
     "our private key (default agent.key / collector.key there)", NULL, NULL, ROW_STRING(key_path)},

    {OPT_MTU, 0, "mtu", "BYTES", FOR_BOTH, S_TUNING,
     "IP MTU of the forged packets (default: -o's MTU, else with -t 65535, cut by the collector "
     "to its -o's MTU, else 1500); collector: cut what -o injects to at most this MTU",
     NULL, NULL, ROW_NUMBER(VALUE_UINT, mtu, 576, 65535, "bytes from 576 to 65535")},
    {OPT_VLAN, 0, "vlan", "ID", FOR_BOTH, S_TUNING, "add an 802.1Q tag with this VLAN id (1-4094)",
     NULL, NULL, ROW_NUMBER(VALUE_UINT, vlan, 1, 4094, "a VLAN id from 1 to 4094")},
    {OPT_QUEUE_SIZE, 0, "queue-size", "BYTES", FOR_AGENT, S_TUNING,
     "tunnel send queue; frames beyond it are dropped and counted (default 64M)", "Only with -t.",
     NULL,
     ROW_NUMBER(VALUE_SIZE, queue_bytes, 64ULL << 10, 16ULL << 30,
		"a size from 64K to 16G (e.g. 64M)")},
    {OPT_RING_SIZE, 0, "ring-size", "BYTES", FOR_AGENT, S_TUNING,
     "BPF ring buffer (power of two, default 16M)", "From 64K to 1G.", NULL, ROW_CODE},
    {OPT_MAX_CALL_SIZE, 0, "max-call-size", "BYTES", FOR_AGENT, S_TUNING,
     "capture at most this much of one SSL call; the rest is reported as a gap (default 16M)", NULL,
     NULL, ROW_NUMBER(VALUE_SIZE, max_call_bytes, 1, 1ULL << 30, "a size from 1 to 1G (e.g. 16M)")},
    {OPT_IDLE_TIMEOUT, 0, "idle-timeout", "SEC", FOR_AGENT, S_TUNING,
     "close mirrored connections idle this long (default 300)", NULL, NULL,
     ROW_NUMBER(VALUE_UINT, idle_timeout_s, 1, 86400, "seconds from 1 to 86400")},
    {OPT_SYSCALL_HOOK, 0, "syscall-hook", NULL, FOR_AGENT, S_TUNING,
     "find each SSL call's socket with a hook on every system call (slower; the default on "
     "kernels before 6.3)",
     NULL, NULL, ROW_FLAG(syscall_hook)},

    {OPT_STATS_FILE, 0, "stats-file", "FILE", FOR_BOTH, S_REPORT,
     "write Prometheus metrics to FILE (node_exporter textfile)",
     "Replaced whole every --stats-interval (a temporary file renamed over it). The metrics "
     "are listed in docs/metrics.md.",
     NULL, ROW_STRING(stats_path)},
    {OPT_STATS_INTERVAL, 0, "stats-interval", "SEC", FOR_BOTH, S_REPORT, "how often (default 5)",
     NULL, NULL, ROW_NUMBER(VALUE_UINT, stats_interval_s, 1, 3600, "seconds from 1 to 3600")},
    {'v', 'v', "verbose", NULL, FOR_BOTH, S_REPORT,
     "more logging (-vv: debug, with libbpf's messages)", NULL, NULL, ROW_CODE},
    {'q', 'q', "quiet", NULL, FOR_BOTH, S_REPORT, "warnings and errors only", NULL, NULL, ROW_CODE},
    {OPT_SYSLOG, 0, "syslog", NULL, FOR_BOTH, S_REPORT, "log to syslog instead of stderr", NULL,
     NULL, ROW_FLAG(use_syslog)},
    {'h', 'h', "help", NULL, FOR_BOTH, S_REPORT, "this text", NULL, NULL, ROW_CODE},
    {'V', 'V', "version", NULL, FOR_BOTH, S_REPORT, "the version", NULL, NULL, ROW_CODE},
};

const size_t option_rows_n = sizeof(option_rows) / sizeof(option_rows[0]);

const struct option_row *option_row_by_id(int id)
{
	for (size_t i = 0; i < option_rows_n; i++)
		if (option_rows[i].id == id)
			return &option_rows[i];
	return NULL;
}

const char *option_row_name(const struct option_row *r, char *buf, size_t len)
{
	if (r->short_name)
		snprintf(buf, len, "-%c", r->short_name);
	else
		snprintf(buf, len, "--%s", r->long_name);
	return buf;
}
