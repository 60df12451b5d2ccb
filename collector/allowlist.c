/* --allow FILE: parsing the list of accepted agent subjects and certificate fingerprints. */
#include "allowlist.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINE 1024

void allowlist_free(struct allowlist *a)
{
	for (size_t i = 0; i < a->n_subjects; i++)
		free(a->subjects[i]);
	free(a->subjects);
	free(a->fps);
	memset(a, 0, sizeof(*a));
}

size_t allowlist_size(const struct allowlist *a)
{
	return a->n_subjects + a->n_fps;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* 64 hex digits, optionally in pairs separated by ':'. 1 parsed, 0 not a fingerprint's
 * shape (no error: maybe a subject), -1 hex-like but wrong (error). */
static int parse_fp(const char *s, size_t len, uint8_t out[32])
{
	size_t n = 0, i = 0;
	bool colons = len > 64;

	while (i < len) {
		int hi, lo;

		if (n == 32)
			return -1;
		if (i + 1 >= len || (hi = hexval((unsigned char)s[i])) < 0 ||
		    (lo = hexval((unsigned char)s[i + 1])) < 0)
			return -1;
		out[n++] = (uint8_t)(hi << 4 | lo);
		i += 2;
		if (colons && i < len) {
			if (s[i] != ':')
				return -1;
			i++;
		}
	}
	return n == 32 ? 1 : -1;
}

static bool looks_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (hexval((unsigned char)s[i]) < 0 && s[i] != ':')
			return false;
	return len > 0;
}

static int add_subject(struct allowlist *a, const char *s, size_t len)
{
	char **v = realloc(a->subjects, (a->n_subjects + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	a->subjects = v;
	if (!(v[a->n_subjects] = strndup(s, len)))
		return -ENOMEM;
	a->n_subjects++;
	return 0;
}

static int add_fp(struct allowlist *a, const uint8_t fp[32])
{
	uint8_t(*v)[32] = realloc(a->fps, (a->n_fps + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	a->fps = v;
	memcpy(v[a->n_fps++], fp, 32);
	return 0;
}

/* One line without its newline, trimmed. */
static int parse_line(struct allowlist *a, const char *s, size_t len, unsigned lineno, char *err,
		      size_t err_len)
{
	uint8_t fp[32];
	int r;

	while (len && isspace((unsigned char)*s))
		s++, len--;
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	if (!len || *s == '#')
		return 0;
	if (len > MAX_LINE) {
		snprintf(err, err_len, "line %u: longer than %d characters", lineno, MAX_LINE);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++)
		if (!isprint((unsigned char)s[i])) {
			snprintf(err, err_len,
				 "line %u: a control or non-ASCII character (subjects are written "
				 "as the collector logs them, RFC 2253 with escapes)",
				 lineno);
			return -EINVAL;
		}
	if (len > 7 && !strncasecmp(s, "sha256:", 7)) {
		if (parse_fp(s + 7, len - 7, fp) != 1) {
			snprintf(err, err_len,
				 "line %u: '%.*s': a SHA-256 fingerprint is 64 hexadecimal digits "
				 "(colons between pairs allowed)",
				 lineno, (int)(len < 80 ? len : 80), s);
			return -EINVAL;
		}
		return add_fp(a, fp);
	}
	if (looks_hex(s, len)) {
		if ((r = parse_fp(s, len, fp)) != 1) {
			snprintf(err, err_len,
				 "line %u: '%.*s': not a SHA-256 fingerprint (64 hexadecimal "
				 "digits) nor a subject (CN=...)",
				 lineno, (int)(len < 80 ? len : 80), s);
			return -EINVAL;
		}
		return add_fp(a, fp);
	}
	if (!memchr(s, '=', len)) {
		snprintf(err, err_len,
			 "line %u: '%.*s': neither a subject (e.g. CN=web-1) nor a fingerprint "
			 "(sha256:...)",
			 lineno, (int)(len < 80 ? len : 80), s);
		return -EINVAL;
	}
	return add_subject(a, s, len);
}

int allowlist_parse(struct allowlist *a, const char *text, size_t len, char *err, size_t err_len)
{
	unsigned lineno = 0;
	size_t off = 0;

	memset(a, 0, sizeof(*a));
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t end = nl ? (size_t)(nl - text) : len;
		int r;

		lineno++;
		if (memchr(text + off, '\0', end - off)) {
			snprintf(err, err_len, "line %u: a NUL byte (not a text file)", lineno);
			allowlist_free(a);
			return -EINVAL;
		}
		r = parse_line(a, text + off, end - off, lineno, err, err_len);
		if (r) {
			if (r == -ENOMEM)
				snprintf(err, err_len, "out of memory");
			allowlist_free(a);
			return r;
		}
		off = end + 1;
	}
	return 0;
}

int allowlist_load(struct allowlist *a, const char *path, char *err, size_t err_len)
{
	char why[300];
	struct stat st = {0};
	char *buf;
	size_t got = 0;
	int fd, ret;

	memset(a, 0, sizeof(*a));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "--allow %s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > ALLOWLIST_MAX_BYTES) {
		snprintf(err, err_len, "--allow %s: %s", path,
			 S_ISREG(st.st_mode) ? "larger than 4 MiB" : "not a regular file");
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		snprintf(err, err_len, "--allow %s: out of memory", path);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	ret = allowlist_parse(a, buf, got, why, sizeof(why));
	free(buf);
	if (ret)
		snprintf(err, err_len, "--allow %s: %s", path, why);
	return ret;
}

bool allowlist_allows(const struct allowlist *a, const char *subject, const uint8_t sha256[32])
{
	for (size_t i = 0; i < a->n_fps; i++)
		if (!memcmp(a->fps[i], sha256, 32))
			return true;
	for (size_t i = 0; i < a->n_subjects; i++)
		if (!strcmp(a->subjects[i], subject))
			return true;
	return false;
}
