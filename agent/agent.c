/* The host agent: loads the capture, probes every TLS library in use (and new ones as
 * processes start), and feeds the captured events to --print, --dump-dir and the mirror
 * outputs from one epoll loop. */
#include "agent.h"
#include "bpf_log.h"
#include "capture.h"
#include "capture_report.h"
#include "discovery.h"
#include "dump.h"
#include "inflight.h"
#include "local_addrs.h"
#include "libfind.h"
#include "log.h"
#include "metrics.h"
#include "mirror.h"
#include "netns.h"
#include "print.h"
#include "privileges.h"
#include "roles.h"
#include "exclusions.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS		 250
#define ADDR_REFRESH_S	 5
#define STATUS_LOG_S	 60
#define PROCS_PUBLISH_S	 2 /* what --list shows of the processes */
#define PRINT_DATA_BYTES 64

struct agent {
	const struct sslc_options *o;
	struct capture *cap;
	struct dump *dump;
	struct mirror *mirror;
	struct local_addrs addrs;
	struct listen_ports lports;
	uint32_t netns;	  /* the agent's own */
	struct netns *ns; /* the namespaces mirrored (netns.h) */
	int64_t mono_to_real_ns;
	struct discovery *disc;
	struct inflight *inflight;
	uint64_t bad_records;
	bool status_tty;
	bool status_shown;
	uint64_t start_ns, last_addr_ns, last_stats_ns, last_log_ns, last_procs_ns;
	struct exclusions excl; /* what is kept out of the mirror (exclusions.h) */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void update_clock_offset(struct agent *a)
{
	struct timespec m, r;

	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	a->mono_to_real_ns = ((int64_t)r.tv_sec - (int64_t)m.tv_sec) * 1000000000LL +
			     ((int64_t)r.tv_nsec - (int64_t)m.tv_nsec);
}

static uint32_t own_netns(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) == 0 ? (uint32_t)st.st_ino : 0;
}

/* ---- local addresses ---------------------------------------------------------------------- */

static int refresh_addrs(struct agent *a, bool first)
{
	struct local_addrs fresh;
	int ret;

	a->last_addr_ns = mono_ns();
	ret = local_addrs_load(&fresh, a->o->iface);
	if (ret) {
		log_warn("cannot list the addresses of %s: %s", a->o->iface, strerror(-ret));
		return ret;
	}
	if (!first && local_addrs_same(&fresh, &a->addrs)) {
		local_addrs_free(&fresh);
		return 0;
	}
	if (strcmp(a->o->iface, "any") != 0) {
		struct sslc_addr_key *keys = calloc(fresh.n ? fresh.n : 1, sizeof(*keys));

		if (!keys) {
			local_addrs_free(&fresh);
			return -ENOMEM;
		}
		for (size_t i = 0; i < fresh.n; i++)
			keys[i] = fresh.v[i].key;
		ret = capture_set_addrs(a->cap, keys, fresh.n);
		free(keys);
		if (ret) {
			log_warn("cannot update the address filter: %s", strerror(-ret));
			local_addrs_free(&fresh);
			return ret;
		}
		if (!fresh.n && !if_nametoindex(a->o->iface))
			log_warn("-I %s is gone: nothing to mirror until an interface of that name "
				 "has an address again",
				 a->o->iface);
		else if (!fresh.n)
			log_warn("-I %s has no IP address: nothing to mirror until it gets one",
				 a->o->iface);
		else if (!first)
			log_info("-I %s: %zu address%s now", a->o->iface, fresh.n,
				 fresh.n == 1 ? "" : "es");
	}
	local_addrs_free(&a->addrs);
	a->addrs = fresh;
	if (a->mirror)
		mirror_set_addrs(a->mirror, &a->addrs);
	return 0;
}

/* ---- events -------------------------------------------------------------------------------- */

static uint8_t resolve_role(struct agent *a, const struct sslc_event *e)
{
	const struct sslc_conn *c = &e->conn;
	uint64_t now;

	if (c->role != SSLC_ROLE_UNKNOWN)
		return c->role;
	/* set up before we started: the end with the listening port is the server */
	if (c->netns != a->netns) { /* another namespace's: its process shows its ports */
		static struct listen_ports other;
		char net[64];

		snprintf(net, sizeof(net), "/proc/%u/net", e->pid);
		if (listen_ports_load(&other, net) < 0)
			return SSLC_ROLE_CLIENT;
		return listen_ports_has(&other, c->local_port) ? SSLC_ROLE_SERVER
							       : SSLC_ROLE_CLIENT;
	}
	now = mono_ns();
	if (!listen_ports_has(&a->lports, c->local_port) &&
	    now - a->lports.loaded_ns > 1000000000ULL) {
		listen_ports_load(&a->lports, "/proc/net");
		a->lports.loaded_ns = now;
	}
	return listen_ports_has(&a->lports, c->local_port) ? SSLC_ROLE_SERVER : SSLC_ROLE_CLIENT;
}

static uint16_t agent_vlan_of(void *ctx, const struct sslc_conn *c)
{
	return netns_vlan(ctx, c);
}

static int on_event(void *ctx, const struct sslc_event *e, size_t size)
{
	struct agent *a = ctx;
	uint64_t wall = e->ts_ns + (uint64_t)a->mono_to_real_ns;
	struct ns_labels lab;
	uint8_t role;

	if (e->type == SSLC_EVENT_LIBRARY) {
		uint64_t now = mono_ns();

		discovery_library_mapped(a->disc, (pid_t)e->pid, e->flags & SSLC_F_LIB_EXEC, now);
		return 0;
	}
	if ((e->type == SSLC_EVENT_DATA && e->data_len > size - sizeof(*e)) ||
	    (e->type != SSLC_EVENT_DATA && e->type != SSLC_EVENT_GAP &&
	     e->type != SSLC_EVENT_CLOSE)) {
		a->bad_records++;
		return 0;
	}
	role = resolve_role(a, e);
	netns_labels(a->ns, e, &lab);
	if (e->type == SSLC_EVENT_GAP)
		inflight_gap_seen(a->inflight, e);
	if (a->o->print)
		print_event(stdout, e, role, wall,
			    log_enabled(LOG_LVL_DEBUG) ? PRINT_DATA_BYTES : 0, &lab);
	if (a->dump)
		dump_event(a->dump, e, role, &lab);
	if (a->mirror)
		mirror_event(a->mirror, e, role, wall);
	return 0;
}

/* ---- status and metrics ---------------------------------------------------------------- */

static void format_bytes(uint64_t b, char *out, size_t len)
{
	if (b >= 10ULL << 30)
		snprintf(out, len, "%.1f GiB", (double)b / (1 << 30));
	else if (b >= 10ULL << 20)
		snprintf(out, len, "%.1f MiB", (double)b / (1 << 20));
	else if (b >= 10ULL << 10)
		snprintf(out, len, "%.1f KiB", (double)b / (1 << 10));
	else
		snprintf(out, len, "%" PRIu64 " B", b);
}

static void status_line(struct agent *a, char *out, size_t len)
{
	uint64_t cnt[SSLC_CNT__MAX] = {0};
	char data[32], lost[32], mirror[160] = "";

	capture_counters(a->cap, cnt);
	format_bytes(cnt[SSLC_CNT_DATA_BYTES], data, sizeof(data));
	format_bytes(cnt[SSLC_CNT_GAP_RING_BYTES] + cnt[SSLC_CNT_GAP_CAP_BYTES] +
			 cnt[SSLC_CNT_GAP_FAULT_BYTES] + cnt[SSLC_CNT_GAP_INFLIGHT_BYTES],
		     lost, sizeof(lost));
	if (a->mirror)
		mirror_summary(a->mirror, mirror, sizeof(mirror));
	snprintf(out, len, "%zu libraries, %" PRIu64 " sessions, %s captured, %s lost%s%s",
		 capture_files_attached(a->cap), cnt[SSLC_CNT_SESSIONS], data, lost,
		 mirror[0] ? ", " : "", mirror);
}

static void write_stats(struct agent *a)
{
	struct metrics_buf mb = {0};
	uint64_t cnt[SSLC_CNT__MAX] = {0};
	int ret;

	capture_counters(a->cap, cnt);
	capture_report_metrics(&mb, cnt);
	metrics_single(&mb, "sslcollector_agent_probed_files", "gauge", "TLS library files probed",
		       capture_files_attached(a->cap));
	metrics_single(
	    &mb, "sslcollector_agent_probed_files_removed_total", "counter",
	    "Probed files whose probes were removed since no process mapped them any more",
	    discovery_detached(a->disc));
	netns_metrics(a->ns, &mb);
	if (a->mirror)
		mirror_metrics(a->mirror, &mb);
	ret = metrics_write_file(&mb, a->o->stats_path);
	if (ret)
		log_warn("--stats-file %s: %s", a->o->stats_path, strerror(-ret));
	metrics_free(&mb);
}

/* New processes and libraries; after an attach, the SSL calls then in progress. */
static void discover(struct agent *a, uint64_t now)
{
	size_t files = capture_files_attached(a->cap);

	netns_run(a->ns, now);
	discovery_run(a->disc, now);
	if (capture_files_attached(a->cap) > files)
		inflight_after_attach(a->inflight);
	inflight_tick(a->inflight, now);
}

static void tick(struct agent *a)
{
	uint64_t now = mono_ns();

	update_clock_offset(a);
	/* records whose notification was coalesced away must not wait for the next one */
	capture_consume(a->cap);
	capture_drain_orphans(a->cap);
	discover(a, now);
	if (now - a->last_addr_ns >= ADDR_REFRESH_S * 1000000000ULL)
		refresh_addrs(a, false);
	if (a->mirror)
		mirror_tick(a->mirror, now + (uint64_t)a->mono_to_real_ns);
	exclusions_publish(&a->excl, a->mirror);
	if (now - a->last_procs_ns >= PROCS_PUBLISH_S * 1000000000ULL) {
		a->last_procs_ns = now;
		capture_report_processes(a->cap);
	}
	if (a->o->stats_path && now - a->last_stats_ns >= a->o->stats_interval_s * 1000000000ULL) {
		a->last_stats_ns = now;
		write_stats(a);
	}
	if (a->status_tty) {
		char line[320];

		status_line(a, line, sizeof(line));
		fprintf(stderr, "\r\033[K%s", line);
		a->status_shown = true;
	} else if (now - a->last_log_ns >= STATUS_LOG_S * 1000000000ULL) {
		char line[320];

		a->last_log_ns = now;
		status_line(a, line, sizeof(line));
		log_info("%s", line);
	}
}

/* ---- life cycle ------------------------------------------------------------------------- */

static int setup_fds(struct agent *a, int *epfd, int *tfd, int *sfd)
{
	struct itimerspec its = {{0, TICK_MS * 1000000L}, {0, TICK_MS * 1000000L}};
	struct epoll_event ev = {.events = EPOLLIN};
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	*sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	*tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	*epfd = epoll_create1(EPOLL_CLOEXEC);
	if (*sfd < 0 || *tfd < 0 || *epfd < 0)
		return -errno;
	if (timerfd_settime(*tfd, 0, &its, NULL) < 0)
		return -errno;
	ev.data.u32 = 0;
	if (epoll_ctl(*epfd, EPOLL_CTL_ADD, capture_fd(a->cap), &ev) < 0)
		return -errno;
	ev.data.u32 = 1;
	if (epoll_ctl(*epfd, EPOLL_CTL_ADD, *tfd, &ev) < 0)
		return -errno;
	ev.data.u32 = 2;
	if (epoll_ctl(*epfd, EPOLL_CTL_ADD, *sfd, &ev) < 0)
		return -errno;
	return 0;
}

static void log_final_counters(struct agent *a)
{
	uint64_t cnt[SSLC_CNT__MAX] = {0};
	char line[320];

	capture_counters(a->cap, cnt);
	status_line(a, line, sizeof(line));
	log_info("stopped: %s", line);
	capture_report_log(cnt);
	if (a->bad_records)
		log_warn("%" PRIu64 " malformed ring buffer records ignored", a->bad_records);
}

#define CAP_SYS_ADMIN_BIT SSLC_CAP_BIT(SSLC_CAP_SYS_ADMIN)
#define CAP_PERFMON_BIT	  SSLC_CAP_BIT(SSLC_CAP_PERFMON)
#define CAP_BPF_BIT	  SSLC_CAP_BIT(SSLC_CAP_BPF)

static int open_capture(struct agent *a)
{
	struct capture_config cfg = {
	    .netns = a->netns,
	    .any_addr = !strcmp(a->o->iface, "any"),
	    .pids = a->o->pids,
	    .n_pids = a->o->n_pids,
	    .max_call = a->o->max_call_bytes,
	    .ring_bytes = a->o->ring_bytes,
	    .syscall_hook = a->o->syscall_hook,
	};
	netns_capture_config(a->ns, &cfg);
	char err[512];
	uint64_t caps = privileges_effective();
	int ret;

	if (!(caps & CAP_SYS_ADMIN_BIT) &&
	    (caps & (CAP_BPF_BIT | CAP_PERFMON_BIT)) != (CAP_BPF_BIT | CAP_PERFMON_BIT)) {
		log_error("cannot load the BPF capture: not permitted (run as root or with "
			  "CAP_BPF and CAP_PERFMON)");
		return EXIT_RUNTIME;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		log_error("cannot load the BPF capture: the kernel has no BTF "
			  "(/sys/kernel/btf/vmlinux); it needs CONFIG_DEBUG_INFO_BTF=y");
		return EXIT_RUNTIME;
	}
	log_route_libbpf();
	ret = capture_open(&cfg, on_event, a, &a->cap, err, sizeof(err));
	if (ret) {
		log_error("%s", err);
		return EXIT_RUNTIME;
	}
	const char *why;
	if (!capture_syscall_hook(a->cap, &why))
		log_debug("sockets named by the socket hooks (sock_send_length, sock_recv_length)");
	else if (*why)
		log_info("%s: using the syscall hook instead, which adds about 30 ns to every "
			 "system call on the machine",
			 why);
	else
		log_info("--syscall-hook: every system call on the machine runs the hook");
	return 0;
}

int agent_run(const struct sslc_options *o)
{
	struct agent *a;
	int epfd = -1, tfd = -1, sfd = -1, status = EXIT_RUNTIME, ret;
	char err[512];
	bool stop = false;
	const char *why;

	a = calloc(1, sizeof(*a));
	if (!a) {
		log_error("out of memory");
		return EXIT_RUNTIME;
	}
	a->o = o;
	a->netns = own_netns();
	if (netns_new(o, a->netns, &a->ns, err, sizeof(err))) {
		log_error("%s", err);
		free(a);
		return EXIT_USAGE;
	}
	a->start_ns = a->last_log_ns = a->last_stats_ns = mono_ns();
	update_clock_offset(a);
	listen_ports_load(&a->lports, "/proc/net");
	a->lports.loaded_ns = mono_ns();

	if ((status = open_capture(a)))
		goto out;
	status = EXIT_RUNTIME;
	if (refresh_addrs(a, true))
		goto out;
	if ((ret = netns_start(a->ns, a->cap))) {
		log_error("cannot set the network namespaces to mirror: %s", strerror(-ret));
		goto out;
	}
	if (discovery_new(a->cap, a->ns, &a->disc)) {
		log_error("out of memory");
		goto out;
	}
	if (inflight_new(a->cap, "/proc", !capture_syscall_hook(a->cap, &why), &a->inflight)) {
		log_error("out of memory");
		goto out;
	}
	if (o->dump_dir && dump_open(o->dump_dir, &a->dump, err, sizeof(err))) {
		log_error("%s", err);
		goto out;
	}
	if (o->out_iface[0] || o->pcap_path || o->tunnel) {
		struct mirror_hooks hooks;

		exclusions_init(&a->excl, a->cap, a->netns, &hooks);
		hooks.vlan_of = agent_vlan_of;
		hooks.vlan_ctx = a->ns;

		ret = mirror_open(o, &hooks, &a->mirror, err, sizeof(err));
		if (ret) {
			log_error("%s", err);
			status = ret == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
			goto out;
		}
		mirror_set_addrs(a->mirror, &a->addrs);
		if (mirror_holds_payloads(a->mirror))
			capture_set_sync(a->cap, mirror_release, a->mirror);
	}
	inflight_before_attach(a->inflight);
	if ((status = discovery_attach_extra_libs(a->disc, o)))
		goto out;
	discovery_attach_system_libs(a->disc);
	status = EXIT_RUNTIME;
	discovery_scan_all(a->disc, mono_ns());
	inflight_after_attach(a->inflight);
	if (capture_files_attached(a->cap) == 0 && discovery_denied(a->disc)) {
		char missing[128];

		privileges_missing(privileges_effective(), SSLC_AGENT_KEEP_CAPS, missing,
				   sizeof(missing));
		log_error("cannot attach uprobes: not permitted%s%s (the kernel refuses them "
			  "without CAP_SYS_ADMIN); nothing could be mirrored",
			  *missing ? "; missing: " : "", missing);
		goto out;
	}
	if (!(privileges_effective() & SSLC_CAP_BIT(SSLC_CAP_SYS_PTRACE)))
		log_warn("without CAP_SYS_PTRACE the processes of other users are not seen");
	/* from here on only new uprobes and other processes' /proc entries need privileges */
	if ((ret = privileges_drop(SSLC_AGENT_KEEP_CAPS, err, sizeof(err))) < 0) {
		log_error("%s", err);
		goto out;
	}
	if ((ret = setup_fds(a, &epfd, &tfd, &sfd))) {
		log_error("cannot set up the event loop: %s", strerror(-ret));
		goto out;
	}
	if (o->print)
		setvbuf(stdout, NULL, _IOLBF, 0);
	a->status_tty = isatty(STDERR_FILENO) && !o->use_syslog && o->verbosity >= 0 &&
			!log_enabled(LOG_LVL_DEBUG) && !(o->print && isatty(STDOUT_FILENO));
	log_info("mirroring TLS on %s (%zu libraries probed)%s%s%s%s%s%s", o->iface,
		 capture_files_attached(a->cap), o->out_iface[0] ? ", -o " : "", o->out_iface,
		 o->pcap_path ? ", -w " : "", o->pcap_path ? o->pcap_path : "",
		 o->tunnel ? ", -t " : "", o->tunnel ? o->tunnel_host : "");
	if (!capture_files_attached(a->cap))
		log_info("no process uses OpenSSL yet; watching for new ones");

	while (!stop) {
		struct epoll_event evs[4];
		int timeout = discovery_timeout_ms(a->disc, mono_ns());
		int n = epoll_wait(epfd, evs, 4,
				   timeout >= 0 && timeout < CAPTURE_POLL_MS ? timeout
									     : CAPTURE_POLL_MS);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(errno));
			goto out;
		}
		/* the ring wakes us only when much is waiting: drain it every time */
		ret = capture_consume(a->cap);
		if (ret < 0)
			log_warn("ring buffer: %s", strerror(-ret));
		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u32) {
			case 0:
				break; /* consumed above */
			case 1: {
				uint64_t expirations;

				if (read(tfd, &expirations, sizeof(expirations)) > 0)
					tick(a);
				break;
			}
			case 2: {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					break;
				if (si.ssi_signo == SIGHUP)
					mirror_reopen(a->mirror); /* log rotation */
				else
					stop = true;
				break;
			}
			}
		}
		discover(a, mono_ns());
		if (a->mirror)
			mirror_flush(a->mirror);
	}
	/* deliver what is still in the ring buffer before closing the flows */
	capture_consume(a->cap);
	capture_drain_orphans(a->cap);
	status = 0;
out:
	if (a->status_shown)
		fputc('\n', stderr);
	if (status == 0)
		mirror_end(a->mirror); /* the final counters include the connections' ends */
	if (a->cap && status == 0)
		log_final_counters(a);
	if (a->cap && o->stats_path && status == 0)
		write_stats(a);
	mirror_close(a->mirror);
	exclusions_end(&a->excl);
	capture_report_processes_end();
	dump_close(a->dump);
	capture_close(a->cap);
	local_addrs_free(&a->addrs);
	inflight_free(a->inflight);
	discovery_free(a->disc);
	netns_free(a->ns);
	free(a);
	if (epfd >= 0)
		close(epfd);
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	return status;
}
