/* The network namespaces mirrored and what is known of each (netns.h). */
#include "netns.h"
#include "cgroup_id.h"
#include "fnv1a.h"
#include "log.h"
#include "u64map.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef NS_GET_ID
#define NS_GET_ID _IOR(NSIO, 0xd, uint64_t) /* Linux 6.18: the namespace's id (= net cookie) */
#endif
#define INUM_KEY (1ULL << 63) /* keys of namespaces known by inode only (no cookie) */

#define CGROUP_REREAD_NS (2 * 1000000000ULL)
#define LIVENESS_NS	 (5 * 1000000000ULL)
#define VLAN_FIRST	 2 /* 1 is many switches' default VLAN */
#define VLAN_LAST	 4094
#define MAX_CGROUP_DEPTH 16
#define MAX_CHOSEN_NETNS 4096 /* the BPF map's size */

struct ns_entry {
	uint64_t key; /* the cookie, or INUM_KEY | inum */
	uint32_t inum;
	uint16_t vlan;
	char container[96]; /* of the first process seen in it */
};

struct cg_entry {
	uint64_t id;
	char path[256];
	char container[96];
};

struct netns {
	const struct sslc_options *o;
	struct capture *cap;
	uint32_t own;
	struct u64map seen;    /* key -> ns_entry */
	struct u64map cgroups; /* cgroup id -> cg_entry */
	uint8_t vlan_used[(VLAN_LAST + 8) / 8];
	uint32_t paths[SSLC_MAX_NETNS]; /* --netns PATH's inodes */
	size_t n_paths;
	uint32_t *chosen; /* the set pushed to the capture */
	size_t n_chosen;
	const struct ns_entry *last; /* the namespace of the last event (most are the same) */
	uint64_t last_cgroup_ns, last_live_ns, forgotten, cgroups_forgotten;
	bool set_logged;
	bool no_ns_id;	       /* NS_GET_ID is not known here: cookies cannot be told live */
	char cgroup_root[256]; /* where the cgroup v2 hierarchy is mounted ("": nowhere) */
};

/* The cgroup v2 hierarchy's mount point: /sys/fs/cgroup, or /sys/fs/cgroup/unified on hosts
 * that mount the v1 controllers too. A mount of the hierarchy's root is preferred to one of a
 * subtree (a container's own /sys/fs/cgroup, seen from the host's cgroup namespace), so that a
 * host path bind-mounted into the agent's container (docs/kubernetes.md) is the one used. */
static void find_cgroup_root(char *out, size_t len)
{
	char line[1024], root[512], mnt[512], type[64];
	FILE *f = fopen("/proc/self/mountinfo", "re");

	snprintf(out, len, "%s", "");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");

		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - TYPE SOURCE SUPEROPTS */
		if (!sep || sscanf(line, "%*s %*s %*s %511s %511s", root, mnt) != 2 ||
		    sscanf(sep, " - %63s", type) != 1 || strcmp(type, "cgroup2") != 0)
			continue;
		if (strlen(mnt) >= len) /* a longer one is no use */
			continue;
		if (!out[0] || !strcmp(root, "/"))
			memcpy(out, mnt, strlen(mnt) + 1);
		if (!strcmp(root, "/"))
			break;
	}
	fclose(f);
}

int netns_new(const struct sslc_options *o, uint32_t own, struct netns **out, char *err,
	      size_t err_len)
{
	struct netns *n = calloc(1, sizeof(*n));

	if (!n) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	n->o = o;
	n->own = own;
	find_cgroup_root(n->cgroup_root, sizeof(n->cgroup_root));
	for (size_t i = 0; i < o->n_netns; i++) {
		struct stat st;

		if (stat(o->netns_paths[i], &st) < 0) {
			snprintf(err, err_len, "--netns %s: %s", o->netns_paths[i],
				 strerror(errno));
			free(n);
			return -errno;
		}
		n->paths[n->n_paths++] = (uint32_t)st.st_ino;
	}
	if (o->vlan > 0)
		n->vlan_used[o->vlan / 8] |= (uint8_t)(1u << (o->vlan % 8));
	*out = n;
	return 0;
}

void netns_free(struct netns *n)
{
	if (!n)
		return;
	u64map_free_values(&n->seen);
	u64map_free_values(&n->cgroups);
	free(n->chosen);
	free(n);
}

static bool chosen_set(const struct netns *n)
{
	return n->o->n_netns || n->o->n_cgroups;
}

void netns_capture_config(const struct netns *n, struct capture_config *cfg)
{
	cfg->netns = n->o->netns_all || chosen_set(n) ? 0 : n->own;
	cfg->netns_set = chosen_set(n);
}

bool netns_wanted(const struct netns *n, uint32_t inum)
{
	if (n->o->netns_all)
		return true;
	if (!chosen_set(n))
		return inum == n->own;
	for (size_t i = 0; i < n->n_chosen; i++)
		if (n->chosen[i] == inum)
			return true;
	return false;
}

/* ---- --cgroup: the namespaces of a cgroup's processes ------------------------------------ */

static int add_inum(uint32_t **v, size_t *len, size_t *cap, uint32_t inum)
{
	for (size_t i = 0; i < *len; i++)
		if ((*v)[i] == inum)
			return 0;
	if (*len == MAX_CHOSEN_NETNS)
		return -ENOSPC;
	if (*len == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		uint32_t *nv = realloc(*v, c * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	(*v)[(*len)++] = inum;
	return 0;
}

static uint32_t pid_netns(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	return stat(path, &st) == 0 ? (uint32_t)st.st_ino : 0;
}

/* The namespaces of the processes of cgroup dir and of its descendants. */
static void cgroup_walk(const char *dir, int depth, uint32_t **v, size_t *len, size_t *cap)
{
	char path[PATH_MAX];
	FILE *f;
	DIR *d;
	int pid;

	if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= sizeof(path))
		return;
	f = fopen(path, "re");
	if (f) {
		while (fscanf(f, "%d", &pid) == 1) {
			uint32_t inum = pid_netns(pid);

			if (inum)
				add_inum(v, len, cap, inum);
		}
		fclose(f);
	}
	if (depth >= MAX_CGROUP_DEPTH || !(d = opendir(dir)))
		return;
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < sizeof(path))
			cgroup_walk(path, depth + 1, v, len, cap);
	}
	closedir(d);
}

static int refresh_chosen(struct netns *n)
{
	uint32_t *v = NULL;
	size_t len = 0, cap = 0;
	int ret = 0;

	for (size_t i = 0; i < n->n_paths && !ret; i++)
		ret = add_inum(&v, &len, &cap, n->paths[i]);
	for (size_t i = 0; i < n->o->n_cgroups && !ret; i++)
		cgroup_walk(n->o->cgroups[i], 0, &v, &len, &cap);
	if (ret) {
		free(v);
		return ret;
	}
	bool same = len == n->n_chosen;
	for (size_t i = 0; i < len && same; i++)
		same = netns_wanted(n, v[i]);
	if (same) {
		free(v);
		return 0;
	}
	ret = n->cap ? capture_set_netns(n->cap, v, len) : 0;
	if (ret) {
		free(v);
		return ret;
	}
	free(n->chosen);
	n->chosen = v;
	n->n_chosen = len;
	if (n->o->n_cgroups)
		log_info("--cgroup: %zu network namespace%s to mirror now", len,
			 len == 1 ? "" : "s");
	return 0;
}

int netns_start(struct netns *n, struct capture *cap)
{
	n->cap = cap;
	if (!chosen_set(n))
		return 0;
	n->last_cgroup_ns = 0;
	return refresh_chosen(n);
}

/* ---- what is known of each namespace and cgroup ------------------------------------------ */

static uint16_t pick_vlan(struct netns *n, uint32_t inum)
{
	const unsigned span = VLAN_LAST - VLAN_FIRST + 1;
	unsigned v = (unsigned)(fnv1a(FNV1A_OFFSET, &inum, sizeof(inum)) % span);

	for (unsigned i = 0; i < span; i++, v = (v + 1) % span) {
		unsigned vid = VLAN_FIRST + v;

		if (!(n->vlan_used[vid / 8] & (1u << (vid % 8)))) {
			n->vlan_used[vid / 8] |= (uint8_t)(1u << (vid % 8));
			return (uint16_t)vid;
		}
	}
	return 0;
}

static void vlan_free(struct netns *n, uint16_t vid)
{
	if (vid && (int)vid != n->o->vlan)
		n->vlan_used[vid / 8] &= (uint8_t) ~(1u << (vid % 8));
}

/* The cgroup of a process, by its cgroup id: /proc/PID/cgroup names the path, and the
 * directory's inode must be that id (the process may have moved since its event). */
static struct cg_entry *cgroup_of(struct netns *n, uint64_t id, pid_t pid)
{
	struct cg_entry *c = u64map_get(&n->cgroups, id);
	char path[64], text[4096], dir[PATH_MAX];
	struct cgroup_container cc;
	struct stat st;
	size_t len = 0;
	FILE *f;

	if (c || !id)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->id = id;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if ((f = fopen(path, "re"))) {
		len = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
	}
	text[len] = '\0';
	if (len && n->cgroup_root[0] &&
	    cgroup_path_from_proc(text, len, c->path, sizeof(c->path)) == 0 &&
	    (size_t)snprintf(dir, sizeof(dir), "%s%s", n->cgroup_root, c->path) < sizeof(dir) &&
	    stat(dir, &st) == 0 && (uint64_t)st.st_ino == id) {
		if (cgroup_container_of(c->path, &cc))
			snprintf(c->container, sizeof(c->container), "%s:%.12s", cc.runtime, cc.id);
	} else {
		/* gone, or moved: the id is all that is sure */
		snprintf(c->path, sizeof(c->path), "cgroup id %" PRIu64, id);
	}
	if (u64map_put(&n->cgroups, id, c)) {
		free(c);
		return NULL;
	}
	return c;
}

static uint64_t conn_key(const struct sslc_conn *c)
{
	return c->netns_cookie ? c->netns_cookie : INUM_KEY | c->netns;
}

static const struct ns_entry *ns_of(struct netns *n, const struct sslc_event *e,
				    const struct cg_entry *cg)
{
	uint64_t key = conn_key(&e->conn);
	uint32_t inum = e->conn.netns;
	struct ns_entry *s = u64map_get(&n->seen, key);

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->key = key;
	s->inum = inum;
	if (cg)
		snprintf(s->container, sizeof(s->container), "%s", cg->container);
	if (inum != n->own) {
		s->vlan = pick_vlan(n, inum);
		if (!s->vlan)
			log_warn("network namespace %u: no VLAN id left (4093 in use): its "
				 "connections are mirrored untagged",
				 inum);
	}
	if (u64map_put(&n->seen, key, s)) {
		vlan_free(n, s->vlan);
		free(s);
		return NULL;
	}
	if (inum == n->own)
		log_info("network namespace %u (the agent's own): %s", inum,
			 n->o->vlan > 0 ? "VLAN of --vlan" : "untagged");
	else
		log_info("network namespace %u: VLAN %u (pid %u %.16s, cgroup %s%s%s, namespace id "
			 "%" PRIu64 ")",
			 inum, s->vlan, e->pid, e->comm, cg ? cg->path : "unknown",
			 s->container[0] ? ", container " : "", s->container,
			 (uint64_t)e->conn.netns_cookie);
	return s;
}

void netns_labels(struct netns *n, const struct sslc_event *e, struct ns_labels *out)
{
	const struct cg_entry *cg = cgroup_of(n, e->conn.cgroup, (pid_t)e->pid);
	const struct ns_entry *s =
	    n->last && n->last->key == conn_key(&e->conn) ? n->last : ns_of(n, e, cg);

	n->last = s;
	out->netns = e->conn.netns;
	out->own = e->conn.netns == n->own;
	out->vlan = s ? s->vlan : 0;
	out->cgroup = cg ? cg->path : "";
	out->container = cg ? cg->container : "";
}

uint16_t netns_vlan(const struct netns *n, const struct sslc_conn *c)
{
	const struct ns_entry *s = u64map_get(&n->seen, conn_key(c));

	return s ? s->vlan : 0;
}

/* ---- forgetting ------------------------------------------------------------------------- */

/* The namespace id of /proc/PID/ns/net (0: none, or not known here). */
static uint64_t ns_id_of(struct netns *n, const char *path)
{
	uint64_t id = 0;
	int fd;

	if (n->no_ns_id || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (ioctl(fd, NS_GET_ID, &id) < 0) {
		if (errno == ENOTTY || errno == EINVAL)
			n->no_ns_id = true;
		id = 0;
	}
	close(fd);
	return id;
}

/* The namespaces some process holds now, under both keys: inode (each looked at once) and
 * id. */
static void live_namespaces(struct netns *n, struct u64map *live)
{
	static char mark;
	DIR *d = opendir("/proc");

	if (!d)
		return;
	for (struct dirent *de; (de = readdir(d));) {
		char *end, path[64];
		long pid = strtol(de->d_name, &end, 10);
		struct stat st;
		uint64_t id;

		if (*end || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
		if (stat(path, &st) < 0 || u64map_get(live, INUM_KEY | (uint32_t)st.st_ino))
			continue;
		u64map_put(live, INUM_KEY | (uint32_t)st.st_ino, &mark);
		if ((id = ns_id_of(n, path)))
			u64map_put(live, id, &mark);
	}
	closedir(d);
}

static void forget(struct netns *n, uint64_t now)
{
	struct u64map live = {0};
	char dir[PATH_MAX];
	struct stat st;

	n->last_live_ns = now;
	live_namespaces(n, &live);
	if (!live.len) { /* /proc unreadable: forget nothing */
		u64map_free(&live);
		return;
	}
	for (size_t i = 0; i < n->seen.cap; i++) {
		struct ns_entry *s;

		if (!u64map_live(&n->seen, i))
			continue;
		s = n->seen.vals[i];
		/* without NS_GET_ID a cookie is live while its inode is: the best there is */
		if (u64map_get(&live, s->key) ||
		    ((n->no_ns_id || s->key & INUM_KEY) && u64map_get(&live, INUM_KEY | s->inum)))
			continue;
		s = u64map_del(&n->seen, s->key);
		log_info("network namespace %u: forgotten (VLAN %u, namespace id %" PRIu64 ")",
			 s->inum, s->vlan, s->key & INUM_KEY ? 0 : s->key);
		vlan_free(n, s->vlan);
		free(s);
		n->forgotten++;
	}
	u64map_free(&live);
	for (size_t i = 0; i < n->cgroups.cap; i++) {
		struct cg_entry *c;

		if (!u64map_live(&n->cgroups, i))
			continue;
		c = n->cgroups.vals[i];
		if (c->path[0] == '/' &&
		    (size_t)snprintf(dir, sizeof(dir), "%s%s", n->cgroup_root, c->path) <
			sizeof(dir) &&
		    stat(dir, &st) == 0 && (uint64_t)st.st_ino == c->id)
			continue;
		free(u64map_del(&n->cgroups, c->id));
		n->cgroups_forgotten++;
	}
	n->last = NULL;
}

void netns_run(struct netns *n, uint64_t now)
{
	if (n->o->n_cgroups && now - n->last_cgroup_ns >= CGROUP_REREAD_NS) {
		int ret = refresh_chosen(n);

		n->last_cgroup_ns = now;
		if (ret && !n->set_logged)
			log_warn("--cgroup: cannot update the namespaces to mirror: %s",
				 strerror(-ret));
		n->set_logged = ret != 0;
	}
	if (now - n->last_live_ns >= LIVENESS_NS)
		forget(n, now);
}

void netns_metrics(const struct netns *n, struct metrics_buf *mb)
{
	char labels[256], esc[200];

	metrics_single(mb, "sslcollector_agent_netns_known", "gauge",
		       "Network namespaces whose connections were seen and that still exist",
		       n->seen.len);
	metrics_single(mb, "sslcollector_agent_netns_forgotten_total", "counter",
		       "Network namespaces forgotten since they no longer exist (VLAN id freed)",
		       n->forgotten);
	metrics_single(mb, "sslcollector_agent_cgroups_known", "gauge",
		       "Cgroups of mirrored connections remembered (for their labels)",
		       n->cgroups.len);
	metrics_family(mb, "sslcollector_agent_netns_vlan", "gauge",
		       "The 802.1Q VLAN id of each network namespace's mirrored connections (0: "
		       "untagged)");
	for (size_t i = 0; i < n->seen.cap; i++) {
		const struct ns_entry *s;

		if (!u64map_live(&n->seen, i))
			continue;
		s = n->seen.vals[i];
		metrics_escape(s->container, esc, sizeof(esc));
		snprintf(labels, sizeof(labels),
			 "netns=\"%u\",netns_id=\"%" PRIu64 "\",container=\"%s\"", s->inum,
			 s->key & INUM_KEY ? 0 : s->key, esc);
		metrics_sample(mb, "sslcollector_agent_netns_vlan", labels,
			       s->vlan				     ? s->vlan
			       : s->inum == n->own && n->o->vlan > 0 ? (uint64_t)n->o->vlan
								     : 0);
	}
}
