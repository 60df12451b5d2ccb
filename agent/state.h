/* What a running agent keeps out of its mirror (its tunnel's connection, connections cut as
 * loops) and what it saw of each process, published for --list in
 * /run/sslcollector/agent-PID.excluded and agent-PID.processes: a directory of root's
 * own (0700, never followed through a link), files replaced whole (a new file renamed over
 * the old one), removed at exit. */
#ifndef SSLC_STATE_H
#define SSLC_STATE_H

#include <stdio.h>

#include "sslcollector/event.h"

#define SSLC_STATE_DIR "/run/sslcollector"

/* Replaces this process's file with text (NULL or "": removes it). 0 or a negative errno. */
int state_publish(const char *dir, const char *text);
/* The same for another kind of file: agent-PID.KIND. */
int state_publish_kind(const char *dir, const char *kind, const char *text);
/* --list: prints the files of running agents to out; how many agents it found. */
int state_print_all(const char *dir, FILE *out);

/* What running agents saw of each process's TLS (agent-PID.processes, one line per process:
 * "PID SESSIONS ATTRIBUTED UNATTRIBUTED_BYTES CONFLICTS"); fn is called for each line. Returns
 * how many agents published one. */
typedef void (*state_proc_fn)(void *ctx, int agent, int pid, const struct sslc_proc_stat *st);
int state_read_procs(const char *dir, state_proc_fn fn, void *ctx);

#endif
