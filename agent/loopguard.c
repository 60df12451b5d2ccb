/* The loop guard (see loopguard.h): a keyed hash of each emitted frame's headers, kept for the
 * last 2^15 to 2^16 frames in two generations of an open-addressing table, and a search of
 * captured plaintext for headers that hash to one of them. */
#include "loopguard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define GEN_SLOTS   (1u << 16)	   /* per generation (512 KiB, stays in cache); at most half used */
#define GEN_ENTRIES (1u << 15)	   /* a generation this full becomes the old one */
#define FP_MAX	    (12 + 40 + 20) /* MACs, IPv6 header, TCP header */

struct generation {
	uint64_t *slots; /* 0: empty */
	uint32_t used;
};

struct loopguard {
	uint64_t key[2];
	struct generation gen[2]; /* [0] filled now, [1] the one before */
};

int loopguard_new(struct loopguard **out)
{
	struct loopguard *lg = calloc(1, sizeof(*lg));

	*out = NULL;
	if (!lg)
		return -ENOMEM;
	for (int i = 0; i < 2; i++) {
		lg->gen[i].slots = calloc(GEN_SLOTS, sizeof(uint64_t));
		if (!lg->gen[i].slots) {
			loopguard_free(lg);
			return -ENOMEM;
		}
	}
	/* keyed, so that nobody can aim at the table's slots */
	if (getrandom(lg->key, sizeof(lg->key), 0) != sizeof(lg->key)) {
		loopguard_free(lg);
		return -EIO;
	}
	*out = lg;
	return 0;
}

void loopguard_free(struct loopguard *lg)
{
	if (!lg)
		return;
	free(lg->gen[0].slots);
	free(lg->gen[1].slots);
	free(lg);
}

static uint64_t mix(uint64_t h, uint64_t w)
{
	h ^= w;
	h *= 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 31);
}

/* The fingerprint of a frame: its MAC addresses, IP header and TCP header, with the IP and
 * TCP checksums left out (an interface may complete them, or its offload cut a run into
 * segments: their first frame keeps the headers forge made). */
static uint64_t fingerprint(const struct loopguard *lg, const uint8_t *macs, const uint8_t *ip,
			    size_t ip_len)
{
	uint8_t b[FP_MAX + 8] = {0};
	uint64_t h = lg->key[0];
	size_t n = 12 + ip_len + 20;

	memcpy(b, macs, 12);
	memcpy(b + 12, ip, ip_len + 20);
	if (ip_len == 20)
		b[12 + 10] = b[12 + 11] = 0;
	b[12 + ip_len + 16] = b[12 + ip_len + 17] = 0;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t w;

		memcpy(&w, b + i, 8);
		h = mix(h, w);
	}
	h = mix(h, lg->key[1] ^ n);
	return h | 1; /* never 0, the empty slot */
}

static bool gen_has(const struct generation *g, uint64_t h)
{
	for (uint32_t i = (uint32_t)h & (GEN_SLOTS - 1);; i = (i + 1) & (GEN_SLOTS - 1)) {
		if (g->slots[i] == h)
			return true;
		if (!g->slots[i])
			return false;
	}
}

static void remember(struct loopguard *lg, uint64_t h)
{
	struct generation *g = &lg->gen[0];
	uint32_t i;

	if (g->used >= GEN_ENTRIES) {
		struct generation old = lg->gen[1];

		lg->gen[1] = lg->gen[0];
		memset(old.slots, 0, GEN_SLOTS * sizeof(uint64_t));
		old.used = 0;
		lg->gen[0] = old;
	}
	for (i = (uint32_t)h & (GEN_SLOTS - 1); g->slots[i]; i = (i + 1) & (GEN_SLOTS - 1))
		if (g->slots[i] == h)
			return;
	g->slots[i] = h;
	g->used++;
}

void loopguard_note_frame(struct loopguard *lg, const uint8_t *frame, size_t len)
{
	size_t l3 = 14;
	uint16_t type;

	if (len < 14)
		return;
	type = (uint16_t)(frame[12] << 8 | frame[13]);
	if ((type == 0x8100 || type == 0x88a8) && len >= 18) {
		type = (uint16_t)(frame[16] << 8 | frame[17]);
		l3 = 18;
	}
	if (type == 0x0800 && len >= l3 + 40 && frame[l3] == 0x45)
		remember(lg, fingerprint(lg, frame, frame + l3, 20));
	else if (type == 0x86dd && len >= l3 + 60 && frame[l3] >> 4 == 6)
		remember(lg, fingerprint(lg, frame, frame + l3, 40));
}

static bool known(const struct loopguard *lg, uint64_t h)
{
	return gen_has(&lg->gen[0], h) || gen_has(&lg->gen[1], h);
}

/* A frame of ours whose IP header starts at data[i] (ip_len: 20 or 40)? Untagged, or with one
 * 802.1Q/802.1ad tag (an untagged frame's source MAC may end in what looks like a tag: both
 * are tried). */
static bool ours_at(const struct loopguard *lg, const uint8_t *data, size_t len, size_t i,
		    size_t ip_len)
{
	bool tagged;

	if (i < 14 || i + ip_len + 20 > len)
		return false;
	if (known(lg, fingerprint(lg, data + i - 14, data + i, ip_len)))
		return true;
	tagged = i >= 18 && ((data[i - 6] == 0x81 && data[i - 5] == 0x00) ||
			     (data[i - 6] == 0x88 && data[i - 5] == 0xa8));
	return tagged && known(lg, fingerprint(lg, data + i - 18, data + i, ip_len));
}

/* Every occurrence of the ethertype t0 t1 followed by an IP version nibble v. */
static unsigned scan_type(const struct loopguard *lg, const uint8_t *data, size_t len, uint8_t t0,
			  uint8_t t1, uint8_t v, size_t ip_len)
{
	const uint8_t *p = data, *end = data + len;
	unsigned n = 0;

	while (end - p >= 3 && (p = memchr(p, t0, (size_t)(end - p) - 2))) {
		if (p[1] == t1 && (v == 0x45 ? p[2] == 0x45 : p[2] >> 4 == v) &&
		    ours_at(lg, data, len, (size_t)(p - data) + 2, ip_len))
			n++;
		p++;
	}
	return n;
}

unsigned loopguard_scan(const struct loopguard *lg, const uint8_t *data, size_t len)
{
	return scan_type(lg, data, len, 0x08, 0x00, 0x45, 20) +
	       scan_type(lg, data, len, 0x86, 0xdd, 6, 40);
}

bool loopguard_check(const struct loopguard *lg, struct loopguard_stream *s, const uint8_t *data,
		     size_t len)
{
	uint64_t end = s->offset + len;

	while (s->matches < LOOPGUARD_MATCHES && s->next_sample < end) {
		uint64_t ws = s->next_sample, we = ws + LOOPGUARD_SCAN;
		size_t from = (size_t)((ws > s->offset ? ws : s->offset) - s->offset);
		size_t to = (size_t)((we < end ? we : end) - s->offset);

		/* a frame's headers that begin in the window may end after it */
		to = to + FP_MAX + 18 < len ? to + FP_MAX + 18 : len;
		s->matches += loopguard_scan(lg, data + from, to - from);
		if (we > end)
			break; /* the window goes on in the next bytes */
		s->next_sample += LOOPGUARD_STRIDE;
	}
	s->offset = end;
	return s->matches >= LOOPGUARD_MATCHES;
}
