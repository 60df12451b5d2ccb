/* The collector (sslcollector -C): receives the agents' TLS tunnels of PCAP-over-IP, validates
 * every record and injects the frames into -o IFACE and/or -w FILE (docs/design.md, "tunnel/ and
 * collector/"). */
#ifndef SSLC_COLLECTOR_H
#define SSLC_COLLECTOR_H

#include "sslcollector/config.h"

/* Runs until SIGINT or SIGTERM (handled here through a signalfd). Returns the process exit
 * status: 0 after a clean stop, EXIT_RUNTIME when it cannot start or fails. */
int collector_run(const struct sslc_options *opts);

#endif
