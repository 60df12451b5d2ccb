/* PCAP-over-IP encoding helpers and the incremental, allocation-free decoder of the untrusted
 * stream the collector receives (contract in include/sslcollector/pcap_stream.h). */
#include <sslcollector/pcap_stream.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum {
	ST_GLOBAL = 0, /* gathering the 24-byte global header */
	ST_RECORD,     /* gathering a 16-byte record header */
	ST_BODY,       /* gathering a frame */
	ST_FAILED,
};

#define MIN_MTU 68u
#define MAX_MTU 65535u

static uint32_t get32(const uint8_t *p, bool swapped)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return swapped ? __builtin_bswap32(v) : v;
}

static uint16_t get16(const uint8_t *p, bool swapped)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return swapped ? __builtin_bswap16(v) : v;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

void pcap_stream_global_header(uint8_t out[PCAP_STREAM_GLOBAL_HDR])
{
	put32(out, PCAP_STREAM_MAGIC_USEC);
	put16(out + 4, PCAP_STREAM_VERSION_MAJOR);
	put16(out + 6, PCAP_STREAM_VERSION_MINOR);
	put32(out + 8, 0);  /* thiszone */
	put32(out + 12, 0); /* sigfigs */
	put32(out + 16, PCAP_STREAM_SNAPLEN);
	put32(out + 20, PCAP_STREAM_LINKTYPE_ETH);
}

void pcap_stream_record_header(uint8_t out[PCAP_STREAM_RECORD_HDR], uint32_t len, uint64_t ts_ns)
{
	put32(out, (uint32_t)(ts_ns / 1000000000ULL));
	put32(out + 4, (uint32_t)(ts_ns % 1000000000ULL / 1000));
	put32(out + 8, len);
	put32(out + 12, len);
}

size_t pcap_stream_frame_buf_size(const struct pcap_stream_limits *lim)
{
	return (size_t)lim->mtu + PCAP_STREAM_ETH_HDR + PCAP_STREAM_VLAN_HDR;
}

int pcap_stream_decoder_init(struct pcap_stream_decoder *d, const struct pcap_stream_limits *lim,
			     uint8_t *buf, size_t buf_len)
{
	memset(d, 0, sizeof(*d));
	d->state = ST_FAILED;
	d->error = PCAP_STREAM_ERR_FAILED;
	if (lim->mtu < MIN_MTU || lim->mtu > MAX_MTU || !buf ||
	    buf_len < pcap_stream_frame_buf_size(lim))
		return -EINVAL;
	d->state = ST_GLOBAL;
	d->error = 0;
	d->mtu = lim->mtu;
	d->buf = buf;
	d->buf_len = buf_len;
	return 0;
}

static int fail(struct pcap_stream_decoder *d, int err, uint32_t bad_value)
{
	d->state = ST_FAILED;
	d->error = err;
	d->bad_value = bad_value;
	return err;
}

static int check_global(struct pcap_stream_decoder *d)
{
	const uint8_t *h = d->hdr;
	uint32_t magic = get32(h, false);

	if (magic == PCAP_STREAM_MAGIC_USEC || magic == PCAP_STREAM_MAGIC_NSEC) {
		d->swapped = false;
	} else if (magic == __builtin_bswap32(PCAP_STREAM_MAGIC_USEC) ||
		   magic == __builtin_bswap32(PCAP_STREAM_MAGIC_NSEC)) {
		d->swapped = true;
	} else {
		/* the bytes as they came, so the message shows what the peer sent */
		return fail(d, PCAP_STREAM_ERR_BAD_MAGIC,
			    (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 |
				h[3]);
	}
	d->nsec = get32(h, d->swapped) == PCAP_STREAM_MAGIC_NSEC;
	uint16_t major = get16(h + 4, d->swapped), minor = get16(h + 6, d->swapped);
	if (major != PCAP_STREAM_VERSION_MAJOR || minor != PCAP_STREAM_VERSION_MINOR)
		return fail(d, PCAP_STREAM_ERR_BAD_VERSION, (uint32_t)major << 16 | minor);
	d->snaplen = get32(h + 16, d->swapped);
	if (d->snaplen < PCAP_STREAM_MIN_SNAPLEN)
		return fail(d, PCAP_STREAM_ERR_BAD_SNAPLEN, d->snaplen);
	uint32_t linktype = get32(h + 20, d->swapped);
	if (linktype != PCAP_STREAM_LINKTYPE_ETH)
		return fail(d, PCAP_STREAM_ERR_BAD_LINKTYPE, linktype);
	return 0;
}

static int check_record(struct pcap_stream_decoder *d)
{
	const uint8_t *h = d->hdr;
	uint32_t sec = get32(h, d->swapped), frac = get32(h + 4, d->swapped);

	if (frac >= (d->nsec ? 1000000000u : 1000000u))
		return fail(d, PCAP_STREAM_ERR_BAD_TIMESTAMP, frac);
	d->ts_ns = (uint64_t)sec * 1000000000ULL + (d->nsec ? frac : (uint64_t)frac * 1000);
	d->caplen = get32(h + 8, d->swapped);
	d->origlen = get32(h + 12, d->swapped);
	if (d->caplen != d->origlen)
		return fail(d, PCAP_STREAM_ERR_CAPLEN_MISMATCH, d->caplen);
	if (d->caplen > d->snaplen)
		return fail(d, PCAP_STREAM_ERR_CAPLEN_OVER_SNAPLEN, d->caplen);
	if (d->caplen < PCAP_STREAM_ETH_HDR)
		return fail(d, PCAP_STREAM_ERR_FRAME_TOO_SHORT, d->caplen);
	if (d->caplen > d->mtu + PCAP_STREAM_ETH_HDR + PCAP_STREAM_VLAN_HDR)
		return fail(d, PCAP_STREAM_ERR_FRAME_TOO_LARGE, d->caplen);
	return 0;
}

/* The Ethernet header decides how much of the frame is IP packet. */
static int check_frame(struct pcap_stream_decoder *d, const uint8_t *f,
		       struct pcap_stream_frame *out)
{
	uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
	bool tagged = type == 0x8100 || type == 0x88a8;
	uint32_t l2 = PCAP_STREAM_ETH_HDR + (tagged ? PCAP_STREAM_VLAN_HDR : 0);

	if (d->caplen < l2)
		return fail(d, PCAP_STREAM_ERR_FRAME_TOO_SHORT, d->caplen);
	if (d->caplen - l2 > d->mtu)
		return fail(d, PCAP_STREAM_ERR_FRAME_TOO_LARGE, d->caplen);
	out->data = f;
	out->len = d->caplen;
	out->ts_ns = d->ts_ns;
	out->vlan_tagged = tagged;
	d->records++;
	d->item_offset = d->offset;
	d->state = ST_RECORD;
	return PCAP_STREAM_FRAME;
}

/* Moves up to want - *have bytes from the input into dst + *have. True once complete. */
static bool gather(struct pcap_stream_decoder *d, uint8_t *dst, uint32_t *have, uint32_t want,
		   const uint8_t **data, size_t *len)
{
	size_t n = want - *have;

	if (n > *len)
		n = *len;
	memcpy(dst + *have, *data, n);
	*have += (uint32_t)n;
	*data += n;
	*len -= n;
	d->offset += n;
	return *have == want;
}

int pcap_stream_next(struct pcap_stream_decoder *d, const uint8_t **data, size_t *len,
		     struct pcap_stream_frame *frame)
{
	int err;

	for (;;) {
		switch (d->state) {
		case ST_GLOBAL:
			if (!gather(d, d->hdr, &d->hdr_have, PCAP_STREAM_GLOBAL_HDR, data, len))
				return PCAP_STREAM_NEED_MORE;
			if ((err = check_global(d)))
				return err;
			d->hdr_have = 0;
			d->item_offset = d->offset;
			d->state = ST_RECORD;
			break;
		case ST_RECORD:
			if (!gather(d, d->hdr, &d->hdr_have, PCAP_STREAM_RECORD_HDR, data, len))
				return PCAP_STREAM_NEED_MORE;
			if ((err = check_record(d)))
				return err;
			d->hdr_have = 0;
			d->buf_have = 0;
			d->state = ST_BODY;
			break;
		case ST_BODY:
			/* whole in the input: hand it out in place */
			if (d->buf_have == 0 && *len >= d->caplen) {
				const uint8_t *f = *data;

				*data += d->caplen;
				*len -= d->caplen;
				d->offset += d->caplen;
				return check_frame(d, f, frame);
			}
			if (!gather(d, d->buf, &d->buf_have, d->caplen, data, len))
				return PCAP_STREAM_NEED_MORE;
			return check_frame(d, d->buf, frame);
		default:
			return d->error ? d->error : PCAP_STREAM_ERR_FAILED;
		}
	}
}

int pcap_stream_finish(struct pcap_stream_decoder *d)
{
	if (d->state == ST_FAILED)
		return d->error ? d->error : PCAP_STREAM_ERR_FAILED;
	if (d->state == ST_BODY || d->hdr_have != 0)
		return fail(d, PCAP_STREAM_ERR_TRUNCATED, (uint32_t)d->state);
	return 0;
}

const char *pcap_stream_error_name(int result)
{
	switch (result) {
	case PCAP_STREAM_NEED_MORE:
		return "none";
	case PCAP_STREAM_FRAME:
		return "frame";
	case PCAP_STREAM_ERR_BAD_MAGIC:
		return "bad_magic";
	case PCAP_STREAM_ERR_BAD_VERSION:
		return "bad_version";
	case PCAP_STREAM_ERR_BAD_SNAPLEN:
		return "bad_snaplen";
	case PCAP_STREAM_ERR_BAD_LINKTYPE:
		return "bad_linktype";
	case PCAP_STREAM_ERR_BAD_TIMESTAMP:
		return "bad_timestamp";
	case PCAP_STREAM_ERR_CAPLEN_MISMATCH:
		return "caplen_mismatch";
	case PCAP_STREAM_ERR_CAPLEN_OVER_SNAPLEN:
		return "caplen_over_snaplen";
	case PCAP_STREAM_ERR_FRAME_TOO_SHORT:
		return "frame_too_short";
	case PCAP_STREAM_ERR_FRAME_TOO_LARGE:
		return "frame_too_large";
	case PCAP_STREAM_ERR_TRUNCATED:
		return "truncated";
	default:
		return "failed";
	}
}

const char *pcap_stream_describe(const struct pcap_stream_decoder *d, int result, char *out,
				 size_t out_len)
{
	char where[96], hint[64] = "";
	uint32_t v = d->bad_value;

	if (result == PCAP_STREAM_ERR_BAD_MAGIC || result == PCAP_STREAM_ERR_BAD_VERSION ||
	    result == PCAP_STREAM_ERR_BAD_SNAPLEN || result == PCAP_STREAM_ERR_BAD_LINKTYPE ||
	    (result == PCAP_STREAM_ERR_TRUNCATED && v == ST_GLOBAL))
		snprintf(where, sizeof(where), "pcap global header");
	else
		snprintf(where, sizeof(where), "record %llu (stream offset %llu)",
			 (unsigned long long)d->records + 1, (unsigned long long)d->item_offset);

	switch (result) {
	case PCAP_STREAM_ERR_BAD_MAGIC:
		snprintf(
		    out, out_len,
		    "%s: magic 0x%08x is not a pcap magic (0xa1b2c3d4 or 0xa1b23c4d, either byte "
		    "order); the peer does not speak PCAP-over-IP",
		    where, v);
		break;
	case PCAP_STREAM_ERR_BAD_VERSION:
		snprintf(out, out_len, "%s: pcap version %u.%u, only 2.4 is supported", where,
			 v >> 16, v & 0xffff);
		break;
	case PCAP_STREAM_ERR_BAD_SNAPLEN:
		snprintf(out, out_len, "%s: snaplen %u is below the %u that PCAP-over-IP requires",
			 where, v, PCAP_STREAM_MIN_SNAPLEN);
		break;
	case PCAP_STREAM_ERR_BAD_LINKTYPE:
		snprintf(out, out_len, "%s: link type %u, only 1 (Ethernet) is accepted", where, v);
		break;
	case PCAP_STREAM_ERR_BAD_TIMESTAMP:
		snprintf(out, out_len, "%s: timestamp fraction %u is not below one second (%s)",
			 where, v, d->nsec ? "nanoseconds" : "microseconds");
		break;
	case PCAP_STREAM_ERR_CAPLEN_MISMATCH:
		snprintf(out, out_len,
			 "%s: captured length %u differs from the original length %u; frames must "
			 "be sent whole",
			 where, v, d->origlen);
		break;
	case PCAP_STREAM_ERR_CAPLEN_OVER_SNAPLEN:
		snprintf(out, out_len, "%s: captured length %u exceeds the stream's snaplen %u",
			 where, v, d->snaplen);
		break;
	case PCAP_STREAM_ERR_FRAME_TOO_SHORT:
		snprintf(out, out_len, "%s: frame of %u bytes is shorter than its Ethernet header",
			 where, v);
		break;
	case PCAP_STREAM_ERR_FRAME_TOO_LARGE:
		if (d->mtu < MAX_MTU)
			snprintf(hint, sizeof(hint), "; run the agent with --mtu %u or less",
				 d->mtu);
		snprintf(
		    out, out_len,
		    "%s: frame of %u bytes is larger than IP packets of at most %u bytes allow "
		    "(%u bytes, %u with a VLAN tag)%s",
		    where, v, d->mtu, d->mtu + PCAP_STREAM_ETH_HDR,
		    d->mtu + PCAP_STREAM_ETH_HDR + PCAP_STREAM_VLAN_HDR, hint);
		break;
	case PCAP_STREAM_ERR_TRUNCATED:
		snprintf(
		    out, out_len,
		    "%s: the stream ended in the middle of the %s (%llu bytes received in all)",
		    where,
		    v == ST_BODY     ? "frame"
		    : v == ST_RECORD ? "record header"
				     : "pcap global header",
		    (unsigned long long)d->offset);
		break;
	default:
		snprintf(out, out_len, "%s: %s", where, pcap_stream_error_name(result));
		break;
	}
	return out;
}
