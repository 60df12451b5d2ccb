/* Listening TCP ports from /proc/net/tcp{,6} ("sl local_address rem_address st ..."). */
#include "roles.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int load_file(struct listen_ports *lp, const char *path)
{
	char line[512];
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char local[64];
		unsigned int port, state;

		/* "  0: 0100007F:1F90 00000000:0000 0A ..." ; the header line does not parse */
		if (sscanf(line, " %*u: %63s %*s %x", local, &state) != 2 || state != 0x0A)
			continue;
		char *colon = strrchr(local, ':');
		if (!colon || sscanf(colon + 1, "%x", &port) != 1 || port > 65535)
			continue;
		lp->bits[port / 8] |= (uint8_t)(1u << (port % 8));
	}
	fclose(f);
	return 0;
}

int listen_ports_load(struct listen_ports *lp, const char *proc_net)
{
	char path[256];
	int r4, r6;

	memset(lp->bits, 0, sizeof(lp->bits));
	snprintf(path, sizeof(path), "%s/tcp", proc_net);
	r4 = load_file(lp, path);
	snprintf(path, sizeof(path), "%s/tcp6", proc_net);
	r6 = load_file(lp, path);
	return r4 && r6 ? r4 : 0;
}

bool listen_ports_has(const struct listen_ports *lp, uint16_t port)
{
	return lp->bits[port / 8] & (1u << (port % 8));
}
