/* The capture's counters (include/sslcollector/event.h) as metrics and as the agent's last
 * log line. */
#ifndef SSLC_CAPTURE_REPORT_H
#define SSLC_CAPTURE_REPORT_H

#include <stdint.h>

#include "metrics.h"
#include "sslcollector/event.h"

/* The counter families of the agent's --stats-file. */
void capture_report_metrics(struct metrics_buf *mb, const uint64_t cnt[SSLC_CNT__MAX]);
/* Publishes what the capture saw of each process for --list (agent-PID.processes in the
 * state directory); NULL removes it. */
struct capture;
void capture_report_processes(struct capture *c);
void capture_report_processes_end(void);
/* The "counters: ..." line logged when the agent stops. */
void capture_report_log(const uint64_t cnt[SSLC_CNT__MAX]);

#endif
