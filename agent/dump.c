/* Per-connection plaintext files for --dump-dir. */
#include "dump.h"
#include "print.h"
#include "u64map.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_GAPS_LISTED 100000

struct gap {
	uint64_t at; /* stream offset: captured + lost bytes before it */
	uint64_t len;
};

struct dump_conn {
	struct sslc_conn conn;
	uint64_t id;
	uint32_t pid;
	char comm[SSLC_COMM_LEN + 1];
	uint8_t role;
	bool reset;
	char base[48]; /* file names: conn-ID, or conn-ID-nsINODE in another namespace */
	uint16_t vlan;
	char cgroup[256], container[96]; /* JSON-safe */
	uint64_t bytes[2];
	uint64_t gap_bytes[2];
	struct gap *gaps[2];
	size_t n_gaps[2];
	int fd[2];	/* the data files, opened on first use; -1: not open */
	bool made[2];	/* ... and created (by this run: O_EXCL) */
	bool meta_made; /* conn-N.json created */
};

struct dump {
	int dirfd; /* every file is opened relative to it, never by a path */
	struct u64map conns;
};

static int refuse(char *err, size_t err_len, int ret, const char *dir, const char *why)
{
	snprintf(err, err_len, "--dump-dir %s: %s", dir, why);
	return ret;
}

/* The directory holds the plaintext: it must be ours alone. A symbolic link is not followed;
 * a directory of another user, or one that others may write to (where they could plant
 * links under the names we write), is refused; one of ours is made private (on the
 * descriptor, never by name). It must hold no conn-* files: ids start at 1 in every run. */
int dump_open(const char *dir, struct dump **out, char *err, size_t err_len)
{
	struct dump *d;
	struct stat st;
	struct dirent *ent;
	DIR *list;
	int fd, ret;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return refuse(err, err_len, -errno, dir, strerror(errno));
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		ret = -errno;
		if (errno == ELOOP || errno == ENOTDIR) {
			struct stat lst;
			bool link = lstat(dir, &lst) == 0 && S_ISLNK(lst.st_mode);

			return refuse(err, err_len, ret, dir,
				      link ? "a symbolic link, which is not followed (the files "
					     "hold plaintext secrets)"
					   : "not a directory");
		}
		return refuse(err, err_len, ret, dir, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		close(fd);
		return refuse(err, err_len, ret, dir, strerror(-ret));
	}
	if (st.st_uid != geteuid()) {
		char why[160];

		close(fd);
		snprintf(why, sizeof(why),
			 "belongs to uid %u, not to this agent's uid %u: its owner could read "
			 "or redirect the plaintext; use a directory of the agent's own",
			 (unsigned)st.st_uid, (unsigned)geteuid());
		return refuse(err, err_len, -EPERM, dir, why);
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		close(fd);
		return refuse(err, err_len, -EPERM, dir,
			      "other users may write to it (links planted under the names "
			      "written would redirect the plaintext); use a private directory");
	}
	if (fchmod(fd, 0700) < 0) {
		ret = -errno;
		close(fd);
		return refuse(err, err_len, ret, dir, "cannot make it private (chmod 0700)");
	}
	ret = dup(fd);
	list = ret >= 0 ? fdopendir(ret) : NULL;
	if (!list) {
		ret = -errno;
		close(fd);
		return refuse(err, err_len, ret, dir, strerror(-ret));
	}
	while ((ent = readdir(list)))
		if (!strncmp(ent->d_name, "conn-", 5))
			break;
	closedir(list);
	if (ent) {
		close(fd);
		return refuse(err, err_len, -EEXIST, dir,
			      "holds conn-* files of an earlier run; move them away or choose an "
			      "empty directory");
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	d->dirfd = fd;
	*out = d;
	return 0;
}

static void close_files(struct dump_conn *c)
{
	for (int i = 0; i < 2; i++) {
		if (c->fd[i] >= 0)
			close(c->fd[i]);
		c->fd[i] = -1;
	}
}

/* Open files are kept per connection; when the process runs out of descriptors, every
 * cached one is closed and the open retried. */
static int open_data_file(struct dump *d, struct dump_conn *c, int dir)
{
	char name[64];

	if (c->fd[dir] >= 0)
		return c->fd[dir];
	snprintf(name, sizeof(name), "%s.%s", c->base, dir == SSLC_DIR_SEND ? "send" : "recv");
	for (int attempt = 0; attempt < 2; attempt++) {
		/* made by this run, or opened again (after EMFILE) in our private directory */
		c->fd[dir] = openat(d->dirfd, name,
				    O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC |
					(c->made[dir] ? 0 : O_CREAT | O_EXCL),
				    0600);
		if (c->fd[dir] >= 0) {
			c->made[dir] = true;
			return c->fd[dir];
		}
		if (errno != EMFILE && errno != ENFILE)
			break;
		for (size_t i = 0; i < d->conns.cap; i++)
			if (u64map_live(&d->conns, i))
				close_files(d->conns.vals[i]);
	}
	return -errno;
}

static int append(struct dump *d, struct dump_conn *c, int dir, const void *data, size_t len)
{
	size_t off = 0;
	int fd = open_data_file(d, c, dir);

	if (fd < 0)
		return fd;
	while (off < len) {
		ssize_t w = write(fd, (const char *)data + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)w;
	}
	return 0;
}

static void write_gaps(FILE *f, const struct dump_conn *c, int dir)
{
	fputc('[', f);
	for (size_t i = 0; i < c->n_gaps[dir]; i++)
		fprintf(f, "%s[%llu,%llu]", i ? "," : "", (unsigned long long)c->gaps[dir][i].at,
			(unsigned long long)c->gaps[dir][i].len);
	fputc(']', f);
}

static void write_meta(struct dump *d, struct dump_conn *c, bool closed)
{
	char name[64], local[64], remote[64];
	FILE *f;
	int fd;

	snprintf(name, sizeof(name), "%s.json", c->base);
	fd = openat(d->dirfd, name,
		    O_WRONLY | O_NOFOLLOW | O_CLOEXEC | (c->meta_made ? O_TRUNC : O_CREAT | O_EXCL),
		    0600);
	if (fd < 0)
		return;
	c->meta_made = true;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return;
	}
	format_endpoint(c->conn.family, c->conn.local_addr, c->conn.local_port, local,
			sizeof(local));
	format_endpoint(c->conn.family, c->conn.remote_addr, c->conn.remote_port, remote,
			sizeof(remote));
	fprintf(f,
		"{\"conn_id\": %llu, \"pid\": %u, \"comm\": \"%s\", \"family\": %d, "
		"\"local\": \"%s\", \"remote\": \"%s\", \"role\": \"%s\", \"netns\": %u, "
		"\"vlan\": %u, \"cgroup\": \"%s\", \"container\": \"%s\", \"library\": \"%s\", "
		"\"bytes_send\": %llu, \"bytes_recv\": %llu, \"gap_send\": %llu, "
		"\"gap_recv\": %llu, \"closed\": %s, \"reset\": %s, ",
		(unsigned long long)c->id, c->pid, c->comm, c->conn.family == 2 ? 4 : 6, local,
		remote,
		c->role == SSLC_ROLE_CLIENT   ? "client"
		: c->role == SSLC_ROLE_SERVER ? "server"
					      : "unknown",
		c->conn.netns, c->vlan, c->cgroup, c->container,
		c->conn.lib == SSLC_LIB_GNUTLS ? "gnutls"
		: c->conn.lib == SSLC_LIB_NSS  ? "nss"
					       : "openssl",
		(unsigned long long)c->bytes[SSLC_DIR_SEND],
		(unsigned long long)c->bytes[SSLC_DIR_RECV],
		(unsigned long long)c->gap_bytes[SSLC_DIR_SEND],
		(unsigned long long)c->gap_bytes[SSLC_DIR_RECV], closed ? "true" : "false",
		c->reset ? "true" : "false");
	fputs("\"gaps_send\": ", f);
	write_gaps(f, c, SSLC_DIR_SEND);
	fputs(", \"gaps_recv\": ", f);
	write_gaps(f, c, SSLC_DIR_RECV);
	fputs("}\n", f);
	fclose(f);
}

static void add_gap(struct dump_conn *c, int dir, uint64_t len)
{
	if (!len)
		return;
	if (c->n_gaps[dir] < MAX_GAPS_LISTED) {
		struct gap *g = realloc(c->gaps[dir], (c->n_gaps[dir] + 1) * sizeof(*g));

		if (g) {
			g[c->n_gaps[dir]].at = c->bytes[dir] + c->gap_bytes[dir];
			g[c->n_gaps[dir]].len = len;
			c->gaps[dir] = g;
			c->n_gaps[dir]++;
		}
	}
	c->gap_bytes[dir] += len;
}

static void free_conn(struct dump_conn *c)
{
	close_files(c);
	free(c->gaps[0]);
	free(c->gaps[1]);
	free(c);
}

/* Text that can stand inside a JSON string as it is. */
static void json_sanitize(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = '_';
}

static void json_safe(char *out, size_t len, const char *text)
{
	snprintf(out, len, "%s", text ? text : "");
	json_sanitize(out);
}

int dump_event(struct dump *d, const struct sslc_event *e, uint8_t role,
	       const struct ns_labels *lab)
{
	struct dump_conn *c = u64map_get(&d->conns, e->conn_id);
	int dir = e->dir & 1;

	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		c->id = e->conn_id;
		c->conn = e->conn;
		c->pid = e->pid;
		snprintf(c->comm, sizeof(c->comm), "%.*s", SSLC_COMM_LEN, e->comm);
		json_sanitize(c->comm);
		c->role = role;
		if (lab && !lab->own)
			snprintf(c->base, sizeof(c->base), "conn-%llu-ns%u",
				 (unsigned long long)c->id, lab->netns);
		else
			snprintf(c->base, sizeof(c->base), "conn-%llu", (unsigned long long)c->id);
		if (lab) {
			c->vlan = lab->vlan;
			json_safe(c->cgroup, sizeof(c->cgroup), lab->cgroup);
			json_safe(c->container, sizeof(c->container), lab->container);
		}
		c->fd[0] = c->fd[1] = -1;
		if (u64map_put(&d->conns, e->conn_id, c)) {
			free(c);
			return -ENOMEM;
		}
	}
	switch (e->type) {
	case SSLC_EVENT_DATA:
		c->bytes[dir] += e->data_len;
		return append(d, c, dir, e->data, e->data_len);
	case SSLC_EVENT_GAP:
		add_gap(c, dir, e->len);
		return 0;
	case SSLC_EVENT_CLOSE:
		add_gap(c, SSLC_DIR_RECV, e->gap[SSLC_DIR_RECV]);
		add_gap(c, SSLC_DIR_SEND, e->gap[SSLC_DIR_SEND]);
		c->reset = e->flags & SSLC_F_CLOSE_RESET;
		write_meta(d, c, true);
		u64map_del(&d->conns, c->id);
		free_conn(c);
		return 0;
	}
	return 0;
}

void dump_close(struct dump *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->conns.cap; i++) {
		if (!u64map_live(&d->conns, i))
			continue;
		write_meta(d, d->conns.vals[i], false);
		free_conn(d->conns.vals[i]);
	}
	u64map_free(&d->conns);
	close(d->dirfd);
	free(d);
}
