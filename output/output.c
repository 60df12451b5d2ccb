/* Dispatch to the sink implementations. */
#include "output_impl.h"

#include <errno.h>
#include <stdio.h>

int output_write(struct output *o, const uint8_t *frame, size_t len, uint64_t ts_ns)
{
	return o->ops->write(o, frame, len, ts_ns);
}

int output_flush(struct output *o)
{
	return o->ops->flush(o);
}

int output_sync(struct output *o)
{
	return o->ops->sync ? o->ops->sync(o) : o->ops->flush(o);
}

void output_get_stats(const struct output *o, struct output_stats *st)
{
	*st = o->stats;
}

const char *output_last_error(const struct output *o)
{
	return o->last_error;
}

int output_reopen(struct output *o, char *msg, size_t len)
{
	char err[320] = "";
	int ret;

	if (!o->ops->reopen) {
		snprintf(msg, len, "%s: not a file", o->name);
		return -ENOTSUP;
	}
	ret = o->ops->reopen(o, err, sizeof(err));
	if (ret > 0)
		snprintf(msg, len, "%s: started a new file", o->name);
	else if (ret == -ENOTSUP)
		snprintf(msg, len, "%s", err);
	else if (ret == 0)
		snprintf(msg, len,
			 "%s: the file is still there under that name, so it goes on (move it "
			 "away first)",
			 o->name);
	else
		snprintf(msg, len, "%s; the frames go on into the file as it was", err);
	return ret;
}

int output_rotation_news(struct output *o, char *msg, size_t len)
{
	return o->ops->news ? o->ops->news(o, msg, len) : 0;
}

bool output_failing(const struct output *o)
{
	return o->failing;
}

int output_report(const struct output *o, struct output_report *r, uint64_t now_ns,
		  uint64_t period_ns, char *msg, size_t len)
{
	if (o->failing == r->reported)
		return 0;
	if (r->reported) {
		r->reported = false;
		snprintf(msg, len, "%s: works again", o->name);
		return -1;
	}
	if (r->last_ns && now_ns - r->last_ns < period_ns)
		return 0;
	r->reported = true;
	r->last_ns = now_ns;
	snprintf(msg, len, "%s: %s (frames are dropped and counted until it works again)", o->name,
		 o->last_error);
	return 1;
}

const char *output_name(const struct output *o)
{
	return o->name;
}

void output_close(struct output *o)
{
	if (o)
		o->ops->close(o);
}
