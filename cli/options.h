/* The sslcollector command line (cli/): struct sslc_options (sslcollector/config.h) filled
 * from the option table (options_table.c) by getopt_long and checked by one validation
 * function that the unit tests call directly. */
#ifndef SSLC_OPTIONS_H
#define SSLC_OPTIONS_H

#include "sslcollector/config.h"

/* Parses argv into *opts (starting from the defaults) and validates it. Returns 0 when the
 * program should go on (see opts->action) or EXIT_USAGE with a one-line message in err that
 * names the offending argument. Never prints, never exits. */
int options_parse(int argc, char **argv, struct sslc_options *opts, char *err, size_t err_len);

/* The checks options_parse applies after reading argv; exposed for tests. */
int options_validate(struct sslc_options *opts, char *err, size_t err_len);

/* Tests replace the interface lookup (if_nametoindex) to name interfaces that do not exist
 * on the machine running them. NULL restores the default. */
void options_set_iface_resolver(unsigned (*resolve)(const char *name));

/* Usage text with the example command lines (-h), made from the option table. */
const char *options_usage(void);
/* The same into buf (cut to len); its length. */
size_t options_help_text(char *buf, size_t len);
/* The man page's OPTIONS section (roff), made from the option table, into buf (cut to len);
 * its length. scripts/update-man.sh puts it into docs/sslcollector.8. */
size_t options_man_text(char *buf, size_t len);

#endif
