/* forge/forge.c: the forge context: configuration, the libnet build context, the scratch frame,
 * the emit callback and the counters. The synthetic TCP connections are in flow.c. A forge and
 * its flows belong to one thread at a time (they share the scratch frame and libnet context). */
#include <errno.h>
#include <libnet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "forge_internal.h"

int forge_new(const struct forge_config *cfg, forge_emit_fn emit, void *emit_ctx,
	      struct forge **out)
{
	char errbuf[LIBNET_ERRBUF_SIZE];
	unsigned mtu = cfg && cfg->mtu ? cfg->mtu : FORGE_DEFAULT_MTU;
	int vlan = cfg && cfg->vlan > 0 ? cfg->vlan : 0;
	struct forge *f;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!emit || mtu < FORGE_MIN_MTU || mtu > FORGE_MAX_MTU || vlan > 4094 ||
	    (cfg && cfg->acks != FORGE_ACKS_EACH_WRITE && cfg->acks != FORGE_ACKS_RECEIVER))
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->mtu = mtu;
	f->vlan = vlan;
	f->acks = cfg ? cfg->acks : FORGE_ACKS_EACH_WRITE;
	f->csum_partial = cfg && cfg->tcp_csum_partial;
	f->emit_parts = cfg ? cfg->emit_parts : NULL;
	f->emit = emit;
	f->emit_ctx = emit_ctx;
	/* LIBNET_NONE: builds packets only; opens nothing and needs no privileges */
	f->ln = libnet_init(LIBNET_NONE, NULL, errbuf);
	if (!f->ln) {
		free(f);
		return -ENOMEM;
	}
	*out = f;
	return 0;
}

void forge_free(struct forge *f)
{
	if (!f)
		return;
	libnet_destroy(f->ln);
	free(f);
}

void forge_get_stats(const struct forge *f, struct forge_stats *st)
{
	if (!st)
		return;
	if (!f) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = f->stats;
}

unsigned forge_mss(const struct forge *f, int family)
{
	if (!f)
		return 0;
	switch (family) {
	case AF_INET:
		return f->mtu - FORGE_IP4_LEN - FORGE_TCP_LEN;
	case AF_INET6:
		return f->mtu - FORGE_IP6_LEN - FORGE_TCP_LEN;
	default:
		return 0;
	}
}

const char *forge_last_error(const struct forge *f)
{
	return f ? f->err : "";
}

int forge_set_error(struct forge *f, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->err, sizeof(f->err), fmt, ap);
	va_end(ap);
	return err;
}

int forge_emit_frame(struct forge *f, size_t len, const uint8_t *payload, size_t payload_len,
		     uint64_t ts_ns)
{
	int ret = f->emit_parts ? f->emit_parts(f->emit_ctx, f->frame, len - payload_len, payload,
						payload_len, ts_ns)
				: f->emit(f->emit_ctx, f->frame, len, ts_ns);

	if (ret < 0) {
		f->stats.emit_errors++;
		return forge_set_error(f, ret, "emit callback failed on a %zu-byte frame: %s", len,
				       strerror(-ret));
	}
	f->stats.frames++;
	f->stats.bytes += len;
	f->stats.payload += payload_len;
	return 0;
}
