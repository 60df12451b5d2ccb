/* The local addresses of -I IFACE (or of every interface), with each interface's Ethernet
 * address: what the BPF filter mirrors and what the forged frames carry for the local end. */
#ifndef SSLC_LOCAL_ADDRS_H
#define SSLC_LOCAL_ADDRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sslcollector/event.h"

struct local_addr {
	struct sslc_addr_key key;
	uint8_t mac[6]; /* of the interface that has the address (zero for loopback) */
	char ifname[16];
};

struct local_addrs {
	struct local_addr *v;
	size_t n;
};

/* Loads the addresses of iface, or of every interface when iface is NULL or "any".
 * 0 or a negative errno. */
int local_addrs_load(struct local_addrs *la, const char *iface);
/* The entry of a local address (family, address as in struct sslc_conn), or NULL. */
const struct local_addr *local_addrs_find(const struct local_addrs *la, uint8_t family,
					  const uint8_t *addr);
/* Same set of addresses (order ignored)? */
bool local_addrs_same(const struct local_addrs *a, const struct local_addrs *b);
void local_addrs_free(struct local_addrs *la);
/* The Ethernet address of an interface; all zero when it has none. */
int iface_mac(const char *ifname, uint8_t mac[6]);

#endif
