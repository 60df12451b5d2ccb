/* What every sink implements (output_packet.c, output_pcap.c). */
#ifndef SSLC_OUTPUT_IMPL_H
#define SSLC_OUTPUT_IMPL_H

#include "output.h"

#include <stdbool.h>

struct output_ops {
	int (*write)(struct output *o, const uint8_t *frame, size_t len, uint64_t ts_ns);
	int (*flush)(struct output *o);
	void (*close)(struct output *o);
	int (*reopen)(struct output *o, char *err, size_t err_len); /* NULL: not a file */
	int (*news)(struct output *o, char *msg, size_t len);	    /* NULL: no rotation */
	int (*sync)(struct output *o); /* NULL: flush already writes everything */
};

struct output {
	const struct output_ops *ops;
	char name[300];
	char last_error[256];
	bool failing; /* the last send/write failed; cleared by the next that succeeds */
	struct output_stats stats;
};

#endif
