/* --dump-dir DIR: each mirrored connection's plaintext, one file per direction
 * (conn-ID.send, conn-ID.recv: captured bytes only) and conn-ID.json (addresses, role, namespace,
 * VLAN, cgroup, container, byte and gap counts). For debugging and for the tests that compare
 * captures byte for byte. The directory and files are private (0700/0600): they hold plaintext
 * secrets. */
#ifndef SSLC_DUMP_H
#define SSLC_DUMP_H

#include <stddef.h>
#include <stdint.h>

#include "labels.h"
#include "sslcollector/event.h"

struct dump;

int dump_open(const char *dir, struct dump **out, char *err, size_t err_len);
/* Records one event. role: the resolved role of the connection; lab: where it runs (NULL: not
 * said), kept from its first event: a connection of another namespace than the agent's is
 * conn-ID-nsINODE.* */
int dump_event(struct dump *d, const struct sslc_event *e, uint8_t role,
	       const struct ns_labels *lab);
/* Writes the metadata of every connection still open and frees; accepts NULL. */
void dump_close(struct dump *d);

#endif
