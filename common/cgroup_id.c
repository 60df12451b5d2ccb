/* /proc/PID/cgroup and cgroup paths to a container: each component of the path is matched on
 * its own (with the one before it, for /docker/HEX and /lxc/NAME); see cgroup_id.h. */
#include "cgroup_id.h"

#include <errno.h>
#include <string.h>

int cgroup_path_from_proc(const char *text, size_t len, char *path, size_t path_len)
{
	const char *v1 = NULL, *v2 = NULL, *nul, *line, *end;
	size_t v1_len = 0, v2_len = 0;

	if (!path)
		path_len = 0;
	if (path_len)
		path[0] = '\0';
	if (!text || !len)
		return -ENOENT;
	nul = memchr(text, '\0', len);
	if (nul)
		len = (size_t)(nul - text);
	for (line = text, end = text + len; line < end && !v2;) {
		const char *eol = memchr(line, '\n', (size_t)(end - line)), *c1, *c2 = NULL;

		if (!eol)
			eol = end;
		c1 = memchr(line, ':', (size_t)(eol - line));
		if (c1)
			c2 = memchr(c1 + 1, ':', (size_t)(eol - c1 - 1));
		if (c2 && c2 + 1 < eol) { /* hierarchy:controllers:path, the path not empty */
			if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1) {
				v2 = c2 + 1;
				v2_len = (size_t)(eol - v2);
			} else if (!v1 && c2 - c1 - 1 == 12 &&
				   !memcmp(c1 + 1, "name=systemd", 12)) {
				v1 = c2 + 1;
				v1_len = (size_t)(eol - v1);
			}
		}
		line = eol + 1;
	}
	if (!v2) {
		v2 = v1;
		v2_len = v1_len;
	}
	if (!v2)
		return -ENOENT;
	if (v2_len >= path_len)
		return -ENAMETOOLONG;
	memcpy(path, v2, v2_len);
	path[v2_len] = '\0';
	return 0;
}

static bool starts(const char *s, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && !memcmp(s, prefix, k);
}

static bool ends(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && !memcmp(s + n - k, suffix, k);
}

static bool is(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && !memcmp(s, word, n);
}

static bool is_hex64(const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool is_name(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= 'A' && ch <= 'Z') || (ch && strchr("_.@:-", ch))))
			return false;
	}
	return true;
}

/* Copies s[0..n) into dst[size] when it fits with its NUL. */
static bool put(char *dst, size_t size, const char *s, size_t n)
{
	if (n >= size)
		return false;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return true;
}

static bool put_container(struct cgroup_container *c, const char *runtime, const char *id, size_t n)
{
	if (!put(c->id, sizeof(c->id), id, n))
		return false;
	put(c->runtime, sizeof(c->runtime), runtime, strlen(runtime));
	return true;
}

/* A pod UID as the path spells it: hex with '-' (cgroupfs) or '_' (systemd), given back
 * with '-'. */
static void put_pod(struct cgroup_container *c, const char *s, size_t n)
{
	if (!n || n >= sizeof(c->pod))
		return;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || s[i] == '-' ||
		      s[i] == '_'))
			return;
	for (size_t i = 0; i < n; i++)
		c->pod[i] = s[i] == '_' ? '-' : s[i];
	c->pod[n] = '\0';
}

/* PREFIX-HEX or PREFIX-HEX.scope: the systemd driver's scopes (and cgroupfs' directories). */
static const struct {
	const char *prefix, *runtime;
} scopes[] = {
    {"docker-", "docker"}, {"cri-containerd-", "containerd"}, {"crio-conmon-", "cri-o"},
    {"crio-", "cri-o"},	   {"libpod-conmon-", "podman"},      {"libpod-payload-", "podman"},
    {"libpod-", "podman"},
};

struct walk {
	const char *prev; /* the component before, and its length */
	size_t prev_n;
	bool kube;     /* a kubepods component was seen */
	char unit[80]; /* the last NAME.service */
};

static void component(struct cgroup_container *c, struct walk *w, const char *s, size_t n)
{
	size_t hex_n = ends(s, n, ".scope") ? n - 6 : n;

	for (size_t i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
		size_t k = strlen(scopes[i].prefix);

		if (starts(s, hex_n, scopes[i].prefix) && is_hex64(s + k, hex_n - k)) {
			put_container(c, scopes[i].runtime, s + k, 64);
			return;
		}
	}
	if (is_hex64(s, n)) {
		if (is(w->prev, w->prev_n, "docker"))
			put_container(c, "docker", s, n);
		else if (w->kube)
			put_container(c, "containerd", s, n);
		return;
	}
	if (starts(s, n, "lxc.payload.")) {
		if (is_name(s + 12, n - 12))
			put_container(c, "lxc", s + 12, n - 12);
		return;
	}
	if (is(w->prev, w->prev_n, "lxc") && is_name(s, n)) {
		put_container(c, "lxc", s, n);
		return;
	}
	if (starts(s, n, "kubepods")) {
		w->kube = true;
		/* kubepods[-QOS]-podUID.slice: the UID after the last '-' */
		if (starts(s, n, "kubepods-") && ends(s, n, ".slice")) {
			size_t end = n - 6, dash = end;

			while (dash > 0 && s[dash - 1] != '-')
				dash--;
			if (starts(s + dash, end - dash, "pod"))
				put_pod(c, s + dash + 3, end - dash - 3);
		}
		return;
	}
	if (w->kube && starts(s, n, "pod")) { /* cgroupfs: /kubepods[/QOS]/podUID */
		put_pod(c, s + 3, n - 3);
		return;
	}
	if (n > 8 && ends(s, n, ".service") && is_name(s, n))
		put(w->unit, sizeof(w->unit), s, n);
}

bool cgroup_container_of(const char *path, struct cgroup_container *c)
{
	struct walk w = {.prev = "", .prev_n = 0};

	memset(c, 0, sizeof(*c));
	if (!path)
		return false;
	for (const char *s = path; *s;) {
		size_t n = strcspn(s, "/");

		if (n) {
			component(c, &w, s, n);
			w.prev = s;
			w.prev_n = n;
		}
		s += n;
		if (*s)
			s++;
	}
	if (!c->runtime[0] && w.unit[0])
		put_container(c, "systemd", w.unit, strlen(w.unit));
	return c->runtime[0] != '\0';
}
