/* -o IFACE: frames sent on an AF_PACKET socket bound to the interface. Protocol 0, so the
 * socket receives nothing; no PACKET_QDISC_BYPASS, so a sniffer on the same interface (the IDS)
 * still sees every frame. Frames are copied into a batch and sent with sendmmsg(). */
#include "output.h"
#include "output_impl.h"

#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH_FRAMES 64
#define SLOT_BYTES   (14 + 4 + 65535)
/* ENOBUFS means the device queue is full for a moment: retry briefly before dropping. */
#define ENOBUFS_RETRIES 50

struct packet_output {
	struct output base;
	int fd;
	unsigned n;
	struct mmsghdr msgs[BATCH_FRAMES];
	struct iovec iov[BATCH_FRAMES];
	uint8_t *slots; /* BATCH_FRAMES * SLOT_BYTES */
};

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

static int packet_flush(struct output *base)
{
	struct packet_output *p = (struct packet_output *)base;
	unsigned done = 0, retries = 0;
	int err = 0;

	while (done < p->n) {
		int r = sendmmsg(p->fd, p->msgs + done, p->n - done, 0);

		if (r > 0) {
			for (int i = 0; i < r; i++) {
				p->base.stats.frames++;
				p->base.stats.bytes += p->iov[done + (unsigned)i].iov_len;
			}
			done += (unsigned)r;
			retries = 0;
			continue;
		}
		if (errno == EINTR)
			continue;
		if ((errno == ENOBUFS || errno == EAGAIN) && retries++ < ENOBUFS_RETRIES) {
			struct timespec ts = {0, 20000};

			nanosleep(&ts, NULL);
			continue;
		}
		/* this frame is refused (too big for the MTU, interface down, ...): drop it */
		err = -errno;
		p->base.stats.errors++;
		p->base.stats.dropped++;
		snprintf(p->base.last_error, sizeof(p->base.last_error), "send on %s: %s",
			 p->base.name + 3, strerror(errno));
		done++;
		retries = 0;
	}
	p->n = 0;
	return err;
}

static int packet_write(struct output *base, const uint8_t *frame, size_t len, uint64_t ts_ns)
{
	struct packet_output *p = (struct packet_output *)base;
	uint8_t *slot;

	(void)ts_ns;
	if (len > SLOT_BYTES || len < 14) {
		p->base.stats.dropped++;
		return -EMSGSIZE;
	}
	slot = p->slots + (size_t)p->n * SLOT_BYTES;
	memcpy(slot, frame, len);
	p->iov[p->n].iov_base = slot;
	p->iov[p->n].iov_len = len;
	if (++p->n == BATCH_FRAMES)
		return packet_flush(base);
	return 0;
}

static void packet_close(struct output *base)
{
	struct packet_output *p = (struct packet_output *)base;

	packet_flush(base);
	close(p->fd);
	free(p->slots);
	free(p);
}

static const struct output_ops packet_ops = {
    .write = packet_write,
    .flush = packet_flush,
    .close = packet_close,
};

int output_packet_open(const char *ifname, struct output **out, char *err, size_t err_len)
{
	struct sockaddr_ll sll = {0};
	struct packet_output *p;
	unsigned ifindex;
	int ret;

	*out = NULL;
	ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		ret = -errno;
		snprintf(err, err_len, "-o %s: no such interface", ifname);
		return ret;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->slots = malloc((size_t)BATCH_FRAMES * SLOT_BYTES);
	if (!p->slots) {
		free(p);
		return -ENOMEM;
	}
	p->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "-o %s: cannot open a packet socket: %s%s", ifname,
			 strerror(errno), errno == EPERM ? " (needs root or CAP_NET_RAW)" : "");
		goto fail;
	}
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = 0;
	sll.sll_ifindex = (int)ifindex;
	if (bind(p->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		ret = -errno;
		snprintf(err, err_len, "-o %s: cannot bind: %s", ifname, strerror(errno));
		goto fail;
	}
	for (unsigned i = 0; i < BATCH_FRAMES; i++) {
		p->msgs[i].msg_hdr.msg_iov = &p->iov[i];
		p->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	p->base.ops = &packet_ops;
	snprintf(p->base.name, sizeof(p->base.name), "-o %s", ifname);
	*out = &p->base;
	return 0;
fail:
	if (p->fd >= 0)
		close(p->fd);
	free(p->slots);
	free(p);
	return ret;
}
