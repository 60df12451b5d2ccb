/* -o IFACE: frames sent on an AF_PACKET socket bound to the interface. Protocol 0, so the
 * socket receives nothing; no PACKET_QDISC_BYPASS, so a sniffer on the same interface (the IDS)
 * still sees every frame. Frames are copied into a batch and sent with sendmmsg(); after
 * output_packet_hold_payloads(), the payloads given to output_packet_write_parts() are not
 * copied but sent from where they lie (the agent's ring buffer), each message a list of pieces.
 *
 * Runs cut by the kernel: when the interface computes neither checksums nor segmentation in
 * hardware (TX checksum offload off, which turns TSO off too: `ethtool -K IFACE tx off`), the
 * consecutive data frames of one TCP direction (same headers, sequence numbers and IPv4 ids
 * following on, equal payloads but the last, PSH only on the last) are sent as one frame with a
 * virtio-net header asking for segmentation (PACKET_VNET_HDR, GSO). The kernel cuts it in
 * software, before any sniffer or the peer sees it, into exactly the frames it was made of:
 * the same sequence numbers, IPv4 ids, flags and payloads, checksums computed. One send instead
 * of up to 44 costs several times less CPU. With offload on, the kernel would hand the big frame
 * on whole (a veth peer sees one 64 KiB frame) or leave its checksums to the hardware, so then
 * every frame is sent as it is. The interface's settings are read again every second.
 *
 * Frames larger than the interface's MTU (an agent's tunnel frames, forged for up to 64 KiB,
 * at the collector): a TCP segment is cut into segments that fit, by the kernel as a run of its
 * own when it cuts runs, with forge_cut_segment() otherwise. Anything else that large is
 * dropped and counted. */
#include "output.h"
#include "output_packet_impl.h"

#include <sslcollector/forge.h>

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static bool ethtool_flag(int fd, const char *ifname, uint32_t cmd, uint32_t *val)
{
	struct ethtool_value ev = {.cmd = cmd};
	struct ifreq ifr = {0};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (char *)&ev;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		return false;
	*val = ev.data;
	return true;
}

/* The MTU to cut frames at: the interface's, at most p->mtu_cap; 0 when unknown. */
static unsigned read_mtu(const struct packet_output *p)
{
	struct ifreq ifr = {0};
	unsigned mtu;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", p->ifname);
	if (ioctl(p->fd, SIOCGIFMTU, &ifr) < 0 || ifr.ifr_mtu < 68)
		return 0;
	mtu = (unsigned)ifr.ifr_mtu;
	return p->mtu_cap && p->mtu_cap < mtu ? p->mtu_cap : mtu;
}

/* True when the kernel segments and checksums what is sent on ifname in software: TX checksum
 * offload and TCP segmentation offload both off. Unknown (no ethtool support) counts as no. */
static bool kernel_cuts(int fd, const char *ifname)
{
	uint32_t csum, tso;

	return ethtool_flag(fd, ifname, ETHTOOL_GTXCSUM, &csum) && !csum &&
	       ethtool_flag(fd, ifname, ETHTOOL_GTSO, &tso) && !tso;
}

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Where the IP and TCP headers of a TCP frame over Ethernet [802.1Q] IPv4/IPv6 start, and the
 * TCP length its IP header gives, read from its first flen bytes (which hold the IP header);
 * false for anything else. */
static int bind_iface(int fd, unsigned ifindex)
{
	struct sockaddr_ll sll = {0};

	sll.sll_family = AF_PACKET;
	sll.sll_protocol = 0;
	sll.sll_ifindex = (int)ifindex;
	return bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ? -errno : 0;
}

/* The interface was removed (the kernel unbinds the socket then): once one of that name exists
 * again, the socket is bound to it. */
static void rebind(struct packet_output *p)
{
	unsigned idx = if_nametoindex(p->ifname);
	int err;

	if (!idx) {
		snprintf(p->base.last_error, sizeof(p->base.last_error),
			 "interface %s does not exist any more; sending again once it does",
			 p->ifname);
		return;
	}
	if ((err = bind_iface(p->fd, idx)) < 0) {
		snprintf(p->base.last_error, sizeof(p->base.last_error),
			 "interface %s is back, but binding to it failed: %s", p->ifname,
			 strerror(-err));
		return;
	}
	p->gone = false;
	p->base.failing = false;
	p->base.last_error[0] = '\0';
}

static int packet_flush(struct output *base)
{
	struct packet_output *p = (struct packet_output *)base;
	unsigned done = 0, retries = 0;
	uint64_t now;
	int err = 0;

	if (p->run.open)
		runs_close_slot(p);
	for (unsigned i = 0; i < p->n; i++)
		if (p->csum_due[i])
			runs_complete_csum(p, i);
	while (done < p->n) {
		int r;

		if (p->gone) { /* no system call per batch while there is nothing to send on */
			for (; done < p->n; done++)
				p->base.stats.dropped += p->frames[done];
			err = -ENODEV;
			break;
		}
		r = sendmmsg(p->fd, p->msgs + done, p->n - done, 0);
		if (r > 0) {
			for (unsigned i = done; i < done + (unsigned)r; i++) {
				p->base.stats.frames += p->frames[i];
				p->base.stats.bytes += p->bytes[i];
				if (p->frames[i] > 1)
					p->base.stats.cut_frames += p->frames[i];
			}
			done += (unsigned)r;
			retries = 0;
			p->base.failing = false;
			continue;
		}
		if (errno == EINTR)
			continue;
		if ((errno == ENOBUFS || errno == EAGAIN) && retries++ < ENOBUFS_RETRIES) {
			struct timespec ts = {0, 20000};

			nanosleep(&ts, NULL);
			continue;
		}
		/* this send is refused (too big for the MTU, interface down, ...): drop it */
		err = -errno;
		p->base.stats.errors++;
		p->base.stats.dropped += p->frames[done];
		p->base.failing = true;
		if (errno == ENXIO || errno == ENODEV) {
			/* unbound: the interface was removed */
			p->gone = true;
			snprintf(p->base.last_error, sizeof(p->base.last_error),
				 "interface %s is gone; sending again once it is back", p->ifname);
		} else {
			snprintf(p->base.last_error, sizeof(p->base.last_error), "send on %s: %s",
				 p->ifname, strerror(errno));
		}
		done++;
		retries = 0;
	}
	p->n = 0;
	now = coarse_ns();
	if (now >= p->recheck_ns) {
		if (p->gone)
			rebind(p);
		p->cut = p->vnet && kernel_cuts(p->fd, p->ifname);
		p->mtu = read_mtu(p);
		p->recheck_ns = now + RECHECK_NS;
	}
	return err;
}

/* A frame larger than the MTU (hdr[0..hlen) then pay[0..plen)): a TCP segment is queued as a
 * run of its own that the kernel cuts, or cut here into one slot per segment. */
static int write_oversize(struct packet_output *p, const uint8_t *hdr, size_t hlen,
			  const uint8_t *pay, size_t plen)
{
	struct run *r = &p->run;
	const uint8_t *src = hdr;
	size_t len = hlen + plen;
	struct forge_cut c;
	struct seg s;
	int n, err = 0, e;

	if (plen) {
		if (!p->big && !(p->big = malloc(SLOT_BYTES))) {
			p->base.stats.dropped++;
			return -ENOMEM;
		}
		memcpy(p->big, hdr, hlen);
		memcpy(p->big + hlen, pay, plen);
		src = p->big;
	}
	n = forge_cut_init(&c, src, len, p->mtu);
	if (n < 0) {
		p->base.stats.dropped++;
		snprintf(
		    p->base.last_error, sizeof(p->base.last_error),
		    "frame of %zu bytes larger than the MTU %u of %s and not a TCP segment that "
		    "can be cut (%s): dropped",
		    len, p->mtu, p->ifname, strerror(-n));
		return -EMSGSIZE;
	}
	if (r->open) {
		runs_close_slot(p);
		if (p->n == BATCH_FRAMES)
			err = packet_flush(&p->base);
	}
	if (p->cut && runs_parse_seg(src, len, len, &s) && c.hdr_len == (size_t)s.l4 + 20) {
		runs_slot_reset(p, p->n);
		runs_slot_append(p, p->n, src, len, true);
		p->frames[p->n] = c.count;
		p->bytes[p->n] = (uint32_t)(c.count * c.hdr_len + c.payload);
		r->open = true;
		r->v6 = s.v6;
		r->l3 = s.l3;
		r->l4 = s.l4;
		r->flags = s.flags;
		r->gso_size = (uint16_t)c.mss;
		r->frames = c.count;
		runs_close_slot(p);
	} else {
		for (unsigned i = 0; i < c.count; i++) {
			size_t l;

			if (p->n == BATCH_FRAMES && (e = packet_flush(&p->base)) != 0)
				err = e;
			l = forge_cut_segment(&c, i, runs_slot_at(p, p->n));
			memset(&p->vh[p->n], 0, sizeof(p->vh[p->n]));
			runs_slot_reset(p, p->n);
			p->used[p->n] = (uint32_t)l;
			runs_slot_append(p, p->n, runs_slot_at(p, p->n), l, false);
			p->frames[p->n] = 1;
			p->bytes[p->n] = (uint32_t)l;
			p->n++;
		}
	}
	if (p->n == BATCH_FRAMES && (e = packet_flush(&p->base)) != 0)
		err = e;
	return err;
}

/* The frame hdr[0..hlen) followed by pay[0..plen): queued whole, or its payload appended to
 * the open run. */
static int write_parts(struct packet_output *p, const uint8_t *hdr, size_t hlen, const uint8_t *pay,
		       size_t plen)
{
	struct run *r = &p->run;
	const uint8_t *frame = hdr;
	size_t len = hlen + plen;
	struct seg s;
	bool data;
	int err = 0, e;

	if (len > SLOT_BYTES || len < 14) {
		p->base.stats.dropped++;
		return -EMSGSIZE;
	}
	if (p->mtu && len > (size_t)p->mtu + 14) {
		uint8_t t[2] = {12 < hlen ? hdr[12] : pay[12 - hlen],
				13 < hlen ? hdr[13] : pay[13 - hlen]};
		uint16_t type = get16(t);

		if (len > (size_t)p->mtu + (type == 0x8100 || type == 0x88a8 ? 18 : 14))
			return write_oversize(p, hdr, hlen, pay, plen);
	}
	data = p->cut && runs_parse_seg(frame, hlen, len, &s);
	if (data && runs_takes(p, frame, &s)) {
		runs_slot_append(p, p->n, frame + s.l4 + 20, hlen - s.l4 - 20, true);
		runs_slot_append(p, p->n, pay, plen, !p->hold);
		p->frames[p->n]++;
		p->bytes[p->n] += (uint32_t)len;
		r->frames++;
		r->flags = s.flags;
		r->last = (uint16_t)s.payload;
		r->next_seq += (uint32_t)s.payload;
		r->next_id++;
		return 0;
	}
	if (r->open) {
		runs_close_slot(p);
		/* a refused send is counted there; this frame is queued all the same */
		if (p->n == BATCH_FRAMES)
			err = packet_flush(&p->base);
	}
	runs_slot_reset(p, p->n);
	runs_slot_append(p, p->n, frame, hlen, true);
	/* held only after the whole headers: the checksum is written into the slot */
	runs_slot_append(p, p->n, pay, plen, !p->hold || !(data || runs_headers_in(frame, hlen)));
	p->frames[p->n] = 1;
	p->bytes[p->n] = (uint32_t)len;
	if (data && !(s.flags & TH_PSH)) {
		r->open = true;
		r->v6 = s.v6;
		r->l3 = s.l3;
		r->l4 = s.l4;
		r->flags = s.flags;
		r->gso_size = r->last = (uint16_t)s.payload;
		r->next_seq = s.seq + (uint32_t)s.payload;
		r->next_id = (uint16_t)(s.id + 1);
		r->frames = 1;
		runs_key(frame, &s, r->key);
		return err;
	}
	runs_close_slot(p);
	if (p->n == BATCH_FRAMES && (e = packet_flush(&p->base)) != 0)
		err = e;
	return err;
}

static int packet_write(struct output *base, const uint8_t *frame, size_t len, uint64_t ts_ns)
{
	(void)ts_ns;
	return write_parts((struct packet_output *)base, frame, len, NULL, 0);
}

/* Points each message at its slot, after the virtio-net header when there is one. */
static void packet_init_batch(struct packet_output *p)
{
	for (unsigned i = 0; i < BATCH_FRAMES; i++) {
		p->iov[i][0].iov_base = &p->vh[i];
		p->iov[i][0].iov_len = sizeof(p->vh[i]);
		p->msgs[i].msg_hdr.msg_iov = p->vnet ? p->iov[i] : &p->iov[i][1];
		runs_slot_reset(p, i);
	}
}

static void packet_close(struct output *base)
{
	struct packet_output *p = (struct packet_output *)base;

	packet_flush(base);
	close(p->fd);
	free(p->slots);
	free(p->big);
	free(p);
}

static const struct output_ops packet_ops = {
    .write = packet_write,
    .flush = packet_flush,
    .close = packet_close,
};

int output_packet_open(const char *ifname, struct output **out, char *err, size_t err_len)
{
	struct packet_output *p;
	unsigned ifindex;
	int ret, one = 1;

	*out = NULL;
	ifindex = strlen(ifname) < IF_NAMESIZE ? if_nametoindex(ifname) : 0;
	if (!ifindex) {
		snprintf(err, err_len, "-o %s: no such interface", ifname);
		return -ENODEV;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->slots = malloc((size_t)BATCH_FRAMES * SLOT_BYTES);
	if (!p->slots) {
		free(p);
		return -ENOMEM;
	}
	snprintf(p->ifname, sizeof(p->ifname), "%s", ifname);
	p->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "-o %s: cannot open a packet socket: %s%s", ifname,
			 strerror(errno), errno == EPERM ? " (needs root or CAP_NET_RAW)" : "");
		goto fail;
	}
	/* without it (very old kernels) every frame is sent as it is */
	p->vnet = setsockopt(p->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) == 0;
	if ((ret = bind_iface(p->fd, ifindex)) < 0) {
		snprintf(err, err_len, "-o %s: cannot bind: %s", ifname, strerror(-ret));
		goto fail;
	}
	packet_init_batch(p);
	p->cut = p->vnet && kernel_cuts(p->fd, ifname);
	p->mtu = read_mtu(p);
	p->recheck_ns = coarse_ns() + RECHECK_NS;
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

int output_packet_write_parts(struct output *o, const uint8_t *hdr, size_t hdr_len,
			      const uint8_t *payload, size_t payload_len)
{
	if (!o || o->ops != &packet_ops)
		return -EINVAL;
	return write_parts((struct packet_output *)o, hdr, hdr_len, payload, payload_len);
}

int output_packet_hold_payloads(struct output *o)
{
	if (!o || o->ops != &packet_ops)
		return -EINVAL;
	((struct packet_output *)o)->hold = true;
	return 0;
}

int output_packet_set_mtu(struct output *o, unsigned mtu)
{
	struct packet_output *p = (struct packet_output *)o;

	if (!o || o->ops != &packet_ops || (mtu && mtu < 68))
		return -EINVAL;
	p->mtu_cap = mtu;
	p->mtu = read_mtu(p);
	return 0;
}

unsigned output_packet_mtu(const struct output *o)
{
	if (!o || o->ops != &packet_ops)
		return 0;
	return ((const struct packet_output *)o)->mtu;
}

int output_packet_complete_csum(struct output *o)
{
	if (!o || o->ops != &packet_ops)
		return -EINVAL;
	((struct packet_output *)o)->csum_partial = true;
	return 0;
}

int output_packet_cuts(const struct output *o)
{
	if (!o || o->ops != &packet_ops)
		return -1;
	return ((const struct packet_output *)o)->cut;
}
