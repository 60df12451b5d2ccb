/* libbpf's messages routed into the program's log (agent/bpf_log.h). */
#include "bpf_log.h"
#include "log.h"

#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum log_level ours;

	switch (level) {
	case LIBBPF_WARN:
		ours = LOG_LVL_INFO;
		break;
	case LIBBPF_INFO:
		ours = LOG_LVL_DEBUG;
		break;
	default:
		ours = LOG_LVL_TRACE;
		break;
	}
	if (!log_enabled(ours))
		return 0;
	char *text = NULL;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral" /* libbpf's own format strings */
	if (vasprintf(&text, fmt, ap) < 0)
		return 0;
#pragma GCC diagnostic pop
	/* the verifier's log arrives as one long message: one of our lines per line of it */
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (*line)
			log_msg(ours, "libbpf: %s", line);
	}
	free(text);
	return 0;
}

void log_route_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
