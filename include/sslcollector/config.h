/* The configuration both roles run with (contract between cli/, which fills it from the
 * command line and checks it, and agent/ and collector/, which only read it). Exit codes
 * shared by every part of the program. */
#ifndef SSLC_CONFIG_H
#define SSLC_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SSLC_TUNNEL_PORT 57012
#define SSLC_MAX_PIDS	 64
#define SSLC_MAX_LIBS	 32
#define SSLC_MAX_NETNS	 64 /* --netns PATH */
#define SSLC_MAX_CGROUPS 16 /* --cgroup PATH */
#define SSLC_CERT_DIR	 "/etc/sslcollector"
#define SSLC_USER	 "sslcollector" /* the collector's default --user */

enum options_action {
	ACTION_RUN = 0, /* run as agent or collector */
	ACTION_HELP,	/* -h: print usage, exit 0 */
	ACTION_VERSION, /* -V: print version, exit 0 */
};

/* exit codes */
enum {
	EXIT_USAGE = 2,	  /* bad or missing arguments */
	EXIT_RUNTIME = 1, /* a runtime failure */
};

struct sslc_options {
	enum options_action action;
	bool collector;	      /* -C */
	bool list;	      /* --list: print the TLS processes that would be mirrored and exit */
	bool print;	      /* --print: one line per captured event on stdout */
	const char *dump_dir; /* --dump-dir: per-connection plaintext files (debugging) */
	char iface[IF_NAMESIZE];     /* -I, "any" for every local address */
	char out_iface[IF_NAMESIZE]; /* -o */
	const char *pcap_path;	     /* -w */
	uint64_t rotate_bytes;	     /* --rotate-size, 0: none */
	unsigned rotate_interval_s;  /* --rotate-time, 0: none */
	unsigned rotate_keep;	     /* --rotate-keep, 0: keep every file */
	uint64_t rotate_keep_bytes;  /* --rotate-keep-size, 0: no limit */
	bool tunnel;		     /* -t given */
	char tunnel_host[256];	     /* -t HOST (brackets of [v6] removed) */
	uint16_t tunnel_port;
	bool listen_given;    /* -l given */
	char listen_addr[64]; /* -l ADDR (empty: every address) */
	uint16_t listen_port;
	const char *ca_path;	/* --ca */
	const char *cert_path;	/* --cert */
	const char *key_path;	/* --key */
	const char *stats_path; /* --stats-file */
	unsigned stats_interval_s;
	int pids[SSLC_MAX_PIDS]; /* -p */
	size_t n_pids;
	const char *libs[SSLC_MAX_LIBS]; /* --lib */
	size_t n_libs;
	bool netns_all;				 /* --netns all */
	const char *netns_paths[SSLC_MAX_NETNS]; /* --netns PATH */
	size_t n_netns;
	const char *cgroups[SSLC_MAX_CGROUPS]; /* --cgroup PATH */
	size_t n_cgroups;
	int verbosity;		 /* -1 quiet, 0 normal, 1 -v, 2 -vv */
	bool use_syslog;	 /* --syslog */
	bool syscall_hook;	 /* --syscall-hook */
	bool force_output;	 /* --force-output: -o even onto an interface with addresses */
	unsigned mtu;		 /* --mtu, 0: the -o interface's MTU, else 1500 */
	int vlan;		 /* --vlan, -1: none */
	bool vlan_per_agent;	 /* collector --vlan-per-agent */
	uint64_t queue_bytes;	 /* agent tunnel queue */
	uint64_t ring_bytes;	 /* BPF ring buffer */
	uint64_t max_call_bytes; /* capture cap per SSL call */
	unsigned idle_timeout_s;
	unsigned handshake_timeout_s;	    /* collector: TLS handshake deadline */
	unsigned max_agents;		    /* collector */
	const char *user;		    /* collector: user to run as after set-up */
	unsigned max_handshakes;	    /* collector: TLS handshakes in progress at once */
	unsigned max_handshakes_per_source; /* collector: of those, from one address (v6: /64) */
	unsigned max_sessions_per_agent;    /* collector: live sessions of one subject */
	unsigned agent_idle_timeout_s; /* collector: close sessions silent this long, 0 never */
	const char *crl_path;	       /* collector --crl */
	const char *allow_path;	       /* collector --allow */
	bool tcp_only;		       /* collector --tcp-only */
	/* storage for the default certificate paths ($SSLCOLLECTOR_CERT_DIR or SSLC_CERT_DIR) */
	char default_ca[512], default_cert[512], default_key[512];
};

#endif
