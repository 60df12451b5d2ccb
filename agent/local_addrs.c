/* getifaddrs(3) into address keys plus the owning interface's MAC. */
#include "local_addrs.h"

#include <errno.h>
#include <stdio.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int iface_mac(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr = {0};
	int fd, ret = 0;

	memset(mac, 0, 6);
	if (strlen(ifname) >= sizeof(ifr.ifr_name))
		return -ENAMETOOLONG;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		ret = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
	return ret;
}

int local_addrs_load(struct local_addrs *la, const char *iface)
{
	struct ifaddrs *list, *ifa;
	size_t n = 0, i = 0;
	bool all = !iface || !strcmp(iface, "any");

	la->v = NULL;
	la->n = 0;
	if (getifaddrs(&list) < 0)
		return -errno;
	for (ifa = list; ifa; ifa = ifa->ifa_next)
		if (ifa->ifa_addr &&
		    (ifa->ifa_addr->sa_family == AF_INET || ifa->ifa_addr->sa_family == AF_INET6))
			n++;
	la->v = calloc(n ? n : 1, sizeof(*la->v));
	if (!la->v) {
		freeifaddrs(list);
		return -ENOMEM;
	}
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		struct local_addr *a;

		if (!ifa->ifa_addr ||
		    (ifa->ifa_addr->sa_family != AF_INET && ifa->ifa_addr->sa_family != AF_INET6))
			continue;
		if (!all && strcmp(ifa->ifa_name, iface))
			continue;
		a = &la->v[i++];
		if (ifa->ifa_addr->sa_family == AF_INET) {
			a->key.family = AF_INET;
			memcpy(a->key.addr, &((struct sockaddr_in *)ifa->ifa_addr)->sin_addr, 4);
		} else {
			a->key.family = AF_INET6;
			memcpy(a->key.addr, &((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr, 16);
		}
		snprintf(a->ifname, sizeof(a->ifname), "%s", ifa->ifa_name);
		/* the AF_PACKET entry of the same interface carries its MAC */
		for (struct ifaddrs *p = list; p; p = p->ifa_next) {
			if (p->ifa_addr && p->ifa_addr->sa_family == AF_PACKET &&
			    !strcmp(p->ifa_name, ifa->ifa_name)) {
				struct sockaddr_ll *sll = (struct sockaddr_ll *)p->ifa_addr;

				if (sll->sll_halen == 6)
					memcpy(a->mac, sll->sll_addr, 6);
				break;
			}
		}
	}
	la->n = i;
	freeifaddrs(list);
	return 0;
}

const struct local_addr *local_addrs_find(const struct local_addrs *la, uint8_t family,
					  const uint8_t *addr)
{
	size_t len = family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < la->n; i++)
		if (la->v[i].key.family == family && !memcmp(la->v[i].key.addr, addr, len))
			return &la->v[i];
	return NULL;
}

bool local_addrs_same(const struct local_addrs *a, const struct local_addrs *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!local_addrs_find(b, a->v[i].key.family, a->v[i].key.addr))
			return false;
	return true;
}

void local_addrs_free(struct local_addrs *la)
{
	free(la->v);
	la->v = NULL;
	la->n = 0;
}
