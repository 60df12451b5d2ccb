/* Finds the TLS libraries (libssl) that running processes have mapped, from /proc/PID/maps,
 * including copies inside containers' root filesystems, and each process's executable, and
 * checks ELF files for OpenSSL: the functions we probe, libssl's code without them (stripped
 * static builds) and the OpenSSL version. The proc root is a parameter so tests can use a
 * fake tree. The /proc scans are in libfind.c, the ELF checks in libfind_elf.c. */
#ifndef SSLC_LIBFIND_H
#define SSLC_LIBFIND_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tls_mapping {
	pid_t pid;
	char comm[16];
	char path[PATH_MAX];	  /* the file as the process sees it */
	char open_path[PATH_MAX]; /* where this process (the agent) can open it */
	dev_t dev;		  /* device and inode from the maps line */
	ino_t ino;
	bool deleted;	 /* replaced on disk since it was mapped */
	bool executable; /* the process's executable (any program: OpenSSL inside or not) */
};

/* Called once per distinct TLS library file per process, then once for the process's
 * executable (whatever it is: the callback checks it, libfind_check_executable). Non-zero
 * return stops the scan and is returned by it. */
typedef int (*libfind_fn)(void *ctx, const struct tls_mapping *m);

/* Scans one process. -ENOENT when it is gone. */
int libfind_scan_pid(const char *proc_root, pid_t pid, libfind_fn fn, void *ctx);
/* Scans every process in proc_root. Processes vanishing meanwhile are skipped. */
int libfind_scan_all(const char *proc_root, libfind_fn fn, void *ctx);
/* A mapped file name that looks like a TLS library: an OpenSSL-compatible libssl, GnuTLS's
 * libgnutls.so, NSS's libssl3.so (a libssl too) or NSPR's libnspr4.so. */
bool libfind_is_tls_library(const char *path);

/* The TLS libraries a file can be, by the functions it defines. */
enum tls_kind {
	TLS_KIND_NONE = 0,
	TLS_KIND_OPENSSL = 1, /* SSL_read and SSL_write */
	TLS_KIND_GNUTLS = 2,  /* gnutls_record_recv and gnutls_record_send2 (GnuTLS >= 3.6.3) */
	TLS_KIND_NSS = 3,     /* SSL_ImportFD: NSS's libssl3 */
	TLS_KIND_NSPR = 4,    /* PR_Read, PR_Write and PR_GetUniqueIdentity: NSS's I/O */
};
/* "OpenSSL", "GnuTLS", "NSS", "NSPR (NSS)"; "?" otherwise. */
const char *libfind_kind_name(int kind);
/* The enum sslc_lib of a kind's sessions (NSPR's and NSS's are both NSS). */
int libfind_kind_lib(int kind);
/* The kind of an ELF file (> 0), from its dynamic or static symbol table, else a negative
 * errno with a reason: -ENOENT (none of those functions, or no such file), -ENOEXEC (not
 * ELF), -EFBIG (a symbol table over 64 MiB, not read), ... */
int libfind_tls_kind(const char *path, char *why, size_t why_len);
/* 0 if libfind_tls_kind finds a kind, else its error. */
int libfind_check_elf(const char *path, char *why, size_t why_len);

/* The addresses of the defined functions names[0..n) (0: not defined), in one
 * pass: the dynamic symbols first, which a libssl and an executable exporting OpenSSL
 * (Node.js) have, the static table only for what is still missing. A table or its strings
 * over 64 MiB is not read: -EFBIG when that left some name unfound, else 0. */
struct Elf;
int libfind_elf_symbols(struct Elf *elf, const char *const *names, size_t n, uint64_t *addrs);
/* The network namespace inode of a process (0 if unknown). */
unsigned long libfind_netns(const char *proc_root, pid_t pid);

/* ---- OpenSSL inside a file, and its version ---------------------------------------------- */

/* What a file says of its OpenSSL version. */
struct openssl_version {
	unsigned major, minor, patch; /* 0.0.0: unknown */
	bool or_later;		      /* from symbol versions: at least this version */
	char text[64];		      /* for messages: "3.0.13", "1.1.1w", "3.2.0 or later" */
};

/* What a file's read-only data holds. */
struct openssl_inside {
	bool libssl;	   /* libssl's code: its source file names or error texts */
	bool version_text; /* the version is OPENSSL_VERSION_TEXT's (else the providers') */
	struct openssl_version version; /* libcrypto's version, if found */
};

/* At most this much of a file's read-only data is read looking for OpenSSL (once per file). */
#define LIBFIND_SCAN_MAX (128u << 20)

enum libfind_openssl {
	LIBFIND_NO_OPENSSL = 0,	      /* neither the functions nor libssl's code */
	LIBFIND_OPENSSL = 1,	      /* SSL_read and SSL_write defined: probed like a libssl */
	LIBFIND_OPENSSL_STRIPPED = 2, /* libssl's code inside, without its symbols */
};

/* Whether an executable carries OpenSSL: enum libfind_openssl, or a negative errno when the
 * file cannot be read or a symbol table is too large to (-EFBIG; why says so). For
 * LIBFIND_OPENSSL_STRIPPED, why is the reason it is not mirrored ("OpenSSL 3.0.13 linked in
 * without symbols (stripped)"). Reads the symbol tables (at most 64 MiB each), and the
 * read-only data (at most LIBFIND_SCAN_MAX) only when the symbols are missing. */
int libfind_check_executable(const char *path, char *why, size_t why_len);
/* The OpenSSL version of an ELF file: the highest OPENSSL_* symbol version it defines (a
 * libssl), else the version in its read-only data (an executable with libcrypto linked in).
 * 0 (v->major == 0 when unknown) or a negative errno. */
int libfind_openssl_version(const char *path, struct openssl_version *v);

/* The pieces, exposed for the unit tests. */

/* The highest OpenSSL release among symbol version names (OPENSSL_1_1_1, OPENSSL_3.2.0);
 * other names are ignored. false if none. */
bool libfind_version_from_symbol_versions(const char *const *names, size_t n,
					  struct openssl_version *v);
/* OPENSSL_VERSION_TEXT at s ("OpenSSL 3.0.13 30 Jan 2024", "OpenSSL 1.1.1w  11 Sep 2023",
 * "OpenSSL 3.0.15+quic 3 Sep 2024"): true and *v if s begins with one. */
bool libfind_version_from_text(const char *s, size_t len, struct openssl_version *v);
/* Adds what buf (read-only data) shows to *in. */
void libfind_scan_buffer(const char *buf, size_t len, struct openssl_inside *in);

#endif
