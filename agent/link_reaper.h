/* Destroys BPF links away from the event loop. Removing a uprobe waits for the kernel's
 * tasks-trace RCU: some 65 ms per link on the machines we measured, 0.65 s for one probed
 * library. A sweep of the libraries of stopped containers would stall the capture for seconds
 * (the ring fills, new processes are probed late); here threads of their own wait instead. */
#ifndef SSLC_LINK_REAPER_H
#define SSLC_LINK_REAPER_H

#include <stddef.h>

struct bpf_link;
struct link_reaper;

/* A reaper; its threads start with the first link given (after the agent has dropped its
 * privileges: a thread keeps the capabilities it was created with). NULL when out of memory:
 * link_reaper_add then destroys in place. */
struct link_reaper *link_reaper_new(void);
/* Hands link over (NULL is ignored); it is destroyed soon, by the thread or, if that cannot
 * run, here. */
void link_reaper_add(struct link_reaper *r, struct bpf_link *link);
/* Links handed over and not destroyed yet. */
size_t link_reaper_pending(struct link_reaper *r);
/* Destroys what is left, stops the threads. Accepts NULL. */
void link_reaper_free(struct link_reaper *r);

#endif
