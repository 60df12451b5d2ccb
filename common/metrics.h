/* Prometheus text exposition (node_exporter textfile collector style): a buffer of samples
 * written atomically (temporary file + rename) so a scraper never reads half a file. */
#ifndef SSLC_METRICS_H
#define SSLC_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics_buf {
	char *data;
	size_t len;
	size_t cap;
	int failed; /* an allocation failed; the buffer is incomplete */
};

/* "# HELP" and "# TYPE" lines for a family; type is "counter" or "gauge". */
void metrics_family(struct metrics_buf *m, const char *name, const char *type, const char *help);
/* One sample. labels: NULL or 'key="value",...' already escaped (see metrics_escape). */
void metrics_sample(struct metrics_buf *m, const char *name, const char *labels, uint64_t value);
/* A family with one unlabelled sample. */
void metrics_single(struct metrics_buf *m, const char *name, const char *type, const char *help,
		    uint64_t value);
/* Escapes a label value (backslash, double quote, newline) into out. */
void metrics_escape(const char *value, char *out, size_t out_len);
/* Replaces path atomically with the buffer's content, mode 0644. 0 or a negative errno. */
int metrics_write_file(const struct metrics_buf *m, const char *path);
void metrics_reset(struct metrics_buf *m);
void metrics_free(struct metrics_buf *m);

#endif
