/* ELF checks for OpenSSL (libelf): the functions we probe, libssl's code without them
 * (stripped static builds), and the OpenSSL version of a file; see libfind.h. */
#include "libfind.h"
#include "sslcollector/event.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct elf_file {
	int fd;
	Elf *elf;
};

static int elf_open(const char *path, struct elf_file *f, char *why, size_t why_len)
{
	int ret;

	f->elf = NULL;
	f->fd = -1;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		snprintf(why, why_len, "libelf: %s", elf_errmsg(-1));
		return -EINVAL;
	}
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0) {
		ret = -errno;
		snprintf(why, why_len, "cannot open: %s", strerror(errno));
		return ret;
	}
	f->elf = elf_begin(f->fd, ELF_C_READ_MMAP, NULL);
	if (!f->elf || elf_kind(f->elf) != ELF_K_ELF) {
		snprintf(why, why_len, "not an ELF file");
		return -ENOEXEC;
	}
	return 0;
}

static void elf_close(struct elf_file *f)
{
	if (f->elf)
		elf_end(f->elf);
	if (f->fd >= 0)
		close(f->fd);
}

/* A symbol table, or its strings, larger than this is not read (a check stays bounded). */
#define SYMTAB_MAX (64u << 20)

static bool too_large(Elf *elf, const GElf_Shdr *sh)
{
	GElf_Shdr str;
	Elf_Scn *strscn = elf_getscn(elf, sh->sh_link);

	return sh->sh_size > SYMTAB_MAX || !strscn || !gelf_getshdr(strscn, &str) ||
	       str.sh_size > SYMTAB_MAX;
}

int libfind_elf_symbols(struct Elf *elf, const char *const *names, size_t n, uint64_t *addrs)
{
	const unsigned types[] = {SHT_DYNSYM, SHT_SYMTAB};
	bool skipped = false, first[256] = {false};
	size_t found = 0;

	for (size_t k = 0; k < n; k++) {
		addrs[k] = 0;
		first[(unsigned char)names[k][0]] = true; /* a cheap filter of 100k names */
	}
	for (size_t t = 0; t < 2 && found < n; t++) {
		Elf_Scn *scn = NULL;

		while ((scn = elf_nextscn(elf, scn)) && found < n) {
			GElf_Shdr sh;
			Elf_Data *data;

			if (!gelf_getshdr(scn, &sh) || sh.sh_type != types[t] || !sh.sh_entsize)
				continue;
			if (too_large(elf, &sh)) {
				skipped = true;
				continue;
			}
			data = elf_getdata(scn, NULL);
			if (!data)
				continue;
			for (size_t i = 0; i < sh.sh_size / sh.sh_entsize && found < n; i++) {
				GElf_Sym sym;
				const char *name;

				if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF ||
				    GELF_ST_TYPE(sym.st_info) != STT_FUNC || !sym.st_value)
					continue;
				name = elf_strptr(elf, sh.sh_link, sym.st_name);
				if (!name || !first[(unsigned char)name[0]])
					continue;
				for (size_t k = 0; k < n; k++)
					if (!addrs[k] && !strcmp(name, names[k])) {
						addrs[k] = sym.st_value;
						found++;
					}
			}
		}
	}
	return found == n || !skipped ? 0 : -EFBIG;
}

/* 1 if SSL_read and SSL_write are defined, 0 if not, -EFBIG if a table was too large to
 * look at. */
static int ssl_symbols(Elf *elf)
{
	static const char *const names[] = {"SSL_read", "SSL_write"};
	uint64_t a[2];
	int ret = libfind_elf_symbols(elf, names, 2, a);

	return ret < 0 ? ret : a[0] && a[1];
}

/* The kind (enum tls_kind) by the symbols, -EFBIG if a table was too large to look at. */
static int kind_symbols(Elf *elf)
{
	static const char *const names[] = {
	    "SSL_read",	    "SSL_write", "gnutls_record_recv", "gnutls_record_send2",
	    "SSL_ImportFD", "PR_Read",	 "PR_Write",	       "PR_GetUniqueIdentity"};
	uint64_t a[8];
	int ret = libfind_elf_symbols(elf, names, 8, a);

	if (a[0] && a[1])
		return TLS_KIND_OPENSSL;
	if (a[2] && a[3])
		return TLS_KIND_GNUTLS;
	if (a[4])
		return TLS_KIND_NSS;
	if (a[5] && a[6] && a[7])
		return TLS_KIND_NSPR;
	return ret < 0 ? ret : TLS_KIND_NONE;
}

const char *libfind_kind_name(int kind)
{
	switch (kind) {
	case TLS_KIND_OPENSSL:
		return "OpenSSL";
	case TLS_KIND_GNUTLS:
		return "GnuTLS";
	case TLS_KIND_NSS:
		return "NSS";
	case TLS_KIND_NSPR:
		return "NSPR (NSS)";
	default:
		return "?";
	}
}

int libfind_kind_lib(int kind)
{
	switch (kind) {
	case TLS_KIND_GNUTLS:
		return SSLC_LIB_GNUTLS;
	case TLS_KIND_NSS:
	case TLS_KIND_NSPR:
		return SSLC_LIB_NSS;
	default:
		return SSLC_LIB_OPENSSL;
	}
}

static int symbols_result(int found, char *why, size_t why_len)
{
	if (found == -EFBIG)
		snprintf(why, why_len, "symbol table over %u MiB: not looked at", SYMTAB_MAX >> 20);
	return found;
}

int libfind_tls_kind(const char *path, char *why, size_t why_len)
{
	struct elf_file f;
	int ret = elf_open(path, &f, why, why_len), found;

	if (ret == 0) {
		found = symbols_result(kind_symbols(f.elf), why, why_len);
		if (found == TLS_KIND_NONE)
			snprintf(
			    why, why_len,
			    "none of SSL_read/SSL_write, gnutls_record_recv/gnutls_record_send2, "
			    "SSL_ImportFD, PR_Read/PR_Write defined (not a TLS library we know, "
			    "or stripped)");
		ret = found == TLS_KIND_NONE ? -ENOENT : found;
	}
	elf_close(&f);
	return ret;
}

int libfind_check_elf(const char *path, char *why, size_t why_len)
{
	int ret = libfind_tls_kind(path, why, why_len);

	return ret > 0 ? 0 : ret;
}

/* ---- OpenSSL versions ---------------------------------------------------------------------- */

static const char *parse_uint(const char *p, const char *end, unsigned *out)
{
	unsigned v = 0;
	const char *start = p;

	while (p < end && p - start < 4 && isdigit((unsigned char)*p))
		v = v * 10 + (unsigned)(*p++ - '0');
	if (p == start)
		return NULL;
	*out = v;
	return p;
}

/* "3.0.13" or, with sep '_', "1_1_1": the three numbers; NULL if p does not begin so. */
static const char *parse_release(const char *p, const char *end, char sep,
				 struct openssl_version *v)
{
	p = parse_uint(p, end, &v->major);
	if (!p || p == end || (*p != sep))
		return NULL;
	p = parse_uint(p + 1, end, &v->minor);
	if (!p || p == end || (*p != sep))
		return NULL;
	return parse_uint(p + 1, end, &v->patch);
}

static bool newer(const struct openssl_version *a, const struct openssl_version *b)
{
	if (a->major != b->major)
		return a->major > b->major;
	if (a->minor != b->minor)
		return a->minor > b->minor;
	return a->patch > b->patch;
}

bool libfind_version_from_symbol_versions(const char *const *names, size_t n,
					  struct openssl_version *v)
{
	struct openssl_version best = {0};
	const char *best_name = NULL;

	for (size_t i = 0; i < n; i++) {
		struct openssl_version c = {0};
		const char *name = names[i], *end = name + strlen(name), *p;

		if (strncmp(name, "OPENSSL_", 8))
			continue;
		/* OPENSSL_1_1_0, OPENSSL_1_1_1 (OPENSSL_1_1_1a: a letter); OPENSSL_3.0.0 */
		p = parse_release(name + 8, end, end - name > 9 && name[9] == '_' ? '_' : '.', &c);
		if (!p || !c.major || (best_name && !newer(&c, &best)))
			continue;
		best = c;
		best_name = name;
	}
	if (!best_name)
		return false;
	*v = best;
	v->or_later = true;
	snprintf(v->text, sizeof(v->text), "%u.%u.%u or later (symbol version %.24s)", v->major,
		 v->minor, v->patch, best_name);
	return true;
}

/* The date OPENSSL_VERSION_TEXT ends with: " 30 Jan 2024", "  3 Sep 2024" (dev builds:
 * " xx XXX xxxx"), then the end of the text. */
static bool is_date(const char *p, const char *end)
{
	size_t n = (size_t)(end - p), i = 0, digits = 0;

	while (i < n && i < 2 && p[i] == ' ')
		i++;
	while (i < n && digits < 2 && (isdigit((unsigned char)p[i]) || p[i] == 'x')) {
		i++;
		digits++;
	}
	if (digits == 0 || digits == i || n - i < 9 || p[i] != ' ' || p[i + 4] != ' ')
		return false;
	for (size_t k = 1; k <= 3; k++)
		if (!isalpha((unsigned char)p[i + k]))
			return false;
	for (size_t k = 5; k <= 8; k++)
		if (!isdigit((unsigned char)p[i + k]) && p[i + k] != 'x')
			return false;
	return n - i == 9 || p[i + 9] == '\0';
}

bool libfind_version_from_text(const char *s, size_t len, struct openssl_version *v)
{
	const char *end = s + len, *p, *tag;
	struct openssl_version c = {0};
	int tag_len;

	if (len < 8 || memcmp(s, "OpenSSL ", 8))
		return false;
	p = parse_release(s + 8, end, '.', &c);
	if (!p)
		return false;
	tag = p; /* 1.1.1w, 3.0.15+quic, 3.2.0-dev, 1.1.1k  FIPS */
	while (p < end && p - tag < 24 && (isalnum((unsigned char)*p) || strchr("+-._", *p)))
		p++;
	tag_len = (int)(p - tag);
	if (end - p > 6 && !memcmp(p, "  FIPS", 6))
		p += 6;
	if (!is_date(p, end))
		return false;
	*v = c;
	snprintf(v->text, sizeof(v->text), "%u.%u.%u%.*s", c.major, c.minor, c.patch, tag_len, tag);
	return true;
}

/* The texts looked for in read-only data, stored with their letters' case flipped and turned
 * back at run time (tolower(), which the compiler does not fold): the agent's own data must
 * not hold them, or it would find OpenSSL in itself. */
enum {
	MARK_SOURCE,
	MARK_REASON,
	MARK_PARAM,
	N_MARKS
};
static const char *const flipped_marks[N_MARKS] = {
    /* libssl's: a source file's name (OPENSSL_FILE, in every error it raises) or, in builds
     * without file names, one of its error texts */
    [MARK_SOURCE] = "SSL/SSL_LIB.C",
    [MARK_REASON] = "UNSAFE LEGACY RENEGOTIATION DISABLED",
    /* OpenSSL 3's providers' parameter, its value (the version) after it */
    [MARK_PARAM] = "OPENSSL-VERSION",
};

struct marks {
	char text[N_MARKS][40];
	size_t len[N_MARKS]; /* with the NUL */
};

static void marks_init(struct marks *m)
{
	for (size_t i = 0; i < N_MARKS; i++) {
		size_t n = strlen(flipped_marks[i]);

		for (size_t k = 0; k < n; k++)
			m->text[i][k] = (char)tolower((unsigned char)flipped_marks[i][k]);
		m->text[i][n] = '\0';
		m->len[i] = n + 1;
	}
}

/* The providers' parameter at s: its name, padding, then "3.0.13". */
static bool version_from_param(const char *s, size_t name_len, const char *end,
			       struct openssl_version *v)
{
	struct openssl_version c = {0};
	const char *p = s + name_len;

	for (int pad = 0; p < end && *p == '\0' && pad < 16; pad++)
		p++;
	p = parse_release(p, end, '.', &c);
	if (!p || p == end || *p != '\0' || c.major < 3)
		return false;
	*v = c;
	snprintf(v->text, sizeof(v->text), "%u.%u.%u", c.major, c.minor, c.patch);
	return true;
}

void libfind_scan_buffer(const char *buf, size_t len, struct openssl_inside *in)
{
	const char *end = buf + len, *p;
	struct marks m;

	marks_init(&m);
	for (size_t i = MARK_SOURCE; i <= MARK_REASON && !in->libssl; i++)
		in->libssl = memmem(buf, len, m.text[i], m.len[i]) != NULL;
	for (p = buf; !in->version_text && (p = memmem(p, (size_t)(end - p), "OpenSSL ", 8)); p++)
		in->version_text = libfind_version_from_text(p, (size_t)(end - p), &in->version);
	for (p = buf; !in->version_text && !in->version.major &&
		      (p = memmem(p, (size_t)(end - p), m.text[MARK_PARAM], m.len[MARK_PARAM]));
	     p++)
		version_from_param(p, m.len[MARK_PARAM], end, &in->version);
}

#define SCAN_CHUNK   (1u << 20)
#define SCAN_OVERLAP 128 /* longer than any text looked for */

/* Reads [off, off + size) of the file in chunks into libfind_scan_buffer until *budget is
 * spent or everything is found. false when done. */
static bool scan_range(int fd, uint64_t off, uint64_t size, size_t *budget, char *buf,
		       struct openssl_inside *in)
{
	for (uint64_t pos = 0; pos < size && *budget; pos += SCAN_CHUNK) {
		size_t want = SCAN_CHUNK + SCAN_OVERLAP;
		ssize_t n;

		if (want > size - pos)
			want = (size_t)(size - pos);
		if (want > *budget)
			want = *budget;
		n = pread(fd, buf, want, (off_t)(off + pos));
		if (n <= 0)
			return true;
		*budget -= (size_t)n < SCAN_CHUNK ? (size_t)n : SCAN_CHUNK;
		libfind_scan_buffer(buf, (size_t)n, in);
		if (in->libssl && in->version_text)
			return false;
	}
	return true;
}

/* The read-only data of an ELF file: its .rodata* sections, or without section headers its
 * read-only segments. */
static void scan_read_only(const struct elf_file *f, struct openssl_inside *in)
{
	size_t budget = LIBFIND_SCAN_MAX, shstrndx, n;
	char *buf = malloc(SCAN_CHUNK + SCAN_OVERLAP);
	bool more = true, any_section = false;
	Elf_Scn *scn = NULL;

	if (!buf)
		return;
	if (elf_getshdrstrndx(f->elf, &shstrndx) == 0) {
		while (more && (scn = elf_nextscn(f->elf, scn))) {
			GElf_Shdr sh;
			const char *name;

			if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
			    (sh.sh_flags & (SHF_WRITE | SHF_EXECINSTR)) ||
			    !(sh.sh_flags & SHF_ALLOC))
				continue;
			name = elf_strptr(f->elf, shstrndx, sh.sh_name);
			if (!name || strncmp(name, ".rodata", 7))
				continue;
			any_section = true;
			more = scan_range(f->fd, sh.sh_offset, sh.sh_size, &budget, buf, in);
		}
	}
	if (!any_section && elf_getphdrnum(f->elf, &n) == 0) {
		for (size_t i = 0; more && i < n; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(f->elf, (int)i, &ph) && ph.p_type == PT_LOAD &&
			    !(ph.p_flags & (PF_W | PF_X)))
				more =
				    scan_range(f->fd, ph.p_offset, ph.p_filesz, &budget, buf, in);
		}
	}
	free(buf);
}

int libfind_check_executable(const char *path, char *why, size_t why_len)
{
	struct openssl_inside in = {0};
	struct elf_file f;
	int ret = elf_open(path, &f, why, why_len);

	if (ret)
		goto out;
	ret = symbols_result(ssl_symbols(f.elf), why, why_len);
	if (ret) {
		if (ret == 1)
			snprintf(why, why_len, "OpenSSL linked in");
		goto out; /* LIBFIND_OPENSSL, or -EFBIG */
	}
	scan_read_only(&f, &in);
	if (in.libssl) {
		snprintf(why, why_len, "OpenSSL%s%s linked in without symbols (stripped)",
			 in.version.major ? " " : "", in.version.text);
		ret = LIBFIND_OPENSSL_STRIPPED;
	} else {
		snprintf(why, why_len, "no OpenSSL inside");
		ret = LIBFIND_NO_OPENSSL;
	}
out:
	elf_close(&f);
	return ret;
}

/* The names of the symbol versions the file defines (SHT_GNU_verdef). */
static size_t verdef_names(Elf *elf, const char **names, size_t max)
{
	Elf_Scn *scn = NULL;
	size_t n = 0;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;
		GElf_Verdef vd;
		GElf_Verdaux va;
		int off = 0;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_GNU_verdef)
			continue;
		data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_info && n < max; i++) {
			if (!gelf_getverdef(data, off, &vd) ||
			    !gelf_getverdaux(data, off + (int)vd.vd_aux, &va))
				break;
			const char *name = elf_strptr(elf, sh.sh_link, va.vda_name);
			if (name && !(vd.vd_flags & VER_FLG_BASE))
				names[n++] = name;
			if (!vd.vd_next)
				break;
			off += (int)vd.vd_next;
		}
	}
	return n;
}

int libfind_openssl_version(const char *path, struct openssl_version *v)
{
	struct openssl_inside in = {0};
	const char *names[64];
	char why[128];
	struct elf_file f;
	int ret = elf_open(path, &f, why, sizeof(why));

	memset(v, 0, sizeof(*v));
	if (ret)
		goto out;
	if (!libfind_version_from_symbol_versions(names, verdef_names(f.elf, names, 64), v)) {
		scan_read_only(&f, &in);
		*v = in.version;
	}
out:
	elf_close(&f);
	return ret;
}
