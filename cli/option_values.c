/* The syntax of option values: numbers, sizes (K, M, G, T, P), durations, host names and
 * HOST:PORT. Pure functions, fuzzed by tests/fuzz/fuzz_options.c through options_parse. */
#include "options_impl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* An unsigned decimal number within [min, max], the whole string. */
int value_uint(const char *s, unsigned long long min, unsigned long long max,
	       unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* "65536", "64K", "16M", "1G" (binary multiples). */
int value_size(const char *s, unsigned long long *out)
{
	char *end;
	unsigned long long v, mult = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'K':
			mult = 1ULL << 10;
			break;
		case 'M':
			mult = 1ULL << 20;
			break;
		case 'G':
			mult = 1ULL << 30;
			break;
		case 'T':
			mult = 1ULL << 40;
			break;
		case 'P':
			mult = 1ULL << 50;
			break;
		default:
			return -EINVAL;
		}
		end++;
		if (toupper((unsigned char)*end) == 'I')
			end++;
		if (toupper((unsigned char)*end) == 'B')
			end++;
		if (*end)
			return -EINVAL;
	}
	if (v > ULLONG_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

int value_copy(char *dst, size_t dst_len, const char *src)
{
	size_t n = strlen(src);

	if (n >= dst_len)
		return -ENAMETOOLONG;
	memcpy(dst, src, n + 1);
	return 0;
}

/* HOST, HOST:PORT, [V6], [V6]:PORT or a bare IPv6 address. host may be empty on return. */
int value_host_port(const char *arg, char *host, size_t host_len, uint16_t *port, const char **why)
{
	const char *colon, *port_str = NULL;
	size_t hlen;

	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');

		if (!close) {
			*why = "missing ']' after IPv6 address";
			return -EINVAL;
		}
		hlen = (size_t)(close - arg - 1);
		if (hlen == 0) {
			*why = "empty address in []";
			return -EINVAL;
		}
		if (close[1] == ':')
			port_str = close + 2;
		else if (close[1] != '\0') {
			*why = "unexpected text after ']'";
			return -EINVAL;
		}
		arg++;
	} else {
		colon = strchr(arg, ':');
		if (colon && strchr(colon + 1, ':')) {
			hlen = strlen(arg); /* bare IPv6 address, no port */
		} else if (colon) {
			hlen = (size_t)(colon - arg);
			port_str = colon + 1;
		} else {
			hlen = strlen(arg);
		}
	}
	if (hlen >= host_len) {
		*why = "host name too long";
		return -ENAMETOOLONG;
	}
	memcpy(host, arg, hlen);
	host[hlen] = '\0';
	if (port_str) {
		unsigned long long p;

		if (value_uint(port_str, 1, 65535, &p)) {
			*why = "port must be a number from 1 to 65535";
			return -ERANGE;
		}
		*port = (uint16_t)p;
	}
	return 0;
}

bool value_host_name(const char *h)
{
	struct in6_addr a6;

	if (inet_pton(AF_INET6, h, &a6) == 1)
		return true;
	if (!*h || strlen(h) > 253)
		return false;
	for (const char *p = h; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
			return false;
	return true;
}

bool value_numeric_address(const char *a)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, a, buf) == 1 || inet_pton(AF_INET6, a, buf) == 1;
}

/* "90", "90s", "15m", "1h", "1d": seconds from 1 to 30 days. */
int value_duration(const char *s, unsigned long long *out)
{
	char *end;
	unsigned long long v, mult = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	if (*end) {
		const char *units = "smhd", *u = strchr(units, *end);
		static const unsigned secs[] = {1, 60, 3600, 86400};

		if (!u || end[1])
			return -EINVAL;
		mult = secs[u - units];
	}
	if (v > 2592000 / mult || v == 0)
		return -ERANGE;
	*out = v * mult;
	return 0;
}
