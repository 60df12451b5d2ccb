/* TLS library discovery in /proc/PID/maps and ELF symbol checks (libelf). */
#include "libfind.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

bool libfind_is_tls_library(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	/* libssl.so, libssl.so.3, libssl.so.1.1, libssl-abc123.so.3 (Python wheels) ... */
	return !strncmp(base, "libssl", 6) && strstr(base, ".so") != NULL;
}

static void read_comm(const char *proc_root, pid_t pid, char *comm, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(comm, len, "?");
	snprintf(path, sizeof(path), "%s/%d/comm", proc_root, (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(comm, (int)len, f))
		comm[strcspn(comm, "\n")] = '\0';
	fclose(f);
}

unsigned long libfind_netns(const char *proc_root, pid_t pid)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%d/ns/net", proc_root, (int)pid);
	return stat(path, &st) == 0 ? (unsigned long)st.st_ino : 0;
}

int libfind_scan_pid(const char *proc_root, pid_t pid, libfind_fn fn, void *ctx)
{
	struct tls_mapping m = {.pid = pid};
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0, n_seen = 0;
	struct {
		dev_t dev;
		ino_t ino;
	} seen[16];
	int ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d/maps", proc_root, (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	read_comm(proc_root, pid, m.comm, sizeof(m.comm));
	while (getline(&line, &cap, f) > 0) {
		unsigned long start, end, inode;
		unsigned int major, minor;
		int pos = 0;

		/* 7f..-7f.. r-xp 00000000 fe:01 1234 /usr/lib/x86_64-linux-gnu/libssl.so.3 */
		if (sscanf(line, "%lx-%lx %*s %*s %x:%x %lu %n", &start, &end, &major, &minor,
			   &inode, &pos) != 5 ||
		    !pos || line[pos] != '/')
			continue;
		char *file = line + pos;
		file[strcspn(file, "\n")] = '\0';
		bool deleted = false;
		size_t flen = strlen(file);
		if (flen > 10 && !strcmp(file + flen - 10, " (deleted)")) {
			file[flen - 10] = '\0';
			deleted = true;
		}
		if (!libfind_is_tls_library(file))
			continue;
		dev_t dev = makedev(major, minor);
		bool dup = false;
		for (size_t i = 0; i < n_seen && !dup; i++)
			dup = seen[i].dev == dev && seen[i].ino == (ino_t)inode;
		if (dup)
			continue;
		if (n_seen < sizeof(seen) / sizeof(seen[0])) {
			seen[n_seen].dev = dev;
			seen[n_seen].ino = (ino_t)inode;
			n_seen++;
		}
		m.dev = dev;
		m.ino = (ino_t)inode;
		m.deleted = deleted;
		snprintf(m.path, sizeof(m.path), "%s", file);
		/* a deleted file is still reachable through map_files; otherwise go through the
		 * process's root so that containers' own libraries are found */
		if (deleted)
			snprintf(m.open_path, sizeof(m.open_path), "%s/%d/map_files/%lx-%lx",
				 proc_root, (int)pid, start, end);
		else
			snprintf(m.open_path, sizeof(m.open_path), "%s/%d/root%s", proc_root,
				 (int)pid, file);
		ret = fn(ctx, &m);
		if (ret)
			break;
	}
	free(line);
	fclose(f);
	return ret;
}

int libfind_scan_all(const char *proc_root, libfind_fn fn, void *ctx)
{
	struct dirent *d;
	DIR *dir;
	int ret = 0;

	dir = opendir(proc_root);
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		char *end;
		long pid;

		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		pid = strtol(d->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		ret = libfind_scan_pid(proc_root, (pid_t)pid, fn, ctx);
		if (ret == -ENOENT || ret == -ESRCH || ret == -EACCES)
			ret = 0; /* gone meanwhile, or a kernel thread */
		if (ret)
			break;
	}
	closedir(dir);
	return ret;
}

int libfind_check_elf(const char *path, char *why, size_t why_len)
{
	bool has_read = false, has_write = false;
	Elf_Scn *scn = NULL;
	Elf *elf = NULL;
	int fd, ret;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		snprintf(why, why_len, "libelf: %s", elf_errmsg(-1));
		return -EINVAL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(why, why_len, "cannot open: %s", strerror(errno));
		return ret;
	}
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		snprintf(why, why_len, "not an ELF file");
		ret = -ENOEXEC;
		goto out;
	}
	while ((scn = elf_nextscn(elf, scn)) && !(has_read && has_write)) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !sh.sh_entsize)
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC)
				continue;
			name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!name)
				continue;
			if (!strcmp(name, "SSL_read"))
				has_read = true;
			else if (!strcmp(name, "SSL_write"))
				has_write = true;
		}
	}
	if (has_read && has_write) {
		ret = 0;
	} else {
		snprintf(why, why_len, "no %s symbol (not OpenSSL, or stripped)",
			 has_read ? "SSL_write" : "SSL_read");
		ret = -ENOENT;
	}
out:
	if (elf)
		elf_end(elf);
	close(fd);
	return ret;
}
