/* libFuzzer harness for the command line (cli/options.c, option_values.c, options_check.c):
 * the input is argv, one argument per line. options_parse must return 0 or EXIT_USAGE with a
 * one-line message, never crash, never read past an argument, whatever the bytes. */
#include "options.h"

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned any_iface(const char *name)
{
	return name[0] && strlen(name) < 16 ? 1 : 0; /* every name is an interface */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *argv[66];
	char *buf = malloc(size + 1), *p;
	int argc = 0;
	struct sslc_options o;
	char err[512];

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	options_set_iface_resolver(any_iface);
	argv[argc++] = "sslcollector";
	for (p = buf; argc < 65;) {
		char *nl = strchr(p, '\n');

		argv[argc++] = p;
		if (!nl)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	argv[argc] = NULL;
	int ret = options_parse(argc, argv, &o, err, sizeof(err));

	assert(ret == 0 || ret == EXIT_USAGE);
	assert(ret == 0 || (err[0] && !strchr(err, '\n')));
	free(buf);
	return 0;
}
