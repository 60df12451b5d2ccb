/* The agent's privileges: what it needs to start, and the little it keeps once its BPF
 * programs are loaded and attached and its outputs are open.
 *
 * Measured on kernel 6.18 (tests/e2e/test_agent_privileges.sh): attaching a uprobe (at start
 * and for every library found later) needs CAP_SYS_ADMIN (CAP_BPF + CAP_PERFMON is refused
 * with EACCES), and reading the /proc entries of processes of other users (maps, root,
 * task/N/syscall) needs CAP_SYS_PTRACE. Nothing else is used after the start: the -o socket,
 * the BPF maps and the ring buffer are open descriptors; files are written as uid 0 under the
 * usual permissions. */
#ifndef SSLC_PRIVILEGES_H
#define SSLC_PRIVILEGES_H

#include <stddef.h>
#include <stdint.h>

#define SSLC_CAP_BIT(n)	    (1ULL << (n))
#define SSLC_CAP_SYS_PTRACE 19
#define SSLC_CAP_SYS_ADMIN  21
#define SSLC_CAP_PERFMON    38
#define SSLC_CAP_BPF	    39
/* What the running agent keeps. */
#define SSLC_AGENT_KEEP_CAPS (SSLC_CAP_BIT(SSLC_CAP_SYS_ADMIN) | SSLC_CAP_BIT(SSLC_CAP_SYS_PTRACE))

/* The calling thread's effective capabilities (bits), or all bits when unknown. */
uint64_t privileges_effective(void);

/* Names the capabilities of mask missing from have ("CAP_SYS_ADMIN, CAP_SYS_PTRACE"). */
void privileges_missing(uint64_t have, uint64_t mask, char *out, size_t len);

/* Keeps only `keep` of the process's capabilities: the bounding set is cleared of the others
 * (nothing can be gained back, even by an exec), the inheritable and ambient sets are emptied,
 * no_new_privs is set and the process is made not dumpable (its memory holds plaintext). Call
 * on the main thread while no other thread runs with privileges it should lose (see
 * privileges_drop_thread). 0, or a negative errno with a message in err. */
int privileges_drop(uint64_t keep, char *err, size_t err_len);

/* The calling thread gives up every capability (a helper thread that needs none, started
 * before privileges_drop: capabilities belong to threads). */
int privileges_drop_thread(void);

#endif
