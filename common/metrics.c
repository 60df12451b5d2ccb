/* Prometheus text format buffer and its atomic file write. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void append(struct metrics_buf *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void append(struct metrics_buf *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (m->failed)
		return;
	for (;;) {
		size_t room = m->cap - m->len;

		va_start(ap, fmt);
		n = vsnprintf(m->data ? m->data + m->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			m->failed = 1;
			return;
		}
		if ((size_t)n < room) {
			m->len += (size_t)n;
			return;
		}
		size_t cap = m->cap ? m->cap * 2 : 4096;
		while (cap - m->len <= (size_t)n)
			cap *= 2;
		char *d = realloc(m->data, cap);
		if (!d) {
			m->failed = 1;
			return;
		}
		m->data = d;
		m->cap = cap;
	}
}

void metrics_family(struct metrics_buf *m, const char *name, const char *type, const char *help)
{
	append(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_sample(struct metrics_buf *m, const char *name, const char *labels, uint64_t value)
{
	if (labels && *labels)
		append(m, "%s{%s} %" PRIu64 "\n", name, labels, value);
	else
		append(m, "%s %" PRIu64 "\n", name, value);
}

void metrics_single(struct metrics_buf *m, const char *name, const char *type, const char *help,
		    uint64_t value)
{
	metrics_family(m, name, type, help);
	metrics_sample(m, name, NULL, value);
}

void metrics_escape(const char *value, char *out, size_t out_len)
{
	size_t o = 0;

	if (!out_len)
		return;
	for (const char *p = value; *p && o + 2 < out_len; p++) {
		if (*p == '\\' || *p == '"') {
			out[o++] = '\\';
			out[o++] = *p;
		} else if (*p == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

int metrics_write_file(const struct metrics_buf *m, const char *path)
{
	char tmp[PATH_MAX];
	size_t off = 0;
	int fd, err = 0;

	if (m->failed)
		return -ENOMEM;
	/* a name nobody can have planted (a FIFO there would block us, a link would redirect
	 * us): mkstemp creates it with O_EXCL, mode 0600 */
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0644) < 0) /* metrics are for the node exporter to read */
		err = -errno;
	while (!err && off < m->len) {
		ssize_t w = write(fd, m->data + off, m->len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		off += (size_t)w;
	}
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

void metrics_reset(struct metrics_buf *m)
{
	m->len = 0;
	m->failed = 0;
	if (m->data)
		m->data[0] = '\0';
}

void metrics_free(struct metrics_buf *m)
{
	free(m->data);
	*m = (struct metrics_buf){0};
}
