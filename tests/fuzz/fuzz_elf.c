/* The ELF readers of the files the agent probes (agent/libfind_elf.c, agent/probesite.c): a
 * program on the host is any bytes its owner chose, and the agent examines it as root. Any
 * input either classifies (a result from the documented set, with a reason when it is not
 * mirrored) or fails with a negative errno; never a crash, a hang or a leak. The input is
 * given to the readers as a file (a memfd, opened by its /proc/self/fd path as the agent opens
 * /proc/PID/root/...). */
#include "libfind.h"
#include "probesite.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"SSL_read", "SSL_write", "SSL_read_ex", "SSL_free"};
	struct openssl_version v;
	struct probe_sites sites;
	uint64_t offs[4];
	char path[64], why[256];
	int fd = memfd_create("fuzz_elf", MFD_CLOEXEC), ret;

	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

	why[0] = '\0';
	ret = libfind_check_elf(path, why, sizeof(why));
	if (ret > 0 || (ret < 0 && !why[0]))
		abort(); /* 0, or an error that says why */
	why[0] = '\0';
	ret = libfind_check_executable(path, why, sizeof(why));
	if (ret > LIBFIND_OPENSSL_STRIPPED || (ret == LIBFIND_OPENSSL_STRIPPED && !why[0]))
		abort();
	why[0] = '\0';
	ret = probesite_find(path, &sites, why, sizeof(why));
	if (ret > 0 || (ret < 0 && !why[0]))
		abort();
	if (ret == 0 && ((sites.read_internal && sites.read_internal >= size) ||
			 (sites.write_internal && sites.write_internal >= size)))
		abort(); /* a probe site is inside the file */
	why[0] = '\0';
	ret = libfind_tls_kind(path, why, sizeof(why));
	if (ret > TLS_KIND_NSPR || ret == 0 || (ret < 0 && !why[0]))
		abort(); /* a kind, or an error that says why */
	why[0] = '\0';
	ret = probesite_find_gnutls(path, &sites, why, sizeof(why));
	if (ret > 0 || (ret < 0 && !why[0]) || sites.write_internal)
		abort();
	if (ret == 0 && sites.read_internal && sites.read_internal >= size)
		abort(); /* GnuTLS's receive site is inside the file */
	if (probesite_symbols(path, names, 4, offs) == 0)
		for (int i = 0; i < 4; i++)
			if (offs[i] >= size && offs[i])
				abort();
	libfind_openssl_version(path, &v);
	close(fd);
	return 0;
}
