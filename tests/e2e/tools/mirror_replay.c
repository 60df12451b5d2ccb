/* mirror_replay: drives agent/mirror.c (sslc_mirror) with capture events read from a scenario
 * file instead of the BPF ring buffer, into a -w pcap, the way tests/unit/test_mirror.c does:
 * the forged TCP connections of a given sequence of SSL reads/writes, for an IDS to judge.
 *
 *   mirror_replay [--mtu N] [--seed N] SCENARIO BLOB OUT.pcap
 *
 * --mtu N   forge's MTU (576..65535; default 1500), as the agent's --mtu.
 * --seed N  deterministic initial sequence numbers and IPv4 ids (forge draws them with
 *           getrandom(), replaced here by a seeded generator): two runs of the same events
 *           give byte-identical pcaps.
 *
 * SCENARIO: one command per line; blank lines and lines starting with # are ignored; numbers
 * are decimal; ID is a conn_id (any 64-bit number but 0), TS a wall-clock time in ns
 * (CLOCK_REALTIME, the frames' pcap time); the commands run in file order:
 *
 *   conn ID client|server LOCAL_IP LPORT REMOTE_IP RPORT
 *           declares a connection as its observed (local) end sees it: its role (client: it
 *           called connect()) and its addresses (IPv4 or IPv6, both of one family). Every
 *           local address of the file is one of the mirror's local addresses.
 *   data ID send|recv TS OFF LEN
 *           one SSL call of the local end that moved LEN bytes (1..2^32-1): send = a write
 *           (local -> remote), recv = a read (remote -> local); the bytes are BLOB[OFF,
 *           OFF+LEN). Split into DATA events of at most SSLC_CHUNK_MAX bytes, as the capture
 *           splits a large call.
 *   gap ID send|recv TS LEN
 *           LEN bytes (1..2^63) of that direction were not captured (a GAP event).
 *   close ID TS [reset]
 *           the local end's session ended (a CLOSE event; reset: the TCP connection was
 *           reset). The ID may not be used again.
 *   flush   the end of a batch of events: mirror_flush().
 *   tick TS mirror_tick() at TS (idle timeouts, delayed ACKs).
 *
 * The whole file is checked before the mirror opens: a bad line is reported as
 * SCENARIO:LINE: what is wrong, "the line". At the end mirror_close() ends every connection
 * still open (stamped with the real clock: close them in the scenario for a reproducible pcap).
 * Exit status: 0, 1 on a bad scenario or a failure of the mirror, 2 on bad arguments. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mirror.h"
#include "options.h"

#define EXIT_BAD_ARGS 2
#define MAX_WORDS     9

enum cmd_type {
	CMD_DATA,
	CMD_GAP,
	CMD_CLOSE,
	CMD_FLUSH,
	CMD_TICK,
};

struct conn {
	uint64_t id;
	uint8_t role; /* enum sslc_role */
	struct sslc_conn c;
	bool closed; /* while parsing: a close was seen */
};

struct cmd {
	enum cmd_type type;
	size_t line;
	size_t conn; /* index into conns (data, gap, close) */
	uint8_t dir; /* enum sslc_dir */
	bool reset;
	uint64_t ts, off, len;
};

struct scenario {
	const char *path;
	struct conn *conns;
	size_t n_conns;
	struct cmd *cmds;
	size_t n_cmds, cap_cmds;
	uint64_t blob_len;
};

/* --seed: forge's getrandom() calls (ISNs, IPv4 ids) read this stream instead of the kernel's.
 * Only this program's own calls are affected (libc's internal ones do not go through the
 * symbol). */
static bool seeded;
static uint64_t seed_state;

static uint64_t splitmix64(void)
{
	uint64_t z = (seed_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
	uint8_t *p = buf;

	if (!seeded)
		return syscall(SYS_getrandom, buf, len, flags);
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = splitmix64();

		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
	return (ssize_t)len;
}

static int line_error(const struct scenario *s, size_t line, const char *text, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int line_error(const struct scenario *s, size_t line, const char *text, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mirror_replay: %s:%zu: ", s->path, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": \"%s\"\n", text);
	return -EINVAL;
}

static bool parse_u64(const char *word, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!word || word[0] < '0' || word[0] > '9')
		return false;
	errno = 0;
	v = strtoull(word, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* The address into a[16] (IPv4 in the first 4 bytes); its family, or 0. */
static int parse_addr(const char *word, uint8_t a[16])
{
	memset(a, 0, 16);
	if (inet_pton(AF_INET, word, a) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, word, a) == 1)
		return AF_INET6;
	return 0;
}

static ssize_t find_conn(const struct scenario *s, uint64_t id)
{
	for (size_t i = 0; i < s->n_conns; i++)
		if (s->conns[i].id == id)
			return (ssize_t)i;
	return -1;
}

static int parse_conn(struct scenario *s, char **w, size_t n, size_t line, const char *text)
{
	struct conn c = {0}, *grown;
	uint64_t lport, rport;
	int fl, fr;

	if (n != 7)
		return line_error(s, line, text,
				  "expected conn ID client|server LOCAL_IP LPORT REMOTE_IP RPORT");
	if (!parse_u64(w[1], 1, UINT64_MAX, &c.id))
		return line_error(s, line, text, "bad connection id '%s'", w[1]);
	if (find_conn(s, c.id) >= 0)
		return line_error(s, line, text, "connection %s declared twice", w[1]);
	if (!strcmp(w[2], "client"))
		c.role = SSLC_ROLE_CLIENT;
	else if (!strcmp(w[2], "server"))
		c.role = SSLC_ROLE_SERVER;
	else
		return line_error(s, line, text, "role '%s': client or server", w[2]);
	fl = parse_addr(w[3], c.c.local_addr);
	fr = parse_addr(w[5], c.c.remote_addr);
	if (!fl || !fr)
		return line_error(s, line, text, "bad IP address '%s'", fl ? w[5] : w[3]);
	if (fl != fr)
		return line_error(s, line, text, "one address is IPv4, the other IPv6");
	if (!parse_u64(w[4], 1, 65535, &lport) || !parse_u64(w[6], 1, 65535, &rport))
		return line_error(s, line, text, "ports are 1..65535");
	c.c.family = (uint8_t)fl;
	c.c.local_port = (uint16_t)lport;
	c.c.remote_port = (uint16_t)rport;
	c.c.role = c.role;
	grown = realloc(s->conns, (s->n_conns + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	s->conns = grown;
	s->conns[s->n_conns++] = c;
	return 0;
}

/* data, gap, close: the connection of w[1], declared and not closed. */
static int parse_conn_ref(struct scenario *s, char **w, struct cmd *c, const char *text)
{
	uint64_t id;
	ssize_t i;

	if (!parse_u64(w[1], 1, UINT64_MAX, &id))
		return line_error(s, c->line, text, "bad connection id '%s'", w[1]);
	i = find_conn(s, id);
	if (i < 0)
		return line_error(s, c->line, text, "connection %s not declared (conn line)", w[1]);
	if (s->conns[i].closed)
		return line_error(s, c->line, text, "connection %s used after its close", w[1]);
	c->conn = (size_t)i;
	return 0;
}

static int parse_dir(struct scenario *s, const char *word, struct cmd *c, const char *text)
{
	if (!strcmp(word, "send"))
		c->dir = SSLC_DIR_SEND;
	else if (!strcmp(word, "recv"))
		c->dir = SSLC_DIR_RECV;
	else
		return line_error(s, c->line, text, "direction '%s': send or recv", word);
	return 0;
}

static int parse_line(struct scenario *s, char *text, size_t line)
{
	char copy[512], *w[MAX_WORDS], *save = NULL;
	struct cmd c = {.line = line};
	size_t n = 0;
	int ret;

	text += strspn(text, " \t");
	if (!text[0] || text[0] == '#')
		return 0;
	snprintf(copy, sizeof(copy), "%s", text);
	for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == MAX_WORDS)
			return line_error(s, line, text, "too many words");
		w[n++] = t;
	}
	if (n == 0)
		return 0;
	if (!strcmp(w[0], "conn"))
		return parse_conn(s, w, n, line, text);
	if (!strcmp(w[0], "data")) {
		c.type = CMD_DATA;
		if (n != 6)
			return line_error(s, line, text, "expected data ID send|recv TS OFF LEN");
		if ((ret = parse_conn_ref(s, w, &c, text)) || (ret = parse_dir(s, w[2], &c, text)))
			return ret;
		if (!parse_u64(w[3], 0, UINT64_MAX, &c.ts) ||
		    !parse_u64(w[4], 0, UINT64_MAX, &c.off) ||
		    !parse_u64(w[5], 1, UINT32_MAX, &c.len))
			return line_error(s, line, text, "bad TS, OFF or LEN");
		if (c.off > s->blob_len || c.len > s->blob_len - c.off)
			return line_error(s, line, text,
					  "bytes %" PRIu64 "..%" PRIu64
					  " are past the blob's end (%" PRIu64 " bytes)",
					  c.off, c.off + c.len, s->blob_len);
	} else if (!strcmp(w[0], "gap")) {
		c.type = CMD_GAP;
		if (n != 5)
			return line_error(s, line, text, "expected gap ID send|recv TS LEN");
		if ((ret = parse_conn_ref(s, w, &c, text)) || (ret = parse_dir(s, w[2], &c, text)))
			return ret;
		if (!parse_u64(w[3], 0, UINT64_MAX, &c.ts) ||
		    !parse_u64(w[4], 1, INT64_MAX, &c.len))
			return line_error(s, line, text, "bad TS or LEN");
	} else if (!strcmp(w[0], "close")) {
		c.type = CMD_CLOSE;
		if (n != 3 && !(n == 4 && !strcmp(w[3], "reset")))
			return line_error(s, line, text, "expected close ID TS [reset]");
		if ((ret = parse_conn_ref(s, w, &c, text)))
			return ret;
		if (!parse_u64(w[2], 0, UINT64_MAX, &c.ts))
			return line_error(s, line, text, "bad TS '%s'", w[2]);
		c.reset = n == 4;
		s->conns[c.conn].closed = true;
	} else if (!strcmp(w[0], "flush")) {
		c.type = CMD_FLUSH;
		if (n != 1)
			return line_error(s, line, text, "flush takes no arguments");
	} else if (!strcmp(w[0], "tick")) {
		c.type = CMD_TICK;
		if (n != 2 || !parse_u64(w[1], 0, UINT64_MAX, &c.ts))
			return line_error(s, line, text, "expected tick TS");
	} else {
		return line_error(s, line, text,
				  "unknown command '%s' (conn, data, gap, close, flush, tick)",
				  w[0]);
	}
	if (s->n_cmds == s->cap_cmds) {
		size_t cap = s->cap_cmds ? s->cap_cmds * 2 : 1024;
		struct cmd *grown = realloc(s->cmds, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		s->cmds = grown;
		s->cap_cmds = cap;
	}
	s->cmds[s->n_cmds++] = c;
	return 0;
}

static int scenario_read(struct scenario *s)
{
	FILE *f = fopen(s->path, "r");
	char buf[512];
	size_t line = 0;
	int err = 0;

	if (!f) {
		err = -errno;
		fprintf(stderr, "mirror_replay: cannot open %s: %s\n", s->path, strerror(errno));
		return err;
	}
	while (fgets(buf, sizeof(buf), f)) {
		size_t len = strlen(buf);

		line++;
		if (len == sizeof(buf) - 1 && buf[len - 1] != '\n') {
			buf[60] = 0;
			err =
			    line_error(s, line, buf, "line longer than %zu bytes", sizeof(buf) - 2);
			goto cleanup;
		}
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = 0;
		if ((err = parse_line(s, buf, line)))
			goto cleanup;
	}
	if (ferror(f)) {
		err = -EIO;
		fprintf(stderr, "mirror_replay: cannot read %s\n", s->path);
	}
cleanup:
	fclose(f);
	if (err == -ENOMEM)
		fprintf(stderr, "mirror_replay: out of memory reading %s\n", s->path);
	return err;
}

static uint8_t *blob_read(const char *path, uint64_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f) {
		fprintf(stderr, "mirror_replay: cannot open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "mirror_replay: cannot read %s: %s\n", path, strerror(errno));
		goto cleanup;
	}
	buf = malloc(n ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "mirror_replay: cannot read %s (%ld bytes)\n", path, n);
		free(buf);
		buf = NULL;
		goto cleanup;
	}
	*len = (uint64_t)n;
cleanup:
	fclose(f);
	return buf;
}

/* One event of conn c; DATA: data_len bytes at data, off within a call of len bytes. */
static int send_event(struct mirror *m, const struct conn *c, const struct cmd *cmd, uint8_t type,
		      const uint8_t *data, uint32_t data_len, uint64_t off)
{
	struct sslc_event *e = calloc(1, sizeof(*e) + data_len);
	int ret;

	if (!e)
		return -ENOMEM;
	e->type = type;
	e->dir = cmd->dir;
	e->flags = cmd->reset ? SSLC_F_CLOSE_RESET : 0;
	e->func = type == SSLC_EVENT_CLOSE    ? SSLC_FUNC_FREE
		  : cmd->dir == SSLC_DIR_SEND ? SSLC_FUNC_WRITE_EX
					      : SSLC_FUNC_READ_EX;
	e->pid = e->tid = (uint32_t)getpid();
	e->data_len = data_len;
	e->ts_ns = cmd->ts;
	e->conn_id = c->id;
	e->len = cmd->len;
	e->off = off;
	e->conn = c->c;
	snprintf(e->comm, sizeof(e->comm), "mirror_replay");
	if (data_len)
		memcpy(e->data, data, data_len);
	ret = mirror_event(m, e, c->role, cmd->ts);
	free(e);
	return ret;
}

static int run(const struct scenario *s, const uint8_t *blob, struct mirror *m)
{
	for (size_t i = 0; i < s->n_cmds; i++) {
		const struct cmd *cmd = &s->cmds[i];
		const struct conn *c = &s->conns[cmd->conn];
		int ret = 0;

		switch (cmd->type) {
		case CMD_DATA:
			for (uint64_t off = 0; off < cmd->len && !ret; off += SSLC_CHUNK_MAX) {
				uint64_t n = cmd->len - off;

				ret = send_event(
				    m, c, cmd, SSLC_EVENT_DATA, blob + cmd->off + off,
				    (uint32_t)(n < SSLC_CHUNK_MAX ? n : SSLC_CHUNK_MAX), off);
			}
			break;
		case CMD_GAP:
			ret = send_event(m, c, cmd, SSLC_EVENT_GAP, NULL, 0, 0);
			break;
		case CMD_CLOSE:
			ret = send_event(m, c, cmd, SSLC_EVENT_CLOSE, NULL, 0, 0);
			break;
		case CMD_FLUSH:
			mirror_flush(m);
			break;
		case CMD_TICK:
			mirror_tick(m, cmd->ts);
			break;
		}
		if (ret) {
			fprintf(stderr, "mirror_replay: %s:%zu: the mirror failed: %s\n", s->path,
				cmd->line, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "mirror_replay: %s\n", msg);
	fprintf(stderr, "usage: mirror_replay [--mtu N] [--seed N] SCENARIO BLOB OUT.pcap\n"
			"(the scenario format is described at the top of mirror_replay.c)\n");
	return EXIT_BAD_ARGS;
}

int main(int argc, char **argv)
{
	struct scenario s = {0};
	struct sslc_options opts;
	struct local_addr *la = NULL;
	struct local_addrs addrs = {0};
	struct mirror *m = NULL;
	const char *mtu = NULL, *pos[3];
	char *oargv[9];
	int oargc = 0;
	char err[512] = "";
	uint8_t *blob = NULL;
	size_t n_pos = 0;
	int ret = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mtu") && i + 1 < argc) {
			mtu = argv[++i];
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			if (!parse_u64(argv[++i], 0, UINT64_MAX, &seed_state))
				return usage("--seed: a number");
			seeded = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return usage(!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")
					 ? NULL
					 : "unknown option or missing value");
		} else if (n_pos < 3) {
			pos[n_pos++] = argv[i];
		} else {
			return usage("too many arguments");
		}
	}
	if (n_pos != 3)
		return usage("SCENARIO, BLOB and OUT.pcap are needed");
	/* the agent's options, as test_mirror.c gives them */
	oargv[oargc++] = "sslcollector";
	oargv[oargc++] = "-I";
	oargv[oargc++] = "any";
	oargv[oargc++] = "-w";
	oargv[oargc++] = (char *)pos[2];
	oargv[oargc++] = "-q";
	if (mtu) {
		oargv[oargc++] = "--mtu";
		oargv[oargc++] = (char *)mtu;
	}
	oargv[oargc] = NULL;
	if (options_parse(oargc, oargv, &opts, err, sizeof(err))) {
		fprintf(stderr, "mirror_replay: %s\n", err);
		return EXIT_BAD_ARGS;
	}
	s.path = pos[0];
	blob = blob_read(pos[1], &s.blob_len);
	if (!blob)
		goto cleanup;
	if (scenario_read(&s))
		goto cleanup;
	/* the observed ends' addresses are the host's (the agent's -I) */
	la = calloc(s.n_conns ? s.n_conns : 1, sizeof(*la));
	if (!la) {
		fprintf(stderr, "mirror_replay: out of memory\n");
		goto cleanup;
	}
	for (size_t i = 0; i < s.n_conns; i++) {
		const struct sslc_conn *c = &s.conns[i].c;

		if (local_addrs_find(&addrs, c->family, c->local_addr))
			continue;
		memcpy(la[addrs.n].key.addr, c->local_addr, 16);
		la[addrs.n].key.family = c->family;
		addrs.v = la;
		addrs.n++;
	}
	if (mirror_open(&opts, NULL, &m, err, sizeof(err))) {
		fprintf(stderr, "mirror_replay: %s\n", err);
		goto cleanup;
	}
	mirror_set_addrs(m, &addrs);
	if (run(&s, blob, m))
		goto cleanup;
	ret = 0;
cleanup:
	mirror_close(m);
	free(la);
	free(s.conns);
	free(s.cmds);
	free(blob);
	return ret;
}
