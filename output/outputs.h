/* The outputs a role writes into, opened in one place for the agent and the collector: -o
 * IFACE (checked: no addresses unless forced; optionally capped below the interface's MTU)
 * and -w FILE (with its rotation). Adding an output (say VXLAN) means a sink file in output/
 * and a field here. A library: never prints or exits; the caller logs what it reports. */
#ifndef SSLC_OUTPUTS_H
#define SSLC_OUTPUTS_H

#include "output.h"

#include <stdbool.h>
#include <stddef.h>

#define OUTPUTS_MAX 2

struct outputs_config {
	const char *iface;	/* -o, NULL or "": none */
	bool force_iface;	/* --force-output: -o even onto an interface with addresses */
	unsigned iface_mtu_cap; /* -o: cut IP packets to this size (0: the interface's MTU) */
	const char *pcap_path;	/* -w, NULL: none */
	struct output_rotation rotation;
};

struct outputs {
	struct output *all[OUTPUTS_MAX]; /* in this order: -o, -w */
	size_t n;
	struct output *packet, *pcap; /* the same, by kind (NULL when not asked for) */
	bool packet_one_by_one;	      /* -o offloads, so its frames go one by one: log
				       * OUTPUT_PACKET_ADVICE */
};

/* Opens every output cfg names into *set. 0, or a negative errno with a one-line message in
 * err naming the option (nothing stays open then). */
int outputs_open(const struct outputs_config *cfg, struct outputs *set, char *err, size_t err_len);
/* Closes and forgets every output of set. */
void outputs_close(struct outputs *set);
/* The MTU of -o IFACE, or a negative errno with a message in err. */
int outputs_iface_mtu(const char *iface, char *err, size_t err_len);

#endif
