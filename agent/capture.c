/* libbpf skeleton life cycle of the capture programs: open -> set rodata and ring size ->
 * load -> attach tracepoints; uprobes per TLS library file; ring buffer consumption.
 *
 * The ring buffer is read by a consumer of our own rather than libbpf's, which gives each
 * record's space back to the BPF side as soon as its callback returns. Ours gives the space
 * back only after the sync callback (capture_set_sync), every CAPTURE_HOLD_BYTES and at the
 * end of each capture_consume(), so that -o can send payloads straight from their records. */
#include "capture.h"
#include "capture_bpf.skel.h"
#include "link_reaper.h"
#include "probesite.h"
#include "probetable.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct probed_file {
	dev_t dev;
	ino_t ino;
	bool alias;   /* another name of a probed file: no links of its own */
	dev_t of_dev; /* an alias: the probed file's */
	ino_t of_ino;
	int kind; /* enum tls_kind */
	struct bpf_link *links[PROBES_MAX];
};

/* The BPF ring buffer as mapped by its consumer: the kernel's layout (kernel/bpf/ringbuf.c). */
struct ring {
	int fd;
	size_t page;
	uint64_t mask;		      /* data size - 1 */
	uint64_t *consumer_pos;	      /* page 0, ours to write */
	const uint64_t *producer_pos; /* page 1, read-only */
	const uint8_t *data;	      /* from page 2: the data area, mapped twice in a row */
	uint64_t pos;		      /* records before it are delivered; not given back yet */
	uint64_t hold_max;	      /* give space back after this much at the latest */
};

struct capture {
	struct capture_bpf *skel;
	struct ring ring;
	capture_event_fn fn;
	void *ctx;
	capture_sync_fn sync;
	void *sync_ctx;
	struct probed_file *files;
	size_t n_files, cap_files;
	struct link_reaper *reaper; /* the links of files no longer probed */
	int ncpus;
	bool syscall_hook;   /* the sockets are named by the syscall hook */
	char hooks_why[256]; /* ... why, when not asked for */
};

static int ring_map(struct ring *r, int fd, uint64_t size)
{
	void *p;

	r->fd = fd;
	r->page = (size_t)sysconf(_SC_PAGESIZE);
	r->mask = size - 1;
	p = mmap(NULL, r->page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	r->consumer_pos = p;
	/* the producer page, then the data pages twice: a record never wraps for the reader */
	p = mmap(NULL, r->page + 2 * size, PROT_READ, MAP_SHARED, fd, (off_t)r->page);
	if (p == MAP_FAILED) {
		int err = -errno;

		munmap(r->consumer_pos, r->page);
		r->consumer_pos = NULL;
		return err;
	}
	r->producer_pos = p;
	r->data = (const uint8_t *)p + r->page;
	r->pos = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
	r->hold_max = size / 4 < CAPTURE_HOLD_BYTES ? size / 4 : CAPTURE_HOLD_BYTES;
	return 0;
}

static void ring_unmap(struct ring *r)
{
	if (r->consumer_pos)
		munmap(r->consumer_pos, r->page);
	if (r->producer_pos)
		munmap((void *)r->producer_pos, r->page + 2 * (r->mask + 1));
	r->consumer_pos = NULL;
	r->producer_pos = NULL;
}

/* Gives the space of every delivered record back to the BPF side, once whatever refers to
 * their bytes is done with them. */
static void ring_release(struct capture *c)
{
	struct ring *r = &c->ring;

	if (*r->consumer_pos == r->pos)
		return;
	if (c->sync)
		c->sync(c->sync_ctx);
	__atomic_store_n(r->consumer_pos, r->pos, __ATOMIC_RELEASE);
}

static void explain_load_error(int err, char *msg, size_t len)
{
	if (err == -EPERM || (err == -EACCES && geteuid() != 0))
		snprintf(msg, len,
			 "cannot load the BPF programs: %s (run as root or with CAP_BPF, "
			 "CAP_PERFMON and CAP_SYS_RESOURCE)",
			 strerror(-err));
	else if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
		snprintf(msg, len,
			 "cannot load the BPF programs: the kernel has no BTF "
			 "(/sys/kernel/btf/vmlinux); a kernel built with CONFIG_DEBUG_INFO_BTF=y "
			 "is needed");
	else if (err == -EACCES || err == -E2BIG || err == -EINVAL)
		snprintf(
		    msg, len,
		    "cannot load the BPF programs: the kernel's verifier rejected them (%s); "
		    "kernel 5.17 or newer with BTF is needed; run with -vv for the verifier's log",
		    strerror(-err));
	else
		snprintf(msg, len, "cannot load the BPF programs: %s (run with -vv for details)",
			 strerror(-err));
}

/* The socket hooks (tracepoints sock_send_length, sock_recv_length: Linux 6.3;
 * mmap_lock_start_locking) run only for what they watch; the syscall hook runs for every
 * system call of the machine. false with why filled when the kernel lacks the former. */
static bool socket_hooks_in_kernel(char *why, size_t why_len)
{
	static const struct {
		const char *name;
		enum bpf_attach_type type;
	} need[] = {
	    {"sock_send_length", BPF_TRACE_RAW_TP},
	    {"sock_recv_length", BPF_TRACE_RAW_TP},
	    {"mmap_lock_start_locking", BPF_TRACE_RAW_TP},
	};

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (libbpf_find_vmlinux_btf_id(need[i].name, need[i].type) < 0) {
			snprintf(why, why_len,
				 "the kernel has no tracepoint %s (the socket hooks need Linux 6.3 "
				 "or newer)",
				 need[i].name);
			return false;
		}
	return true;
}

/* Opens, configures, loads and attaches the BPF object with the socket hooks or the syscall
 * hook. On failure, nothing is left loaded. */
static int load_skel(struct capture *c, const struct capture_config *cfg, bool syscall_hook,
		     char *err, size_t err_len)
{
	struct capture_bpf *s;
	int ret;

	s = capture_bpf__open();
	if (!s) {
		ret = -errno;
		snprintf(err, err_len, "cannot open the BPF object: %s", strerror(errno));
		goto fail;
	}
	s->rodata->cfg_netns = cfg->netns;
	s->rodata->cfg_netns_set = cfg->netns_set;
	s->rodata->cfg_any_addr = cfg->any_addr;
	s->rodata->cfg_pid_filter = cfg->n_pids > 0;
	s->rodata->cfg_max_call = cfg->max_call;
	s->rodata->cfg_self_tgid = (uint32_t)getpid();
	/* a quarter of the ring, at most 256 KiB: about 0.3 ms of data at 1 GB/s */
	s->rodata->cfg_wake_bytes = cfg->ring_bytes / 4 < CAPTURE_WAKE_MAX_BYTES
					? cfg->ring_bytes / 4
					: CAPTURE_WAKE_MAX_BYTES;
	s->rodata->cfg_wake_hard_bytes = cfg->ring_bytes / 2;
	ret = bpf_map__set_max_entries(s->maps.events, (uint32_t)cfg->ring_bytes);
	if (ret) {
		snprintf(err, err_len, "--ring-size %llu: %s", (unsigned long long)cfg->ring_bytes,
			 strerror(-ret));
		goto fail;
	}
	/* uprobes are attached per file by capture_attach_file() */
	size_t n_progs;
	const size_t *progs = probetable_programs(&n_progs);
	for (size_t i = 0; i < n_progs; i++)
		bpf_program__set_autoattach(*(struct bpf_program **)((char *)s + progs[i]), false);
	bpf_program__set_autoload(s->progs.sys_enter, syscall_hook);
	bpf_program__set_autoload(s->progs.sock_send_length, !syscall_hook);
	bpf_program__set_autoload(s->progs.sock_recv_length, !syscall_hook);
	bpf_program__set_autoload(s->progs.mmap_lock_start_locking, !syscall_hook);

	ret = capture_bpf__load(s);
	if (ret) {
		explain_load_error(ret, err, err_len);
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_pids; i++) {
		uint32_t pid = (uint32_t)cfg->pids[i];
		uint8_t one = 1;

		ret = bpf_map__update_elem(s->maps.pid_filter, &pid, sizeof(pid), &one, sizeof(one),
					   BPF_ANY);
		if (ret) {
			snprintf(err, err_len, "-p %u: cannot set the filter: %s", pid,
				 strerror(-ret));
			goto fail;
		}
	}
	ret = capture_bpf__attach(s);
	if (ret) {
		snprintf(err, err_len, "cannot attach the tracepoints: %s%s", strerror(-ret),
			 ret == -EPERM ? " (run as root or with CAP_BPF and CAP_PERFMON)" : "");
		goto fail;
	}
	c->skel = s;
	c->syscall_hook = syscall_hook;
	return 0;
fail:
	capture_bpf__destroy(s);
	return ret;
}

int capture_open(const struct capture_config *cfg, capture_event_fn fn, void *ctx,
		 struct capture **out, char *err, size_t err_len)
{
	struct capture *c;
	int ret;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->ctx = ctx;
	c->reaper = link_reaper_new(); /* NULL: links are destroyed in place, slowly */
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0) {
		ret = c->ncpus ? c->ncpus : -EINVAL;
		snprintf(err, err_len, "cannot count the CPUs: %s", strerror(-ret));
		goto fail;
	}

	if (cfg->syscall_hook)
		ret = load_skel(c, cfg, true, err, err_len);
	else if (!socket_hooks_in_kernel(c->hooks_why, sizeof(c->hooks_why)))
		ret = load_skel(c, cfg, true, err, err_len);
	else if ((ret = load_skel(c, cfg, false, err, err_len))) {
		snprintf(c->hooks_why, sizeof(c->hooks_why), "the socket hooks failed: %s", err);
		ret = load_skel(c, cfg, true, err, err_len);
	}
	if (ret)
		goto fail;
	ret = ring_map(&c->ring, bpf_map__fd(c->skel->maps.events), cfg->ring_bytes);
	if (ret) {
		snprintf(err, err_len, "cannot map the ring buffer: %s", strerror(-ret));
		goto fail;
	}
	*out = c;
	return 0;
fail:
	capture_close(c);
	return ret;
}

bool capture_syscall_hook(const struct capture *c, const char **why)
{
	*why = c->hooks_why;
	return c->syscall_hook;
}

void capture_close(struct capture *c)
{
	if (!c)
		return;
	ring_unmap(&c->ring);
	for (size_t i = 0; i < c->n_files; i++)
		for (size_t p = 0; p < PROBES_MAX; p++)
			bpf_link__destroy(c->files[i].links[p]);
	free(c->files);
	link_reaper_free(c->reaper);
	capture_bpf__destroy(c->skel);
	free(c);
}

bool capture_file_attached(const struct capture *c, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < c->n_files; i++)
		if (c->files[i].dev == dev && c->files[i].ino == ino)
			return true;
	return false;
}

void capture_note_library(struct capture *c, dev_t dev, ino_t ino)
{
	struct sslc_lib_key key = {(uint32_t)(major(dev) << 20 | minor(dev)), 0, (uint64_t)ino};
	uint8_t one = 1;

	bpf_map__update_elem(c->skel->maps.known_libs, &key, sizeof(key), &one, sizeof(one),
			     BPF_ANY);
}

static int add_file(struct capture *c, const struct probed_file *f)
{
	if (c->n_files == c->cap_files) {
		size_t cap = c->cap_files ? c->cap_files * 2 : 8;
		struct probed_file *nf = realloc(c->files, cap * sizeof(*nf));

		if (!nf)
			return -ENOMEM;
		c->files = nf;
		c->cap_files = cap;
	}
	c->files[c->n_files++] = *f;
	return 0;
}

int capture_alias_file(struct capture *c, dev_t dev0, ino_t ino0, dev_t dev, ino_t ino)
{
	struct probed_file alias = {
	    .dev = dev, .ino = ino, .alias = true, .of_dev = dev0, .of_ino = ino0};

	if (!capture_file_attached(c, dev0, ino0))
		return -ENOENT;
	if (capture_file_attached(c, dev, ino))
		return 0;
	return add_file(c, &alias);
}

static void forget_library(struct capture *c, dev_t dev, ino_t ino)
{
	struct sslc_lib_key key = {(uint32_t)(major(dev) << 20 | minor(dev)), 0, (uint64_t)ino};

	bpf_map__delete_elem(c->skel->maps.known_libs, &key, sizeof(key), 0);
}

int capture_detach_file(struct capture *c, dev_t dev, ino_t ino)
{
	bool found = false;
	size_t i = 0;

	while (i < c->n_files) {
		struct probed_file *f = &c->files[i];

		if ((f->dev == dev && f->ino == ino && !f->alias) ||
		    (f->alias && f->of_dev == dev && f->of_ino == ino)) {
			for (size_t p = 0; p < PROBES_MAX; p++)
				link_reaper_add(c->reaper, f->links[p]);
			forget_library(c, f->dev, f->ino);
			found |= !f->alias;
			c->files[i] = c->files[--c->n_files];
			continue;
		}
		i++;
	}
	return found ? 0 : -ENOENT;
}

int capture_file_at(const struct capture *c, size_t i, dev_t *dev, ino_t *ino, dev_t *of_dev,
		    ino_t *of_ino)
{
	if (i >= c->n_files)
		return -ENOENT;
	*dev = c->files[i].dev;
	*ino = c->files[i].ino;
	*of_dev = c->files[i].alias ? c->files[i].of_dev : c->files[i].dev;
	*of_ino = c->files[i].alias ? c->files[i].of_ino : c->files[i].ino;
	return 0;
}

void capture_forget_library(struct capture *c, dev_t dev, ino_t ino)
{
	forget_library(c, dev, ino);
}

size_t capture_files_attached(const struct capture *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_files; i++)
		n += !c->files[i].alias;
	return n;
}

/* The log's words for where a probed file's reads and writes are caught. */
static void describe_sites(int kind, const struct probe_sites *sites, char *why, size_t why_len)
{
	switch (kind) {
	case TLS_KIND_OPENSSL:
		snprintf(why, why_len, "%s%s%s",
			 sites->read_internal && sites->write_internal
			     ? "at ssl_read_internal and ssl_write_internal"
			 : sites->read_internal || sites->write_internal
			     ? "partly at the internal functions"
			     : "at the exported functions",
			 sites->why[0] ? "; " : "", sites->why);
		break;
	case TLS_KIND_GNUTLS:
		snprintf(why, why_len, "of GnuTLS at gnutls_record_send2 and %s%s%s",
			 sites->read_internal ? "_gnutls_recv_int (internal)"
					      : "gnutls_record_recv(_seq)",
			 sites->why[0] ? "; " : "", sites->why);
		break;
	case TLS_KIND_NSS:
		snprintf(why, why_len, "of NSS: learns its SSL descriptors at SSL_ImportFD");
		break;
	default:
		snprintf(why, why_len,
			 "of NSS at PR_Read, PR_Write, PR_Recv, PR_Send and PR_Writev, of SSL "
			 "descriptors only");
		break;
	}
}

int capture_attach_file(struct capture *c, const char *path, dev_t dev, ino_t ino, char *why,
			size_t why_len)
{
	struct probed_file f = {.dev = dev, .ino = ino};
	const char *names[PROBES_MAX];
	uint64_t sym_off[PROBES_MAX];
	struct probe_sites sites = {0};
	const struct probe_def *probes;
	bool have_handshake = false;
	size_t n_probes;
	int ret = 0;

	if (capture_file_attached(c, dev, ino))
		return 1;
	f.kind = libfind_tls_kind(path, why, why_len);
	if (f.kind < 0)
		return f.kind;
	probes = probetable_for(f.kind, &n_probes);
	if (f.kind == TLS_KIND_OPENSSL)
		ret = probesite_find(path, &sites, why, why_len);
	else if (f.kind == TLS_KIND_GNUTLS)
		ret = probesite_find_gnutls(path, &sites, why, why_len);
	if (ret)
		return ret;
	for (size_t i = 0; i < n_probes; i++)
		names[i] = probes[i].symbol;
	ret = probesite_symbols(path, names, n_probes, sym_off);
	if (ret) {
		snprintf(why, why_len, "cannot read its symbols: %s", strerror(-ret));
		return ret;
	}
	for (size_t i = 0; i < n_probes; i++) {
		struct bpf_program *prog =
		    *(struct bpf_program **)((char *)c->skel + probes[i].prog_offset);
		LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = probes[i].retprobe);
		size_t offset = sym_off[i]; /* a file offset */

		switch (probes[i].when) {
		case ALWAYS:
			break;
		case NO_READ_INTERNAL:
			if (sites.read_internal)
				continue;
			break;
		case NO_WRITE_INTERNAL:
			if (sites.write_internal)
				continue;
			break;
		case READ_INTERNAL:
		case WRITE_INTERNAL:
			offset = probes[i].when == READ_INTERNAL ? sites.read_internal
								 : sites.write_internal;
			if (!offset)
				continue;
			break;
		case NO_DO_HANDSHAKE:
			if (have_handshake)
				continue;
			break;
		}
		f.links[i] =
		    offset ? bpf_program__attach_uprobe_opts(prog, -1, path, offset, &opts) : NULL;
		if (!offset)
			errno = ENOENT;
		if (f.links[i]) {
			if (!strcmp(probes[i].symbol, "SSL_do_handshake"))
				have_handshake = true;
			continue;
		}
		ret = -errno;
		if (!probes[i].required && ret == -ENOENT) {
			ret = 0;
			continue;
		}
		if (ret == -ENOENT)
			snprintf(why, why_len, "no %s symbol (not %s)", probes[i].symbol,
				 libfind_kind_name(f.kind));
		else
			snprintf(
			    why, why_len, "cannot probe %s: %s%s", probes[i].symbol, strerror(-ret),
			    ret == -EPERM ? " (run as root or with CAP_BPF and CAP_PERFMON)" : "");
		goto fail;
	}
	ret = add_file(c, &f);
	if (ret) {
		snprintf(why, why_len, "out of memory");
		goto fail;
	}
	capture_note_library(c, dev, ino);
	describe_sites(f.kind, &sites, why, why_len);
	return 0;
fail:
	for (size_t i = 0; i < PROBES_MAX; i++)
		bpf_link__destroy(f.links[i]);
	return ret;
}

/* Makes the keys of a hash map (values: 1) exactly keys[0..n), each key_size bytes: adds first,
 * then removes what is gone, so that no kept key is ever missing. */
static int map_replace(struct bpf_map *map, const void *keys, size_t key_size, size_t n)
{
	const uint8_t *k = keys;
	uint8_t key[64], next[64], *stale = NULL;
	size_t n_stale = 0, cap_stale = 0;
	uint8_t one = 1;
	int ret = 0;

	if (key_size > sizeof(key))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		ret = bpf_map__update_elem(map, k + i * key_size, key_size, &one, sizeof(one),
					   BPF_ANY);
		if (ret)
			return ret;
	}
	void *prev = NULL;
	while (bpf_map__get_next_key(map, prev, next, key_size) == 0) {
		bool keep = false;

		for (size_t i = 0; i < n && !keep; i++)
			keep = !memcmp(k + i * key_size, next, key_size);
		if (!keep) {
			if (n_stale == cap_stale) {
				size_t cap = cap_stale ? cap_stale * 2 : 16;
				uint8_t *st = realloc(stale, cap * key_size);

				if (!st) {
					free(stale);
					return -ENOMEM;
				}
				stale = st;
				cap_stale = cap;
			}
			memcpy(stale + n_stale++ * key_size, next, key_size);
		}
		memcpy(key, next, key_size);
		prev = key;
	}
	for (size_t i = 0; i < n_stale; i++)
		bpf_map__delete_elem(map, stale + i * key_size, key_size, 0);
	free(stale);
	return 0;
}

int capture_set_addrs(struct capture *c, const struct sslc_addr_key *addrs, size_t n)
{
	return map_replace(c->skel->maps.local_addrs, addrs, sizeof(*addrs), n);
}

int capture_set_netns(struct capture *c, const uint32_t *inums, size_t n)
{
	return map_replace(c->skel->maps.netns_allowed, inums, sizeof(*inums), n);
}

int capture_exclude_conn(struct capture *c, const struct sslc_conn_key *k, bool on)
{
	uint8_t one = 1;

	if (!on)
		return bpf_map__delete_elem(c->skel->maps.excluded_conns, k, sizeof(*k), 0);
	__atomic_store_n(&c->skel->bss->excluded_used, 1, __ATOMIC_SEQ_CST);
	return bpf_map__update_elem(c->skel->maps.excluded_conns, k, sizeof(*k), &one, sizeof(one),
				    BPF_ANY);
}

int capture_cut_conn(struct capture *c, uint64_t conn_id, bool on)
{
	uint8_t one = 1;

	if (!on)
		return bpf_map__delete_elem(c->skel->maps.cut_conns, &conn_id, sizeof(conn_id), 0);
	__atomic_store_n(&c->skel->bss->cut_used, 1, __ATOMIC_SEQ_CST);
	return bpf_map__update_elem(c->skel->maps.cut_conns, &conn_id, sizeof(conn_id), &one,
				    sizeof(one), BPF_ANY);
}

int capture_inflight_watch(struct capture *c, uint32_t tid, const struct sslc_inflight *w)
{
	int ret = bpf_map__update_elem(c->skel->maps.inflight, &tid, sizeof(tid), w, sizeof(*w),
				       BPF_NOEXIST);

	return ret == -EEXIST ? 1 : ret;
}

uint32_t capture_probe_epoch(const struct capture *c)
{
	return c->skel->bss->probe_epoch;
}

void capture_probe_epoch_advance(struct capture *c)
{
	__atomic_add_fetch(&c->skel->bss->probe_epoch, 1, __ATOMIC_SEQ_CST);
}

void capture_inflight_enable(struct capture *c, bool on)
{
	__atomic_store_n(&c->skel->bss->inflight_watches, on ? 1 : 0, __ATOMIC_SEQ_CST);
}

int capture_inflight_sweep(struct capture *c, capture_inflight_fn drop, void *ctx)
{
	struct bpf_map *map = c->skel->maps.inflight;
	uint32_t key, next, *prev = NULL;
	struct sslc_inflight w;
	int left = 0;

	while (bpf_map__get_next_key(map, prev, &next, sizeof(next)) == 0) {
		key = next;
		prev = &key;
		if (bpf_map__lookup_elem(map, &key, sizeof(key), &w, sizeof(w), 0))
			continue; /* gone meanwhile (the BPF side forgot it) */
		if (drop(ctx, key, &w))
			bpf_map__delete_elem(map, &key, sizeof(key), 0);
		else
			left++;
	}
	return left;
}

int capture_fd(const struct capture *c)
{
	return c->ring.fd;
}

void capture_set_sync(struct capture *c, capture_sync_fn fn, void *ctx)
{
	c->sync = fn;
	c->sync_ctx = ctx;
}

int capture_consume(struct capture *c)
{
	struct ring *r = &c->ring;
	uint64_t held = 0;
	int n = 0, ret = 0;

	for (;;) {
		uint64_t prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);

		if (r->pos >= prod)
			break;
		while (r->pos < prod) {
			const uint8_t *rec = r->data + (r->pos & r->mask);
			uint32_t hdr = __atomic_load_n((const uint32_t *)rec, __ATOMIC_ACQUIRE);
			uint32_t len =
			    hdr & ~(uint32_t)(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
			uint64_t step = ((uint64_t)len + BPF_RINGBUF_HDR_SZ + 7) & ~(uint64_t)7;

			if (hdr & BPF_RINGBUF_BUSY_BIT)
				goto out; /* still being written: the next call takes it */
			if (!(hdr & BPF_RINGBUF_DISCARD_BIT) && len >= sizeof(struct sslc_event)) {
				/* shorter records cannot come from our programs: never trusted */
				ret = c->fn(c->ctx, (const void *)(rec + BPF_RINGBUF_HDR_SZ), len);
				n++;
			}
			r->pos += step;
			held += step;
			if (ret < 0)
				goto out;
			if (held >= r->hold_max) {
				ring_release(c);
				held = 0;
			}
		}
	}
out:
	ring_release(c);
	return ret < 0 ? ret : n;
}

int capture_drain_orphans(struct capture *c)
{
	struct bpf_map *map = c->skel->maps.orphans;
	struct sslc_event e;
	uint64_t key;
	int n = 0;

	/* always restart from the first key: we delete as we go */
	while (bpf_map__get_next_key(map, NULL, &key, sizeof(key)) == 0) {
		if (bpf_map__lookup_and_delete_elem(map, &key, sizeof(key), &e, sizeof(e), 0))
			break;
		int ret = c->fn(c->ctx, &e, sizeof(e));
		if (ret < 0)
			return ret;
		n++;
	}
	if (n && c->sync) /* nothing may refer to e once we return */
		c->sync(c->sync_ctx);
	return n;
}

int capture_counters(const struct capture *c, uint64_t out[SSLC_CNT__MAX])
{
	uint64_t *per_cpu = calloc((size_t)c->ncpus, sizeof(uint64_t));

	if (!per_cpu)
		return -ENOMEM;
	for (uint32_t i = 0; i < SSLC_CNT__MAX; i++) {
		out[i] = 0;
		if (bpf_map__lookup_elem(c->skel->maps.counters, &i, sizeof(i), per_cpu,
					 sizeof(uint64_t) * (size_t)c->ncpus, 0))
			continue;
		for (int cpu = 0; cpu < c->ncpus; cpu++)
			out[i] += per_cpu[cpu];
	}
	free(per_cpu);
	return 0;
}

void capture_proc_stats(struct capture *c, capture_proc_fn fn, void *ctx)
{
	struct bpf_map *m = c->skel->maps.proc_stats;
	uint32_t key, next, *prev = NULL;
	struct sslc_proc_stat st;
	char path[32];

	while (!bpf_map__get_next_key(m, prev, &next, sizeof(next))) {
		key = next;
		prev = &key;
		snprintf(path, sizeof(path), "/proc/%u", key);
		if (access(path, F_OK) < 0) {
			bpf_map__delete_elem(m, &key, sizeof(key), 0);
			continue;
		}
		if (!bpf_map__lookup_elem(m, &key, sizeof(key), &st, sizeof(st), 0))
			fn(ctx, key, &st);
	}
}
