/* Finds the TLS libraries (libssl) that running processes have mapped, from /proc/PID/maps,
 * including copies inside containers' root filesystems, and checks ELF files for the OpenSSL
 * functions we probe. The proc root is a parameter so tests can use a fake tree. */
#ifndef SSLC_LIBFIND_H
#define SSLC_LIBFIND_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tls_mapping {
	pid_t pid;
	char comm[16];
	char path[PATH_MAX];	  /* the file as the process sees it */
	char open_path[PATH_MAX]; /* where this process (the agent) can open it */
	dev_t dev;		  /* device and inode from the maps line */
	ino_t ino;
	bool deleted; /* replaced on disk since it was mapped */
};

/* Called once per distinct TLS library file per process. Non-zero return stops the scan
 * and is returned by it. */
typedef int (*libfind_fn)(void *ctx, const struct tls_mapping *m);

/* Scans one process. -ENOENT when it is gone. */
int libfind_scan_pid(const char *proc_root, pid_t pid, libfind_fn fn, void *ctx);
/* Scans every process in proc_root. Processes vanishing meanwhile are skipped. */
int libfind_scan_all(const char *proc_root, libfind_fn fn, void *ctx);
/* A mapped file name that looks like an OpenSSL-compatible libssl. */
bool libfind_is_tls_library(const char *path);
/* 0 if the ELF file defines SSL_read and SSL_write (dynamic or static symbol table), else a
 * negative errno with a reason: -ENOENT (symbols missing), -ENOEXEC (not ELF), ... */
int libfind_check_elf(const char *path, char *why, size_t why_len);
/* The network namespace inode of a process (0 if unknown). */
unsigned long libfind_netns(const char *proc_root, pid_t pid);

#endif
