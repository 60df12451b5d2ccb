/* 802.1Q tag insertion or replacement (see vlan.h). */
#include "vlan.h"

#include <string.h>

size_t vlan_tag_frame(const uint8_t *frame, size_t len, uint16_t vid, uint8_t *out)
{
	uint16_t type;

	if (len < 14)
		return 0;
	type = (uint16_t)(frame[12] << 8 | frame[13]);
	memcpy(out, frame, 12); /* destination and source MAC */
	out[12] = VLAN_TPID >> 8;
	out[13] = VLAN_TPID & 0xff;
	out[14] = (uint8_t)(vid >> 8 & 0x0f); /* PCP 0, DEI 0 */
	out[15] = (uint8_t)(vid & 0xff);
	if (type == 0x8100 || type == 0x88a8) {
		if (len < 18)
			return 0;
		memcpy(out + 16, frame + 16, len - 16); /* inner ethertype and payload */
		return len;
	}
	memcpy(out + 16, frame + 12, len - 12);
	return len + 4;
}

bool vlan_frame_is_tcp(const uint8_t *frame, size_t len)
{
	size_t off = 12;
	uint16_t type;

	for (int tags = 0;; tags++) {
		if (len < off + 2)
			return false;
		type = (uint16_t)(frame[off] << 8 | frame[off + 1]);
		if ((type != VLAN_TPID && type != 0x88a8) || tags == 2)
			break;
		off += 4;
	}
	off += 2;
	if (type == 0x0800)
		return len >= off + 20 && (frame[off] >> 4) == 4 && (frame[off] & 15) >= 5 &&
		       frame[off + 9] == 6;
	if (type == 0x86dd)
		return len >= off + 40 && (frame[off] >> 4) == 6 && frame[off + 6] == 6;
	return false;
}
