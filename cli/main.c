/* sslcollector: the one program. Parses the command line and runs the agent (capture and
 * mirror this host's TLS) or, with -C, the collector (receive agents' tunnels). */
#include "agent.h"
#include "collector.h"
#include "log.h"
#include "options.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	struct sslc_options opts;
	char err[512];
	int ret;

	ret = options_parse(argc, argv, &opts, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "sslcollector: %s\n", err);
		return ret;
	}
	switch (opts.action) {
	case ACTION_HELP:
		fputs(options_usage(), stdout);
		return 0;
	case ACTION_VERSION:
		printf("sslcollector %s\n", SSLC_VERSION);
		return 0;
	case ACTION_RUN:
		break;
	}

	log_setup(opts.verbosity < 0	? LOG_LVL_WARN
		  : opts.verbosity == 0 ? LOG_LVL_INFO
		  : opts.verbosity == 1 ? LOG_LVL_DEBUG
					: LOG_LVL_TRACE,
		  opts.use_syslog);
	signal(SIGPIPE, SIG_IGN);

	if (opts.collector)
		return collector_run(&opts);
	if (opts.list)
		return agent_list(&opts);
	return agent_run(&opts);
}
