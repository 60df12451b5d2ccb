/* The agent's tunnel counters in Prometheus text format, for its --stats-file (names in
 * docs/metrics.md). Separate from sslc_tunnel because it uses the program's metrics buffer
 * (common/metrics.h); part of sslc_mirror. */
#ifndef SSLC_TUNNEL_METRICS_H
#define SSLC_TUNNEL_METRICS_H

#include "metrics.h"

#include <sslcollector/tunnel.h>

/* Appends the sslcollector_tunnel_* families. generation: tunnel_client_generation(). */
void tunnel_metrics_format(const struct tunnel_client_stats *st, uint64_t generation,
			   struct metrics_buf *m);

#endif
