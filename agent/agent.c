/* The host agent. (Foundation commit: capture lands with issue 3; until then the agent
 * describes the mirror it would set up.) */
#include "agent.h"
#include "log.h"

#include <stdio.h>

int agent_run(const struct sslc_options *o)
{
	log_info("would mirror TLS connections on %s%s%s%s%s%s%s", o->iface,
		 o->out_iface[0] ? " to interface " : "", o->out_iface,
		 o->pcap_path ? " to pcap " : "", o->pcap_path ? o->pcap_path : "",
		 o->tunnel ? " through a tunnel to " : "", o->tunnel ? o->tunnel_host : "");
	log_error("capture is not built yet (issue 3)");
	return EXIT_RUNTIME;
}

int agent_list(const struct sslc_options *o)
{
	(void)o;
	log_error("--list is not built yet (issue 3)");
	return EXIT_RUNTIME;
}
