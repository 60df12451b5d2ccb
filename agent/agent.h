/* The host agent: capture TLS plaintext with BPF and mirror it to the outputs. */
#ifndef SSLC_AGENT_H
#define SSLC_AGENT_H

#include "sslcollector/config.h"

/* Runs until SIGINT/SIGTERM. Returns the process exit status. */
int agent_run(const struct sslc_options *opts);
/* --list: prints the processes using TLS and whether they would be mirrored. */
int agent_list(const struct sslc_options *opts);

#endif
