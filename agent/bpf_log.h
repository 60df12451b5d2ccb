/* libbpf's messages into ours (common/log.h), one level lower than libbpf rates them. */
#ifndef SSLC_BPF_LOG_H
#define SSLC_BPF_LOG_H

void log_route_libbpf(void);

#endif
