/* The option table: one row per command-line option, the one place that says its names,
 * argument, roles and help. It drives getopt_long and the role checks (options.c), the text
 * of -h (usage.c) and the OPTIONS section of the man page (options_man.c, spliced into
 * docs/sslcollector.8 by scripts/update-man.sh and compared with it by a unit test). */
#ifndef SSLC_OPTIONS_TABLE_H
#define SSLC_OPTIONS_TABLE_H

#include "sslcollector/config.h"

#include <stddef.h>

/* getopt_long's values of the options without a short form (the others use their letter) */
enum {
	OPT_CA = 0x100,
	OPT_CERT,
	OPT_KEY,
	OPT_STATS_FILE,
	OPT_STATS_INTERVAL,
	OPT_LIB,
	OPT_LIST,
	OPT_PRINT,
	OPT_MTU,
	OPT_VLAN,
	OPT_VLAN_PER_AGENT,
	OPT_QUEUE_SIZE,
	OPT_RING_SIZE,
	OPT_SYSCALL_HOOK,
	OPT_MAX_CALL_SIZE,
	OPT_IDLE_TIMEOUT,
	OPT_HANDSHAKE_TIMEOUT,
	OPT_MAX_AGENTS,
	OPT_USER,
	OPT_SYSLOG,
	OPT_DUMP_DIR,
	OPT_ROTATE_SIZE,
	OPT_ROTATE_TIME,
	OPT_ROTATE_KEEP,
	OPT_ROTATE_KEEP_SIZE,
	OPT_FORCE_OUTPUT,
	OPT_MAX_HANDSHAKES,
	OPT_MAX_HANDSHAKES_PER_SOURCE,
	OPT_MAX_SESSIONS_PER_AGENT,
	OPT_AGENT_IDLE_TIMEOUT,
	OPT_CRL,
	OPT_ALLOW,
	OPT_TCP_ONLY,
	OPT_NETNS,
	OPT_CGROUP,
	OPT_END
};

enum option_roles {
	FOR_AGENT = 1,
	FOR_COLLECTOR = 2,
	FOR_BOTH = FOR_AGENT | FOR_COLLECTOR,
};

/* How a value is read and stored when the row says so (the others have code of their own in
 * options.c's switch). */
enum option_value {
	VALUE_CODE = 0, /* options.c reads it */
	VALUE_FLAG,	/* no argument: sets a bool */
	VALUE_STRING,	/* the argument itself (a const char *) */
	VALUE_UINT,	/* a decimal number from min to max */
	VALUE_SIZE,	/* a size with K, M, G, T, P (powers of 1024), from min to max */
	VALUE_DURATION, /* seconds, or with s, m, h, d, from min to max */
};

struct option_row {
	int id;			 /* getopt_long's value: the short letter, or an OPT_ above */
	char short_name;	 /* 0: none */
	const char *long_name;	 /* without the dashes */
	const char *arg;	 /* the argument's name in the help, NULL: takes none */
	unsigned roles;		 /* enum option_roles */
	const char *section;	 /* heading in -h and in the man page */
	const char *help;	 /* -h and the man page: what it does, its default */
	const char *more;	 /* the man page only: what else to know (NULL: nothing) */
	const char *wrong_role;	 /* the message when given to the other role (NULL: generic) */
	enum option_value value; /* VALUE_CODE: options.c's switch reads it */
	size_t off, size;	 /* the field of struct sslc_options it fills, and its size */
	unsigned long long min, max;
	const char *limits; /* the error's and the man page's words for min..max */
};

/* Row helpers: the field a row fills and, for numbers, the limits and their words. */
#define ROW_FIELD(f)                                                                               \
	.off = offsetof(struct sslc_options, f), .size = sizeof(((struct sslc_options *)0)->f)
#define ROW_CODE      .value = VALUE_CODE
#define ROW_FLAG(f)   .value = VALUE_FLAG, ROW_FIELD(f)
#define ROW_STRING(f) .value = VALUE_STRING, ROW_FIELD(f)
#define ROW_NUMBER(kind, f, lo, hi, words)                                                         \
	.value = kind, ROW_FIELD(f), .min = (lo), .max = (hi), .limits = (words)

extern const struct option_row option_rows[];
extern const size_t option_rows_n;

/* The row of getopt_long's value id, or NULL. */
const struct option_row *option_row_by_id(int id);
/* "-I" for an option with a short form, else "--lib": how errors name it. */
const char *option_row_name(const struct option_row *r, char *buf, size_t len);

#endif
