/* What a running agent keeps out of its mirror (its tunnel's connection, connections cut as
 * loops), published for --list in /run/sslcollector/agent-PID.excluded: a directory of root's
 * own (0700, never followed through a link), files replaced whole (a new file renamed over
 * the old one), removed at exit. */
#ifndef SSLC_STATE_H
#define SSLC_STATE_H

#include <stdio.h>

#define SSLC_STATE_DIR "/run/sslcollector"

/* Replaces this process's file with text (NULL or "": removes it). 0 or a negative errno. */
int state_publish(const char *dir, const char *text);
/* --list: prints the files of running agents to out; how many agents it found. */
int state_print_all(const char *dir, FILE *out);

#endif
