/* -o IFACE: the runs of consecutive TCP data frames that the kernel cuts (GSO), gathered in
 * the batch's slots, and the checksums completed when the kernel will not. See the top of
 * output_packet.c. */
#include "output_packet_impl.h"

#include <sslcollector/forge.h>

#include <arpa/inet.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <string.h>

bool runs_tcp_offsets(const uint8_t *f, size_t flen, size_t *l3p, size_t *l4p, size_t *tcp_len)
{
	size_t l3 = 14, l4;
	uint16_t type;
	const uint8_t *ip;

	if (flen < 14)
		return false;
	type = get16(f + 12);
	if (type == ETHERTYPE_VLAN) {
		if (flen < 18)
			return false;
		type = get16(f + 16);
		l3 = 18;
	}
	ip = f + l3;
	if (type == ETHERTYPE_IP) {
		if (flen < l3 + 20 || ip[0] >> 4 != 4 || ip[9] != IPPROTO_TCP)
			return false;
		l4 = l3 + (size_t)(ip[0] & 0xf) * 4;
		if (l4 < l3 + 20 || get16(ip + 2) < l4 - l3)
			return false;
		*tcp_len = get16(ip + 2) - (l4 - l3);
	} else if (type == ETHERTYPE_IPV6) {
		if (flen < l3 + 40 || ip[0] >> 4 != 6 || ip[6] != IPPROTO_TCP)
			return false;
		l4 = l3 + 40;
		*tcp_len = get16(ip + 4);
	} else {
		return false;
	}
	*l3p = l3;
	*l4p = l4;
	return true;
}

/* Ethernet [802.1Q] IPv4 (no options, not a fragment) or IPv6 (no extension headers), TCP
 * without options, flags ACK or ACK|PSH, some payload, lengths exactly the frame's (len bytes,
 * of which the first hlen are at f: the headers must be among them). */
bool runs_parse_seg(const uint8_t *f, size_t hlen, size_t len, struct seg *s)
{
	size_t l3, l4, tcp_len;
	const uint8_t *ip;

	if (!runs_tcp_offsets(f, hlen, &l3, &l4, &tcp_len) || hlen < l4 + 20 || l4 + tcp_len != len)
		return false;
	ip = f + l3;
	s->v6 = ip[0] >> 4 == 6;
	if (!s->v6 && (ip[0] != 0x45 || (get16(ip + 6) & 0x3fff)))
		return false; /* options, or a fragment */
	s->id = s->v6 ? 0 : get16(ip + 4);
	s->flags = f[l4 + 13];
	if (f[l4 + 12] != 5 << 4 || (s->flags != TH_ACK && s->flags != (TH_ACK | TH_PSH)) ||
	    len == l4 + 20)
		return false;
	s->l3 = (uint8_t)l3;
	s->l4 = (uint8_t)l4;
	s->seq = get32(f + l4 + 4);
	s->payload = len - l4 - 20;
	return true;
}

/* Do the first hlen bytes of frame f hold all its headers, Ethernet [802.1Q] to the end of
 * TCP's (options included)? False for anything but TCP over IPv4/IPv6. */
bool runs_headers_in(const uint8_t *f, size_t hlen)
{
	size_t l3, l4, tcp_len;

	return runs_tcp_offsets(f, hlen, &l3, &l4, &tcp_len) && hlen >= l4 + 20 &&
	       hlen >= l4 + (size_t)(f[l4 + 12] >> 4) * 4;
}

/* The headers of a frame with the fields that differ from frame to frame of a run cleared. */
void runs_key(const uint8_t *f, const struct seg *s, uint8_t *key)
{
	uint8_t *ip = key + s->l3, *tcp = key + s->l4;

	memcpy(key, f, (size_t)s->l4 + 20);
	if (s->v6) {
		memset(ip + 4, 0, 2); /* payload length */
	} else {
		memset(ip + 2, 0, 4);  /* total length, id */
		memset(ip + 10, 0, 2); /* header checksum */
	}
	memset(tcp + 4, 0, 4);	/* sequence number */
	tcp[13] = 0;		/* flags */
	memset(tcp + 16, 0, 2); /* checksum */
}

uint8_t *runs_slot_at(struct packet_output *p, unsigned i)
{
	return p->slots + (size_t)i * SLOT_BYTES;
}

void runs_slot_reset(struct packet_output *p, unsigned i)
{
	p->npieces[i] = 0;
	p->len[i] = 0;
	p->used[i] = 0;
	p->csum_due[i] = false;
}

/* Appends src[0..n) to message i: copied into its slot (copy), or referred to where it lies.
 * The caller has checked that the slot and the pieces have room. */
void runs_slot_append(struct packet_output *p, unsigned i, const uint8_t *src, size_t n, bool copy)
{
	struct iovec *last = p->npieces[i] ? &p->iov[i][p->npieces[i]] : NULL;
	const uint8_t *at = src;

	if (!n)
		return;
	if (copy) {
		at = runs_slot_at(p, i) + p->used[i];
		memcpy((uint8_t *)at, src, n);
		p->used[i] += (uint32_t)n;
	}
	if (last && (const uint8_t *)last->iov_base + last->iov_len == at) {
		last->iov_len += n;
	} else {
		last = &p->iov[i][++p->npieces[i]];
		last->iov_base = (void *)(uintptr_t)at;
		last->iov_len = n;
	}
	p->len[i] += (uint32_t)n;
	p->msgs[i].msg_hdr.msg_iovlen = p->npieces[i] + (p->vnet ? 1 : 0);
}

/* Can the open run take frame f (parsed as s) next? */
bool runs_takes(struct packet_output *p, const uint8_t *f, const struct seg *s)
{
	const struct run *r = &p->run;
	size_t len = p->len[p->n];
	uint8_t key[HDR_MAX];

	/* a frame adds at most two pieces: payload bytes among its headers, and its payload */
	if (!r->open || p->npieces[p->n] + 2 > MAX_PIECES || (r->flags & TH_PSH) ||
	    r->last != r->gso_size || s->v6 != r->v6 || s->l4 != r->l4 || s->seq != r->next_seq ||
	    (!s->v6 && s->id != r->next_id) || s->payload > r->gso_size ||
	    len + s->payload > SLOT_BYTES || len + s->payload - r->l3 - (r->v6 ? 40 : 0) > 65535)
		return false;
	runs_key(f, s, key);
	return memcmp(key, r->key, (size_t)s->l4 + 20) == 0;
}

/* The ones' complement sum of bytes [from, from + n) of the pieces v[0..k), folded to 16
 * bits, in memory order. A piece that starts at an odd offset of the range has its sum's bytes
 * swapped (RFC 1071: the sum is byte-order independent, so shifting by one byte swaps it). */
uint32_t runs_sum_pieces(const struct iovec *v, unsigned k, size_t from, size_t n)
{
	uint32_t acc = 0;
	size_t pos = 0, done = 0;

	for (unsigned j = 0; j < k && done < n; pos += v[j].iov_len, j++) {
		size_t at, len; /* the bytes of piece j in the range: [at, at + len) */
		uint32_t s;

		if (pos + v[j].iov_len <= from)
			continue;
		at = from > pos ? from - pos : 0;
		len = v[j].iov_len - at < n - done ? v[j].iov_len - at : n - done;
		s = forge_csum_partial((const uint8_t *)v[j].iov_base + at, len, 0);
		s = (s & 0xffff) + (s >> 16);
		s = (s & 0xffff) + (s >> 16);
		if (done & 1)
			s = (s >> 8 | s << 8) & 0xffff;
		acc += s;
		done += len;
	}
	return acc;
}

/* Message i, a frame sent by itself whose TCP checksum field holds the pseudo-header's sum
 * only (forge_config.tcp_csum_partial): sums the TCP header and payload into it. Frames that
 * are not TCP over Ethernet [802.1Q] IPv4/IPv6, or whose headers are not all in the first
 * piece, are left as they are. */
void runs_complete_csum(struct packet_output *p, unsigned i)
{
	uint8_t *f = runs_slot_at(p, i);
	size_t l3, l4, tcp_len, len = p->len[i], flen;
	uint16_t csum;

	if (!p->npieces[i])
		return;
	flen = p->iov[i][1].iov_len;
	if (!runs_tcp_offsets(f, flen, &l3, &l4, &tcp_len) || tcp_len < 20 || l4 + tcp_len > len ||
	    l4 + 18 > flen)
		return;
	csum = forge_csum_fold(runs_sum_pieces(&p->iov[i][1], p->npieces[i], l4, tcp_len));
	memcpy(f + l4 + 16, &csum, 2);
}

/* Slot p->n is complete: a run of several frames gets its headers and virtio-net header. */
void runs_close_slot(struct packet_output *p)
{
	struct run *r = &p->run;
	struct virtio_net_hdr *vh = &p->vh[p->n];
	uint8_t *f = runs_slot_at(p, p->n), *ip, *tcp;
	size_t len = p->len[p->n];
	uint16_t tcp_len;
	uint32_t sum;

	memset(vh, 0, sizeof(*vh));
	if (r->open && r->frames > 1) {
		ip = f + r->l3;
		tcp = f + r->l4;
		tcp_len = (uint16_t)(len - r->l4);
		if (r->v6) {
			put16(ip + 4, tcp_len);
			sum = sum16(ip + 8, 32, 0);
		} else {
			put16(ip + 2, (uint16_t)(len - r->l3));
			memset(ip + 10, 0, 2);
			put16(ip + 10, (uint16_t)~sum16(ip, 20, 0));
			sum = sum16(ip + 12, 8, 0);
		}
		tcp[13] = r->flags;
		/* CHECKSUM_PARTIAL: the pseudo-header's sum, not complemented */
		put16(tcp + 16, sum16(NULL, 0, sum + IPPROTO_TCP + tcp_len));
		vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh->gso_type = r->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
		vh->hdr_len = (uint16_t)(r->l4 + 20);
		vh->gso_size = r->gso_size;
		vh->csum_start = r->l4;
		vh->csum_offset = 16;
	} else {
		/* at the flush, when held payloads are final (and then cached for the send) */
		p->csum_due[p->n] = p->csum_partial;
	}
	r->open = false;
	p->n++;
}
