/* The option table: one row per command-line option, the one place that says its names,
 * argument, roles and help. It drives getopt_long and the role checks (options.c), the text
 * of -h (usage.c) and the OPTIONS section of the man page (options_man.c, spliced into
 * docs/sslcollector.8 by scripts/update-man.sh and compared with it by a unit test). */
#ifndef SSLC_OPTIONS_TABLE_H
#define SSLC_OPTIONS_TABLE_H

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
	OPT_END
};

enum option_roles {
	FOR_AGENT = 1,
	FOR_COLLECTOR = 2,
	FOR_BOTH = FOR_AGENT | FOR_COLLECTOR,
};

struct option_row {
	int id;			/* getopt_long's value: the short letter, or an OPT_ above */
	char short_name;	/* 0: none */
	const char *long_name;	/* without the dashes */
	const char *arg;	/* the argument's name in the help, NULL: takes none */
	unsigned roles;		/* enum option_roles */
	const char *section;	/* heading in -h and in the man page */
	const char *help;	/* -h and the man page: what it does, its default */
	const char *more;	/* the man page only: what else to know (NULL: nothing) */
	const char *wrong_role; /* the message when given to the other role (NULL: generic) */
};

extern const struct option_row option_rows[];
extern const size_t option_rows_n;

/* The row of getopt_long's value id, or NULL. */
const struct option_row *option_row_by_id(int id);
/* "-I" for an option with a short form, else "--lib": how errors name it. */
const char *option_row_name(const struct option_row *r, char *buf, size_t len);

#endif
