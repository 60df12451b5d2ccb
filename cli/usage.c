/* The text of sslcollector -h: the usage lines and examples, then every row of the option
 * table (options_table.c) under its section, wrapped. */
#include "options.h"
#include "options_table.h"

#include <stdio.h>
#include <string.h>

#define HELP_COLUMN 26 /* where the help texts start */
#define WIDTH	    90 /* lines end before this column */

static const char head[] =
    "Usage: sslcollector -I IFACE (-o IFACE | -w FILE | -t HOST[:PORT])... [options]\n"
    "       sslcollector -C (-o IFACE | -w FILE)... [-l ADDR[:PORT]] [options]\n"
    "\n"
    "Mirrors the plaintext of this host's TLS connections (OpenSSL, GnuTLS, NSS) as ordinary\n"
    "TCP/IP packets, for an IDS such as Suricata, Zeek or Arkime. No keys, no proxy.\n"
    "\n"
    "Examples:\n"
    "  sslcollector -I eth0 -t 10.0.0.5      host agent, tunnel to an aggregator\n"
    "  sslcollector -I eth0 -o mirror0       host agent, replay locally (on-premise)\n"
    "  sslcollector -I eth0 -w tls.pcap      host agent, to a pcap file\n"
    "  sslcollector -C -o ids0               aggregator: agents' mirrors into ids0\n";

static const char tail[] =
    "\n"
    "Signals: SIGINT, SIGTERM stop; SIGHUP starts the -w file again once it was moved away\n"
    "(log rotation), and the collector reads --crl and --allow again.\n"
    "Exit status: 0 success, 1 runtime failure, 2 bad arguments.\n"
    "The manual: man sslcollector (docs/sslcollector.8 in the source tree).\n";

struct text {
	char *buf;
	size_t len, used;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->used + n + 1 > t->len)
		n = t->used + 1 < t->len ? t->len - t->used - 1 : 0;
	memcpy(t->buf + t->used, s, n);
	t->used += n;
	t->buf[t->used] = '\0';
}

static void puts_(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

static void spaces(struct text *t, size_t n)
{
	while (n--)
		put(t, " ", 1);
}

/* words of s from column col, wrapped to WIDTH at HELP_COLUMN */
static void wrapped(struct text *t, const char *s, size_t col)
{
	while (*s) {
		const char *w = s;
		size_t n;

		while (*w == ' ')
			w++;
		n = strcspn(w, " ");
		if (!n)
			break;
		if (col > HELP_COLUMN && col + 1 + n >= WIDTH) {
			put(t, "\n", 1);
			spaces(t, HELP_COLUMN);
			col = HELP_COLUMN;
		} else if (col > HELP_COLUMN) {
			put(t, " ", 1);
			col++;
		}
		put(t, w, n);
		col += n;
		s = w + n;
	}
	put(t, "\n", 1);
}

size_t options_help_text(char *buf, size_t len)
{
	struct text t = {buf, len, 0};
	const char *section = NULL;

	if (len)
		buf[0] = '\0';
	puts_(&t, head);
	for (size_t i = 0; i < option_rows_n; i++) {
		const struct option_row *r = &option_rows[i];
		char names[96];
		int n;

		if (!section || strcmp(section, r->section)) {
			section = r->section;
			puts_(&t, "\n");
			puts_(&t, section);
			puts_(&t, ":\n");
		}
		if (r->short_name)
			n = snprintf(names, sizeof(names), "  -%c, --%s%s%s", r->short_name,
				     r->long_name, r->arg ? " " : "", r->arg ? r->arg : "");
		else
			n = snprintf(names, sizeof(names), "      --%s%s%s", r->long_name,
				     r->arg ? " " : "", r->arg ? r->arg : "");
		puts_(&t, names);
		if ((size_t)n + 2 <= HELP_COLUMN) {
			spaces(&t, HELP_COLUMN - (size_t)n);
			n = HELP_COLUMN;
		} else {
			spaces(&t, 2);
			n += 2;
		}
		/* the first word goes on the line, whatever its length */
		size_t col = (size_t)n;
		const char *h = r->help;
		size_t first = strcspn(h, " ");

		put(&t, h, first);
		col += first;
		wrapped(&t, h + first, col);
	}
	puts_(&t, tail);
	return t.used;
}

const char *options_usage(void)
{
	static char text[16384];

	if (!text[0])
		options_help_text(text, sizeof(text));
	return text;
}
