/* Levelled logging: one line per message on stderr ("sslcollector: warning: ..."), or syslog. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static enum log_level max_level = LOG_LVL_INFO;
static bool to_syslog;

static const char *const level_names[] = {"error", "warning", "info", "debug", "trace"};
static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_DEBUG};

void log_setup(enum log_level level, bool use_syslog)
{
	max_level = level;
	if (use_syslog && !to_syslog)
		openlog("sslcollector", LOG_PID, LOG_DAEMON);
	to_syslog = use_syslog;
}

enum log_level log_get_level(void)
{
	return max_level;
}

bool log_enabled(enum log_level level)
{
	return level <= max_level;
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[2048];
	int n;

	if (level > max_level)
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	/* libbpf and strerror texts may end in a newline; one message is one line */
	for (size_t len = strlen(line); len && (line[len - 1] == '\n' || line[len - 1] == ' ');)
		line[--len] = '\0';
	if (to_syslog) {
		syslog(syslog_prio[level], "%s", line);
		return;
	}
	if (max_level >= LOG_LVL_DEBUG) {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld sslcollector: %s: %s\n", stamp, ts.tv_nsec / 1000000,
			level_names[level], line);
	} else if (level == LOG_LVL_INFO) {
		fprintf(stderr, "sslcollector: %s\n", line);
	} else {
		fprintf(stderr, "sslcollector: %s: %s\n", level_names[level], line);
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
