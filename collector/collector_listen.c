/* The collector's listening sockets: -l ADDR[:PORT], by default every address through one
 * IPv6 dual-stack socket, or IPv4 only where IPv6 is unavailable. */
#include "collector_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKLOG 1024

static int listen_on(struct collector *c, const struct sockaddr *sa, socklen_t len, bool dual_stack,
		     const char *shown, char *err, size_t err_len)
{
	int fd, one = 1, zero = 0, ret;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "-l %s: cannot create a socket: %s", shown, strerror(errno));
		return ret;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual_stack ? &zero : &one, sizeof(int));
	if (bind(fd, sa, len) < 0 || listen(fd, BACKLOG) < 0) {
		ret = -errno;
		snprintf(err, err_len, "-l %s: cannot listen: %s%s", shown, strerror(errno),
			 errno == EADDRINUSE ? " (another collector running? choose another port "
					       "with -l ADDR:PORT)"
			 : errno == EADDRNOTAVAIL ? " (not an address of this host)"
			 : errno == EACCES	  ? " (ports below 1024 need root)"
						  : "");
		close(fd);
		return ret;
	}
	c->listeners[c->n_listeners].kind = SRC_LISTENER;
	c->listeners[c->n_listeners].fd = fd;
	c->n_listeners++;
	return 0;
}

int collector_listen(struct collector *c, char *err, size_t err_len)
{
	const char *addr = c->opts->listen_addr;
	uint16_t port = c->opts->listen_port;
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(port)};
	char shown[96];
	int ret;

	if (!addr[0]) {
		snprintf(shown, sizeof(shown), "*:%u", port);
		s6.sin6_addr = in6addr_any;
		ret = listen_on(c, (struct sockaddr *)&s6, sizeof(s6), true, shown, err, err_len);
		if (ret != -EAFNOSUPPORT && ret != -EADDRNOTAVAIL)
			return ret;
		s4.sin_addr.s_addr = htonl(INADDR_ANY); /* no IPv6 on this host */
		return listen_on(c, (struct sockaddr *)&s4, sizeof(s4), false, shown, err, err_len);
	}
	if (inet_pton(AF_INET, addr, &s4.sin_addr) == 1) {
		snprintf(shown, sizeof(shown), "%s:%u", addr, port);
		return listen_on(c, (struct sockaddr *)&s4, sizeof(s4), false, shown, err, err_len);
	}
	snprintf(shown, sizeof(shown), "[%s]:%u", addr, port);
	if (inet_pton(AF_INET6, addr, &s6.sin6_addr) != 1) {
		snprintf(err, err_len, "-l %s: not an IP address", addr);
		return -EINVAL;
	}
	return listen_on(c, (struct sockaddr *)&s6, sizeof(s6), false, shown, err, err_len);
}
