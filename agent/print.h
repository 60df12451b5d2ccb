/* --print: one line per captured event on stdout, for people and for tests. */
#ifndef SSLC_PRINT_H
#define SSLC_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "labels.h"
#include "sslcollector/event.h"

/* "10.0.0.1:443" or "[fd00::1]:443" */
void format_endpoint(uint8_t family, const uint8_t *addr, uint16_t port, char *out, size_t len);
/* Writes one line for e. role: the resolved role of the local end. wall_ns: CLOCK_REALTIME of the
 * event. data_bytes: how many bytes of the payload to show, escaped (0: none). lab: where the
 * connection runs (NULL: not said); a namespace other than the agent's is named on the line
 * ("netns N vlan V [container C] ") before the event. */
void print_event(FILE *out, const struct sslc_event *e, uint8_t role, uint64_t wall_ns,
		 size_t data_bytes, const struct ns_labels *lab);

#endif
