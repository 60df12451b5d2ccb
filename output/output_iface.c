/* The -o interface as a destination: its MTU, and whether it is a real network (it has
 * addresses), where the plaintext mirror must not go unless the operator insists. */
#include "output.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int iface_routable_addrs(const char *ifname, char *first, size_t first_len)
{
	struct ifaddrs *ifa, *i;
	int n = 0;

	if (first_len)
		first[0] = '\0';
	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		const void *addr;

		if (!i->ifa_addr || !i->ifa_name || strcmp(i->ifa_name, ifname))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			addr = &((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct in6_addr *a6 =
			    &((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr;

			if (IN6_IS_ADDR_LINKLOCAL(a6))
				continue; /* every link has one: it routes nowhere */
			addr = a6;
		} else {
			continue;
		}
		if (!n++ && first_len)
			inet_ntop(i->ifa_addr->sa_family, addr, first, (socklen_t)first_len);
	}
	freeifaddrs(ifa);
	return n;
}

int iface_mtu(const char *ifname)
{
	struct ifreq ifr = {0};
	int fd, err;

	if (strlen(ifname) >= sizeof(ifr.ifr_name))
		return -ENAMETOOLONG;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, ifname);
	err = ioctl(fd, SIOCGIFMTU, &ifr) < 0 ? -errno : ifr.ifr_mtu;
	close(fd);
	return err;
}

int output_packet_check_iface(const char *ifname, bool force, char *err, size_t err_len)
{
	char first[INET6_ADDRSTRLEN];
	int n = iface_routable_addrs(ifname, first, sizeof(first));

	if (n < 0) {
		snprintf(err, err_len, "-o %s: cannot read its addresses: %s", ifname,
			 strerror(-n));
		return n;
	}
	if (n == 0 || force)
		return 0;
	snprintf(err, err_len,
		 "-o %s: the interface has address %s%s: the mirror is plaintext (passwords, "
		 "tokens) and would leave the host on a real network. Give -o an interface of "
		 "its own without addresses (one end of a veth pair), or add --force-output",
		 ifname, first, n > 1 ? " and others" : "");
	return -EINVAL;
}
