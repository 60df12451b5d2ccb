/* sslcollector -C: set-up (certificates, outputs, listening sockets, signals, privileges), the
 * one epoll event loop that serves every agent, periodic metrics and log summary, clean
 * stop on SIGINT/SIGTERM, a new -w file on SIGHUP (log rotation). */
#include "collector.h"
#include "collector_impl.h"
#include "log.h"
#include "outputs.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS		  250
#define SUMMARY_PERIOD_MS 60000
#define LOG_BURST	  20
#define MAX_MTU		  65535 /* the largest IP packet without jumbograms */

uint64_t collector_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool collector_log_allowed(struct collector *c)
{
	uint64_t now = collector_now_ms();

	if (now - c->log_window_ms >= 1000) {
		c->log_window_ms = now;
		c->log_in_window = 0;
	}
	if (c->log_in_window < LOG_BURST) {
		c->log_in_window++;
		return true;
	}
	c->log_suppressed++;
	return false;
}

/* Agents may send frames up to the largest IP packet (the tunnel's frames are forged for up to
 * 64 KiB unless the agent has --mtu): -o cuts TCP segments larger than its interface's MTU, or
 * than a smaller --mtu, into segments that fit; -w records the frames as they came. c->mtu is
 * the MTU of -o (0 without -o). */
static int choose_mtu(struct collector *c, char *err, size_t err_len)
{
	const struct sslc_options *o = c->opts;

	if (o->out_iface[0]) {
		int m = outputs_iface_mtu(o->out_iface, err, err_len);

		if (m < 0)
			return m;
		c->mtu = (unsigned)m;
		if (o->mtu && o->mtu < c->mtu)
			c->mtu = o->mtu;
		else if (o->mtu > c->mtu)
			log_warn("--mtu %u: larger than the MTU %d of -o %s; using %d", o->mtu, m,
				 o->out_iface, m);
		if (c->mtu > MAX_MTU)
			c->mtu = MAX_MTU;
		if (c->mtu < 68) {
			snprintf(err, err_len, "-o %s: MTU %u is too small for IP", o->out_iface,
				 c->mtu);
			return -EINVAL;
		}
	} else if (o->mtu) {
		log_warn("--mtu %u: no effect without -o (-w records the frames as the agents "
			 "sent them)",
			 o->mtu);
	}
	c->limits.mtu = MAX_MTU;
	c->frame_buf_size = pcap_stream_frame_buf_size(&c->limits);
	return 0;
}

static int add_source(struct collector *c, struct source *s, char *err, size_t err_len)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};

	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		int e = errno;

		snprintf(err, err_len, "epoll: %s", strerror(e));
		return -e;
	}
	return 0;
}

static int setup_events(struct collector *c, char *err, size_t err_len)
{
	struct itimerspec its = {.it_interval = {0, TICK_MS * 1000000L},
				 .it_value = {0, TICK_MS * 1000000L}};
	sigset_t mask;
	int ret;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->sig.kind = SRC_SIGNAL;
	c->sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	c->timer.kind = SRC_TIMER;
	c->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (c->epfd < 0 || c->sig.fd < 0 || c->timer.fd < 0 ||
	    timerfd_settime(c->timer.fd, 0, &its, NULL) < 0) {
		ret = -errno;
		snprintf(err, err_len, "cannot set up the event loop: %s", strerror(errno));
		return ret;
	}
	for (int i = 0; i < c->n_listeners; i++)
		if ((ret = add_source(c, &c->listeners[i], err, err_len)))
			return ret;
	if ((ret = add_source(c, &c->sig, err, err_len)) ||
	    (ret = add_source(c, &c->timer, err, err_len)))
		return ret;
	return 0;
}

static void snapshot(struct collector *c)
{
	c->st.agents_connected = c->n_established;
	c->st.handshakes_in_progress = c->n_handshaking;
	c->st.max_agents = c->max_agents;
	c->st.max_handshakes = c->max_handshakes;
	c->st.subjects = c->subjects.v;
	c->st.n_subjects = c->subjects.n;
}

static int write_stats(struct collector *c)
{
	struct metrics_buf m = {0};
	int ret;

	if (!c->opts->stats_path)
		return 0;
	snapshot(c);
	collector_stats_format(&c->st, &m);
	ret = metrics_write_file(&m, c->opts->stats_path);
	metrics_free(&m);
	return ret;
}

/* -w's rotation is logged when it completes a file or fails to. An output failing as a whole
 * (interface gone or down, file system full) is logged once (at
 * most once per OUTPUT_LOG_PERIOD_MS), and when it works again. */
static void report_output(struct output *o, struct output_report *r, uint64_t now_ms)
{
	char msg[PATH_MAX + 600];
	int ret;

	if (!o)
		return;
	ret = output_rotation_news(o, msg, sizeof(msg));
	if (!ret)
		ret = output_report(o, r, now_ms * 1000000ULL, OUTPUT_LOG_PERIOD_MS * 1000000ULL,
				    msg, sizeof(msg));
	if (ret > 0)
		log_warn("%s", msg);
	else if (ret < 0)
		log_info("%s", msg);
}

static void flush_outputs(struct collector *c)
{
	uint64_t now = collector_now_ms();

	if (c->out_iface)
		output_flush(c->out_iface);
	if (c->out_pcap)
		output_flush(c->out_pcap);
	report_output(c->out_iface, &c->iface_report, now);
	report_output(c->out_pcap, &c->pcap_report, now);
}

static void tick(struct collector *c)
{
	uint64_t now = collector_now_ms();
	static int last_stats_err;

	peer_check_deadlines(c, now);
	authz_check_idle(c, now);
	limits_resume_accepting(c);
	flush_outputs(c); /* also when no agent sends: an -o interface that is back is found */
	if (c->opts->stats_path && now >= c->next_stats_ms) {
		int ret = write_stats(c);

		if (ret && ret != last_stats_err)
			log_warn("--stats-file %s: cannot write: %s", c->opts->stats_path,
				 strerror(-ret));
		last_stats_err = ret;
		c->next_stats_ms = now + c->opts->stats_interval_s * 1000ULL;
	}
	if (now >= c->next_summary_ms) {
		char line[512];

		snapshot(c);
		collector_stats_summary(&c->st, &c->summary_prev,
					(unsigned)((now - c->last_summary_ms + 500) / 1000), line,
					sizeof(line));
		log_info("%s", line);
		if (c->log_suppressed)
			log_info("%u connection warnings were not logged (more than %d a second)",
				 c->log_suppressed, LOG_BURST);
		c->log_suppressed = 0;
		c->last_summary_ms = now;
		c->next_summary_ms = now + SUMMARY_PERIOD_MS;
	}
}

/* SIGHUP: a -w file that was moved away (log rotation) is started again under its name. The
 * collector runs as --user by then: the directory must let that user create the file. */
static void reopen_pcap(struct collector *c)
{
	char msg[400];

	if (!c->out_pcap)
		log_info("SIGHUP: no -w file to start again");
	else if (output_reopen(c->out_pcap, msg, sizeof(msg)) < 0)
		log_warn("SIGHUP: %s", msg);
	else
		log_info("SIGHUP: %s", msg);
}

static void on_signal(struct collector *c)
{
	struct signalfd_siginfo si;

	while (read(c->sig.fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			reopen_pcap(c);
			authz_reload(c);
			continue;
		}
		log_info("%s: stopping", strsignal((int)si.ssi_signo));
		c->stop = true;
	}
}

static void run_loop(struct collector *c)
{
	struct epoll_event evs[128];

	while (!c->stop) {
		int n = epoll_wait(c->epfd, evs, 128, c->ready ? 0 : -1);

		if (n < 0 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct source *s = evs[i].data.ptr;
			uint64_t expirations;

			switch (s->kind) {
			case SRC_LISTENER:
				peer_accept(c, s);
				break;
			case SRC_SIGNAL:
				on_signal(c);
				break;
			case SRC_TIMER:
				if (read(s->fd, &expirations, sizeof(expirations)) > 0)
					tick(c);
				break;
			case SRC_PEER:
				if (((struct peer *)s)->state != PEER_DEAD)
					peer_on_event(c, (struct peer *)s, evs[i].events);
				break;
			}
		}
		peer_service_ready(c);
		flush_outputs(c);
		peer_reap(c);
	}
}

static int open_outputs(struct collector *c, char *err, size_t err_len)
{
	const struct sslc_options *o = c->opts;
	int ret;

	struct outputs_config oc = {
	    .iface = o->out_iface,
	    .force_iface = o->force_output,
	    /* a smaller --mtu caps the interface's MTU (which -o reads every second) */
	    .iface_mtu_cap = o->mtu && o->mtu == c->mtu ? c->mtu : 0,
	    .pcap_path = o->pcap_path,
	    .rotation = {o->rotate_bytes, o->rotate_interval_s, o->rotate_keep,
			 o->rotate_keep_bytes, 0},
	};
	struct passwd *pw = o->pcap_path && o->user && *o->user ? getpwnam(o->user) : NULL;
	struct outputs set;

	if (pw && pw->pw_uid) /* the files it completes once it is that user */
		oc.rotation.owner_uid = (unsigned)pw->pw_uid;
	ret = outputs_open(&oc, &set, err, err_len);
	if (ret)
		return ret;
	if (set.packet_one_by_one)
		log_info(OUTPUT_PACKET_ADVICE, o->out_iface, o->out_iface);
	c->out_iface = set.packet;
	c->out_pcap = set.pcap;
	for (size_t i = 0; i < set.n; i++)
		c->st.outputs[c->st.n_outputs++] = set.all[i];
	return 0;
}

/* Everything that needs root happens here, before the privileges go. */
static int setup(struct collector *c, char *err, size_t err_len)
{
	const struct sslc_options *o = c->opts;
	struct tunnel_tls_files files = {o->ca_path, o->cert_path, o->key_path};
	int ret;

	c->rbuf = malloc(READ_BUF_BYTES);
	if (!c->rbuf) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	subjects_init(&c->subjects, o->vlan_per_agent, o->vlan);
	c->max_agents = o->max_agents;
	c->max_handshakes = o->max_handshakes;
	if ((ret = limits_fit_open_files(c, err, err_len)) || (ret = choose_mtu(c, err, err_len)) ||
	    (ret = tunnel_server_new(&files, &c->srv, err, err_len)) ||
	    (ret = authz_setup(c, err, err_len)) || (ret = open_outputs(c, err, err_len)) ||
	    (ret = collector_listen(c, err, err_len)) || (ret = setup_events(c, err, err_len)))
		return ret;
	if (geteuid() == 0 && (!o->user || !*o->user || !strcmp(o->user, "root")))
		log_warn("--user %s: the collector keeps running as root", o->user ? o->user : "");
	ret = collector_drop_privileges(o->user, err, err_len);
	if (ret)
		return ret;
	/* the stats file is replaced (temporary file + rename) as the unprivileged user */
	ret = write_stats(c);
	if (ret) {
		snprintf(err, err_len,
			 "--stats-file %s: cannot write it as uid %u: %s (its directory must be "
			 "writable by the --user %s; or choose another --stats-file)",
			 o->stats_path, (unsigned)geteuid(), strerror(-ret),
			 o->user ? o->user : "");
		return ret;
	}
	/* so do -w's new files of --rotate-size/--rotate-time */
	if ((ret = output_pcap_can_rotate(c->out_pcap, err, err_len)) < 0) {
		snprintf(err + strlen(err), err_len - strlen(err),
			 " (the directory must let the --user %s rename and create files)",
			 o->user ? o->user : "");
		return ret;
	}
	return 0;
}

static void teardown(struct collector *c, bool started)
{
	peer_close_all(c);
	/* the final counters include every frame: -w writes at most every 200 ms otherwise */
	if (c->out_iface)
		output_sync(c->out_iface);
	if (c->out_pcap)
		output_sync(c->out_pcap);
	if (started && write_stats(c) < 0)
		log_warn("--stats-file %s: final write failed", c->opts->stats_path);
	output_close(c->out_iface);
	output_close(c->out_pcap);
	for (int i = 0; i < c->n_listeners; i++)
		close(c->listeners[i].fd);
	if (c->sig.fd > 0)
		close(c->sig.fd);
	if (c->timer.fd > 0)
		close(c->timer.fd);
	if (c->epfd > 0)
		close(c->epfd);
	tunnel_server_free(c->srv);
	subjects_free(&c->subjects);
	allowlist_free(&c->allow);
	u64map_free(&c->per_source);
	free(c->rbuf);
}

int collector_run(const struct sslc_options *opts)
{
	struct collector *c = calloc(1, sizeof(*c));
	char err[512] = "";
	bool started = false;
	char cut[48] = "";
	int status = 0;

	if (!c) {
		log_error("collector: out of memory");
		return EXIT_RUNTIME;
	}
	c->opts = opts;
	c->epfd = c->sig.fd = c->timer.fd = -1;
	if (setup(c, err, sizeof(err))) {
		log_error("collector: %s", err[0] ? err : "cannot start");
		status = EXIT_RUNTIME;
		goto cleanup;
	}
	started = true;
	c->last_summary_ms = collector_now_ms();
	c->next_summary_ms = c->last_summary_ms + SUMMARY_PERIOD_MS;
	c->next_stats_ms = c->last_summary_ms + opts->stats_interval_s * 1000ULL;
	if (c->out_iface)
		snprintf(cut, sizeof(cut), " (frames cut to MTU %u)",
			 output_packet_mtu(c->out_iface));
	log_info("collector: listening on %s port %u, into%s%s%s%s%s%s%s",
		 opts->listen_addr[0] ? opts->listen_addr : "every address", opts->listen_port,
		 c->out_iface ? " -o " : "", c->out_iface ? opts->out_iface : "", cut,
		 c->out_pcap ? " -w " : "", c->out_pcap ? opts->pcap_path : "",
		 opts->vlan_per_agent ? ", a VLAN per agent" : "",
		 !opts->vlan_per_agent && opts->vlan > 0 ? ", VLAN-tagged" : "");
	run_loop(c);
cleanup:
	teardown(c, started);
	free(c);
	return status;
}
