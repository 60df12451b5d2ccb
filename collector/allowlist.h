/* --allow FILE: the agents the collector accepts, by certificate subject or by the SHA-256
 * fingerprint of the certificate. One entry per line:
 *
 *   CN=web-1,O=example          a subject, exactly as the collector logs it (RFC 2253)
 *   sha256:AB:CD:...  or  ABCD...  a fingerprint: 64 hexadecimal digits, colons allowed
 *   # a comment, and blank lines
 *
 * A library part: parses text, never prints. */
#ifndef SSLC_COLLECTOR_ALLOWLIST_H
#define SSLC_COLLECTOR_ALLOWLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ALLOWLIST_MAX_BYTES (4u << 20) /* a bigger file is refused */

struct allowlist {
	char **subjects;
	size_t n_subjects;
	uint8_t (*fps)[32];
	size_t n_fps;
};

/* Parses text[0..len) into *a (emptied first). 0, or -EINVAL with err naming the line and
 * what is wrong with it, -ENOMEM. On failure *a is empty. */
int allowlist_parse(struct allowlist *a, const char *text, size_t len, char *err, size_t err_len);
/* Reads and parses the file at path (at most ALLOWLIST_MAX_BYTES, a regular file). */
int allowlist_load(struct allowlist *a, const char *path, char *err, size_t err_len);
bool allowlist_allows(const struct allowlist *a, const char *subject, const uint8_t sha256[32]);
size_t allowlist_size(const struct allowlist *a);
void allowlist_free(struct allowlist *a);

#endif
