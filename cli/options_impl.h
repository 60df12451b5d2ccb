/* Private to cli/: what options.c (the getopt loop), option_values.c (the values' syntax)
 * and options_check.c (options_validate) share. */
#ifndef SSLC_OPTIONS_IMPL_H
#define SSLC_OPTIONS_IMPL_H

#include "options.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

extern const struct sslc_options options_defaults;

/* A one-line message into err; returns EXIT_USAGE. */
int options_fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* option_values.c: the syntax of option values; 0 or a negative errno (no message) */
int value_uint(const char *s, unsigned long long min, unsigned long long max,
	       unsigned long long *out);
int value_size(const char *s, unsigned long long *out);
int value_copy(char *dst, size_t dst_len, const char *src);
int value_host_port(const char *arg, char *host, size_t host_len, uint16_t *port, const char **why);
bool value_host_name(const char *h);
bool value_numeric_address(const char *a);
int value_duration(const char *s, unsigned long long *out);

#endif
