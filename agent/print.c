/* Formatting of --print lines:
 *   20:01:02.123456 pid 812 curl 10.0.0.1:41234 -> 10.0.0.2:443 client send 517 bytes
 * and with -v the first bytes, escaped, on the same line. */
#include "print.h"

#include <arpa/inet.h>
#include <time.h>

void format_endpoint(uint8_t family, const uint8_t *addr, uint16_t port, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (family == 2 /* AF_INET */) {
		inet_ntop(AF_INET, addr, a, sizeof(a));
		snprintf(out, len, "%s:%u", a, port);
	} else {
		inet_ntop(AF_INET6, addr, a, sizeof(a));
		snprintf(out, len, "[%s]:%u", a, port);
	}
}

static const char *role_name(uint8_t role)
{
	return role == SSLC_ROLE_CLIENT ? "client" : role == SSLC_ROLE_SERVER ? "server" : "?";
}

static void print_escaped(FILE *out, const uint8_t *p, size_t n)
{
	fputs(" \"", out);
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = p[i];

		if (ch == '\r')
			fputs("\\r", out);
		else if (ch == '\n')
			fputs("\\n", out);
		else if (ch == '\t')
			fputs("\\t", out);
		else if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(out, "\\x%02x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

void print_event(FILE *out, const struct sslc_event *e, uint8_t role, uint64_t wall_ns,
		 size_t data_bytes, const struct ns_labels *lab)
{
	char local[64], remote[64], stamp[32], comm[SSLC_COMM_LEN + 1];
	time_t sec = (time_t)(wall_ns / 1000000000ULL);
	struct tm tm;

	localtime_r(&sec, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	snprintf(comm, sizeof(comm), "%.*s", SSLC_COMM_LEN, e->comm);
	format_endpoint(e->conn.family, e->conn.local_addr, e->conn.local_port, local,
			sizeof(local));
	format_endpoint(e->conn.family, e->conn.remote_addr, e->conn.remote_port, remote,
			sizeof(remote));
	fprintf(out, "%s.%06llu conn %llu pid %u %s %s -> %s %s ", stamp,
		(unsigned long long)(wall_ns % 1000000000ULL / 1000),
		(unsigned long long)e->conn_id, e->pid, comm, local, remote, role_name(role));
	if (lab && !lab->own)
		fprintf(out, "netns %u vlan %u %s%s%s", lab->netns, lab->vlan,
			lab->container[0] ? "container " : "", lab->container,
			lab->container[0] ? " " : "");
	switch (e->type) {
	case SSLC_EVENT_DATA:
		fprintf(out, "%s %u bytes", e->dir == SSLC_DIR_SEND ? "send" : "recv", e->data_len);
		if (e->data_len != e->len)
			fprintf(out, " (bytes %llu-%llu of a %llu-byte call)",
				(unsigned long long)e->off,
				(unsigned long long)(e->off + e->data_len - 1),
				(unsigned long long)e->len);
		if (data_bytes)
			print_escaped(out, e->data,
				      e->data_len < data_bytes ? e->data_len : data_bytes);
		break;
	case SSLC_EVENT_GAP:
		fprintf(out, "gap %s %llu bytes not captured (%s)",
			e->dir == SSLC_DIR_SEND ? "send" : "recv", (unsigned long long)e->len,
			e->flags & SSLC_F_GAP_INFLIGHT
			    ? (e->flags & SSLC_F_GAP_EXACT
				   ? "a call in progress at attach, exact"
				   : "a call in progress at attach, estimated")
			: e->flags & SSLC_F_GAP_CAP   ? "beyond --max-call-size"
			: e->flags & SSLC_F_GAP_FAULT ? "buffer unreadable"
						      : "ring buffer full");
		break;
	case SSLC_EVENT_CLOSE:
		fprintf(out, "close%s", e->flags & SSLC_F_CLOSE_RESET ? " (reset)" : "");
		if (e->gap[0] || e->gap[1])
			fprintf(out, " after gaps recv %llu send %llu bytes",
				(unsigned long long)e->gap[SSLC_DIR_RECV],
				(unsigned long long)e->gap[SSLC_DIR_SEND]);
		break;
	default:
		fprintf(out, "event type %u", e->type);
	}
	fputc('\n', out);
}
