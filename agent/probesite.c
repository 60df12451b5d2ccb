/* Finds OpenSSL's internal read/write functions for cheap probes; see probesite.h. */
#include "probesite.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CODE_LEN 128 /* bytes of each function looked at */

static const uint8_t endbr64[] = {0xf3, 0x0f, 0x1e, 0xfa};

static int32_t rel32(const uint8_t *p)
{
	uint32_t v =
	    (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;

	return (int32_t)v;
}

int64_t probesite_forward_target(const uint8_t *code, size_t len, uint64_t addr)
{
	size_t i = 0;

	if (len >= sizeof(endbr64) && !memcmp(code, endbr64, sizeof(endbr64)))
		i += sizeof(endbr64);
	if (i + 4 <= len && code[i] == 0x48 && code[i + 1] == 0x83 && code[i + 2] == 0xec)
		i += 4; /* sub $imm8,%rsp */
	else if (i + 7 <= len && code[i] == 0x48 && code[i + 1] == 0x81 && code[i + 2] == 0xec)
		i += 7; /* sub $imm32,%rsp */
	if (i + 5 > len || code[i] != 0xe8)
		return -1;
	return (int64_t)(addr + i + 5 + (uint64_t)(int64_t)rel32(code + i + 1));
}

bool probesite_calls(const uint8_t *code, size_t len, uint64_t addr, uint64_t target)
{
	for (size_t i = 0; i + 5 <= len; i++)
		if (code[i] == 0xe8 &&
		    addr + i + 5 + (uint64_t)(int64_t)rel32(code + i + 1) == target)
			return true;
	return false;
}

int64_t probesite_gnutls_recv_target(const uint8_t *code, size_t len, uint64_t addr)
{
	static const uint8_t mov_type[] = {0xbe, 0x17, 0x00, 0x00, 0x00}; /* mov $0x17,%esi */
	size_t i = 0;

	while (i + sizeof(mov_type) <= len && memcmp(code + i, mov_type, sizeof(mov_type)))
		i++;
	for (i += sizeof(mov_type); i + 5 <= len; i++)
		if (code[i] == 0xe9)
			return (int64_t)(addr + i + 5 + (uint64_t)(int64_t)rel32(code + i + 1));
	return -1;
}

bool probesite_branches_to(const uint8_t *code, size_t len, uint64_t addr, uint64_t target)
{
	for (size_t i = 0; i + 5 <= len; i++)
		if ((code[i] == 0xe8 || code[i] == 0xe9) &&
		    addr + i + 5 + (uint64_t)(int64_t)rel32(code + i + 1) == target)
			return true;
	return false;
}

/* push r64, call rel32, jmp rel32/rel8: emulated by the kernel's x86 uprobes */
static bool emulated(const uint8_t *code, size_t len)
{
	if (len >= 1 && code[0] >= 0x50 && code[0] <= 0x57)
		return true;
	if (len >= 2 && code[0] == 0x41 && code[1] >= 0x50 && code[1] <= 0x57)
		return true;
	return len >= 1 && (code[0] == 0xe8 || code[0] == 0xe9 || code[0] == 0xeb);
}

int probesite_cheap_entry(const uint8_t *code, size_t len)
{
	if (emulated(code, len))
		return 0;
	if (len > sizeof(endbr64) && !memcmp(code, endbr64, sizeof(endbr64)) &&
	    emulated(code + sizeof(endbr64), len - sizeof(endbr64)))
		return (int)sizeof(endbr64);
	return -1;
}

struct elf_file {
	int fd;
	Elf *elf;
	bool x86_64;
};

/* The file's size: a segment may claim more than there is. */
static uint64_t fd_size(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_size > 0 ? (uint64_t)st.st_size : 0;
}

/* The file offset of an address in an executable PT_LOAD segment; 0 if none. */
static uint64_t file_offset(Elf *elf, uint64_t addr, uint64_t file_size)
{
	size_t n;

	if (elf_getphdrnum(elf, &n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		if (addr >= ph.p_vaddr && addr - ph.p_vaddr < ph.p_filesz) {
			uint64_t off = addr - ph.p_vaddr + ph.p_offset;

			return off >= ph.p_offset && off < file_size ? off : 0;
		}
	}
	return 0;
}

/* CODE_LEN bytes (fewer at the end of the file) at addr; the count read, 0 if none. */
static size_t read_code(const struct elf_file *f, uint64_t addr, uint8_t *buf)
{
	uint64_t off = addr ? file_offset(f->elf, addr, fd_size(f->fd)) : 0;
	ssize_t n;

	if (!off)
		return 0;
	n = pread(f->fd, buf, CODE_LEN, (off_t)off);
	return n > 0 ? (size_t)n : 0;
}

/* The file offset of the internal function that both plain and _ex (at those addresses)
 * forward to; 0 if the layout is not the one we know. */
static uint64_t find_internal(const struct elf_file *f, uint64_t a_plain, uint64_t a_ex)
{
	uint8_t code_plain[CODE_LEN], code_ex[CODE_LEN], code_int[CODE_LEN];
	size_t n_plain = read_code(f, a_plain, code_plain), n_ex = read_code(f, a_ex, code_ex);
	int64_t target;
	size_t n_int;
	int skip;

	if (!n_plain || !n_ex)
		return 0;
	target = probesite_forward_target(code_ex, n_ex, a_ex);
	if (target <= 0 || !probesite_calls(code_plain, n_plain, a_plain, (uint64_t)target))
		return 0;
	n_int = read_code(f, (uint64_t)target, code_int);
	skip = n_int ? probesite_cheap_entry(code_int, n_int) : -1;
	if (skip < 0)
		return 0;
	uint64_t off = file_offset(f->elf, (uint64_t)target, fd_size(f->fd));

	return off && off + (uint64_t)skip < fd_size(f->fd) ? off + (uint64_t)skip : 0;
}

bool probesite_version_ok(const struct openssl_version *v, char *why, size_t why_len)
{
	if (!v->major) {
		snprintf(why, why_len, "OpenSSL version unknown: internal functions not used");
		return false;
	}
	if ((v->major == 1 && v->minor == 1 && v->patch == 1) || (v->major == 3 && v->minor <= 2))
		return true;
	if (v->major > 3 || (v->major == 3 && v->minor >= 3))
		snprintf(why, why_len,
			 "OpenSSL %s: internal functions not used (ssl_write_internal's signature "
			 "changed in 3.3)",
			 v->text);
	else
		snprintf(why, why_len,
			 "OpenSSL %s: internal functions not used (known in 1.1.1 and 3.0 to 3.2)",
			 v->text);
	return false;
}

int probesite_symbols(const char *path, const char *const *names, size_t n, uint64_t *offsets)
{
	Elf *elf;
	int fd;

	for (size_t k = 0; k < n; k++)
		offsets[k] = 0;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		if (elf)
			elf_end(elf);
		close(fd);
		return -ENOEXEC;
	}
	libfind_elf_symbols(elf, names, n, offsets);
	for (size_t k = 0; k < n; k++)
		if (offsets[k])
			offsets[k] = file_offset(elf, offsets[k], fd_size(fd));
	elf_end(elf);
	close(fd);
	return 0;
}

/* Opens path for probesite_find*: 0, or a negative errno with why (f->fd -1 when the file
 * could not be opened; the caller's `out` label closes what is open). out is cleared. */
static int open_elf(const char *path, struct elf_file *f, struct probe_sites *out, char *why,
		    size_t why_len)
{
	GElf_Ehdr eh;
	int ret;

	memset(out, 0, sizeof(*out));
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
	if (!f->elf || elf_kind(f->elf) != ELF_K_ELF || !gelf_getehdr(f->elf, &eh)) {
		snprintf(why, why_len, "not an ELF file");
		return -ENOEXEC;
	}
	f->x86_64 = eh.e_machine == EM_X86_64;
	return 0;
}

int probesite_find(const char *path, struct probe_sites *out, char *why, size_t why_len)
{
	struct elf_file f = {.fd = -1};
	int ret = open_elf(path, &f, out, why, why_len);

	if (ret)
		goto out;
	if (f.x86_64) {
		static const char *const names[] = {"SSL_read", "SSL_read_ex", "SSL_write",
						    "SSL_write_ex"};
		uint64_t a[4] = {0};

		libfind_elf_symbols(f.elf, names, 4, a); /* one pass: 100k symbols in Node.js */
		out->read_internal = find_internal(&f, a[0], a[1]);
		out->write_internal = find_internal(&f, a[2], a[3]);
	}
	/* the layout is that of the releases we know; the version must be one of them too */
	if ((out->read_internal || out->write_internal) &&
	    (libfind_openssl_version(path, &out->version) ||
	     !probesite_version_ok(&out->version, out->why, sizeof(out->why)))) {
		out->read_internal = 0;
		out->write_internal = 0;
		if (!out->why[0])
			snprintf(out->why, sizeof(out->why),
				 "OpenSSL version unreadable: internal functions not used");
	}
out:
	if (f.elf)
		elf_end(f.elf);
	close(f.fd);
	return ret;
}

int probesite_find_gnutls(const char *path, struct probe_sites *out, char *why, size_t why_len)
{
	static const char *const names[] = {"gnutls_record_recv", "gnutls_record_recv_seq",
					    "gnutls_transport_is_ktls_enabled"};
	uint8_t recv[CODE_LEN], seq[CODE_LEN], target[CODE_LEN], ktls[CODE_LEN];
	struct elf_file f = {.fd = -1};
	uint64_t a[3] = {0};
	int ret = open_elf(path, &f, out, why, why_len);

	if (ret || !f.x86_64)
		goto out;
	libfind_elf_symbols(f.elf, names, 3, a);
	size_t n_recv = read_code(&f, a[0], recv), n_seq = read_code(&f, a[1], seq);
	if (!n_recv || !n_seq)
		goto out;
	if (a[2]) {
		size_t n_ktls = read_code(&f, a[2], ktls);

		if (n_ktls < 3 || ktls[0] != 0x31 || ktls[1] != 0xc0 || ktls[2] != 0xc3) {
			snprintf(
			    out->why, sizeof(out->why),
			    "GnuTLS built with kTLS: the exported receive functions are probed");
			goto out;
		}
	}
	int64_t t = probesite_gnutls_recv_target(seq, n_seq, a[1]);
	if (t <= 0 || !probesite_branches_to(recv, n_recv, a[0], (uint64_t)t))
		goto out;
	size_t n_t = read_code(&f, (uint64_t)t, target);
	int skip = n_t ? probesite_cheap_entry(target, n_t) : -1;
	uint64_t off = skip >= 0 ? file_offset(f.elf, (uint64_t)t, fd_size(f.fd)) : 0;
	if (off && off + (uint64_t)skip < fd_size(f.fd))
		out->read_internal = off + (uint64_t)skip;
out:
	if (f.elf)
		elf_end(f.elf);
	close(f.fd);
	return ret;
}
