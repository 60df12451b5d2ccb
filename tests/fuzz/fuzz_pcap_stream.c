/* libFuzzer harness for the collector's PCAP-over-IP record parser, the first code that sees
 * what a (certificate-holding) peer sends. The parser is included directly. The first input
 * byte picks the MTU and how the rest is split into reads; the checks are the parser's
 * promises: frames within the MTU, every byte consumed or an error, errors sticky. */
#include "../../tunnel/pcap_stream.c"

#include <stdlib.h>

static const uint32_t mtus[] = {68, 576, 1500, 9000, 65535};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[65535 + 18];
	struct pcap_stream_limits lim;
	struct pcap_stream_decoder d;
	size_t chunk, off = 1;
	int ret = 0;

	if (size < 1)
		return 0;
	lim.mtu = mtus[data[0] % 5];
	chunk = (size_t)(data[0] >> 3) * 37 + 1; /* 1 .. 1148 bytes per read */
	if (pcap_stream_decoder_init(&d, &lim, buf, pcap_stream_frame_buf_size(&lim)))
		abort();
	while (off < size && ret >= 0) {
		size_t n = size - off < chunk ? size - off : chunk;
		const uint8_t *p = data + off;
		size_t left = n;
		struct pcap_stream_frame f;

		while ((ret = pcap_stream_next(&d, &p, &left, &f)) == PCAP_STREAM_FRAME) {
			uint32_t l2 = f.vlan_tagged ? 18 : 14;

			if (f.len < l2 || f.len - l2 > lim.mtu)
				abort();
			/* inside the input or the decoder's own buffer */
			if (!((f.data >= data && f.data + f.len <= data + size) ||
			      (f.data >= buf && f.data + f.len <= buf + sizeof(buf))))
				abort();
			volatile uint8_t sink = f.data[0] ^ f.data[f.len - 1];
			(void)sink;
		}
		if (ret == PCAP_STREAM_NEED_MORE && left != 0)
			abort();
		if (ret < 0) {
			char msg[400];

			pcap_stream_describe(&d, ret, msg, sizeof(msg));
			if (pcap_stream_next(&d, &p, &left, &f) != ret)
				abort(); /* errors are sticky */
		}
		off += n;
	}
	if (ret >= 0) {
		char msg[400];
		int end = pcap_stream_finish(&d);

		if (end < 0)
			pcap_stream_describe(&d, end, msg, sizeof(msg));
	}
	if (d.offset > size)
		abort();
	return 0;
}
