/* Client or server when the BPF side did not see the connection being set up (it existed
 * before sslcollector started): the end whose local port is listening is the server. */
#ifndef SSLC_ROLES_H
#define SSLC_ROLES_H

#include <stdbool.h>
#include <stdint.h>

struct listen_ports {
	uint8_t bits[65536 / 8];
	uint64_t loaded_ns; /* CLOCK_MONOTONIC of the last refresh, 0: never */
};

/* Reads the listening TCP ports from proc_net/tcp and proc_net/tcp6 (proc_net: "/proc/net"
 * or a test directory). 0 or a negative errno (when neither file can be read). */
int listen_ports_load(struct listen_ports *lp, const char *proc_net);
bool listen_ports_has(const struct listen_ports *lp, uint16_t port);

#endif
