/* The OPTIONS section of sslcollector(8), made from the option table: one .TP paragraph per
 * row under a .SS heading per section: the help text, the limits of its value, and what the
 * man page adds. */
#include "options.h"
#include "options_table.h"

#include <stdio.h>
#include <string.h>

struct text {
	char *buf;
	size_t len, used;
};

static void putc_(struct text *t, char c)
{
	if (t->used + 2 > t->len)
		return;
	t->buf[t->used++] = c;
	t->buf[t->used] = '\0';
}

static void puts_(struct text *t, const char *s)
{
	while (*s)
		putc_(t, *s++);
}

/* s as roff text: backslashes and dashes escaped, a leading dot or quote kept literal */
static void roff(struct text *t, const char *s)
{
	if (*s == '.' || *s == '\'')
		puts_(t, "\\&");
	for (; *s; s++) {
		if (*s == '\\')
			puts_(t, "\\e");
		else if (*s == '-')
			puts_(t, "\\-");
		else
			putc_(t, *s);
	}
}

/* help texts start in lower case, as in -h; the man page's sentences start in upper case */
static void sentence(struct text *t, const char *s)
{
	char first[2] = {s[0], '\0'};

	if (first[0] >= 'a' && first[0] <= 'z')
		first[0] = (char)(first[0] - 'a' + 'A');
	roff(t, first);
	roff(t, s + 1);
	if (s[0] && s[strlen(s) - 1] != '.' && s[strlen(s) - 1] != ')')
		putc_(t, '.');
	else if (s[0] && s[strlen(s) - 1] == ')')
		putc_(t, '.');
}

size_t options_man_text(char *buf, size_t len)
{
	struct text t = {buf, len, 0};
	const char *section = NULL;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < option_rows_n; i++) {
		const struct option_row *r = &option_rows[i];

		if (!section || strcmp(section, r->section)) {
			section = r->section;
			puts_(&t, ".SS ");
			roff(&t, section);
			putc_(&t, '\n');
		}
		puts_(&t, ".TP\n");
		if (r->short_name) {
			puts_(&t, "\\fB\\-");
			putc_(&t, r->short_name);
			puts_(&t, "\\fR, ");
		}
		puts_(&t, "\\fB\\-\\-");
		roff(&t, r->long_name);
		puts_(&t, "\\fR");
		if (r->arg) {
			puts_(&t, " \\fI");
			roff(&t, r->arg);
			puts_(&t, "\\fR");
		}
		putc_(&t, '\n');
		sentence(&t, r->help);
		putc_(&t, '\n');
		if (r->limits) {
			puts_(&t, "The value: ");
			roff(&t, r->limits);
			puts_(&t, ".\n");
		}
		if (r->more) {
			roff(&t, r->more);
			putc_(&t, '\n');
		}
		if (r->roles != FOR_BOTH)
			puts_(&t,
			      r->roles == FOR_AGENT ? "Agent only.\n" : "Collector only (\\-C).\n");
	}
	return t.used;
}
