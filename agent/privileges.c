/* Capabilities: see privileges.h. Raw capget/capset (no libcap): three sets of 64 bits. */
#include "privileges.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int get_caps(uint64_t *eff, uint64_t *perm, uint64_t *inh)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &hdr, d) < 0)
		return -errno;
	*eff = (uint64_t)d[1].effective << 32 | d[0].effective;
	*perm = (uint64_t)d[1].permitted << 32 | d[0].permitted;
	*inh = (uint64_t)d[1].inheritable << 32 | d[0].inheritable;
	return 0;
}

static int set_caps(uint64_t eff, uint64_t perm, uint64_t inh)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {
	    {(uint32_t)eff, (uint32_t)perm, (uint32_t)inh},
	    {(uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32)},
	};

	return syscall(SYS_capset, &hdr, d) < 0 ? -errno : 0;
}

uint64_t privileges_effective(void)
{
	uint64_t eff = 0, perm = 0, inh = 0;

	return get_caps(&eff, &perm, &inh) == 0 ? eff : ~0ULL;
}

void privileges_missing(uint64_t have, uint64_t mask, char *out, size_t len)
{
	static const struct {
		int bit;
		const char *name;
	} names[] = {{SSLC_CAP_SYS_ADMIN, "CAP_SYS_ADMIN"},
		     {SSLC_CAP_SYS_PTRACE, "CAP_SYS_PTRACE"},
		     {SSLC_CAP_PERFMON, "CAP_PERFMON"},
		     {SSLC_CAP_BPF, "CAP_BPF"}};
	size_t used = 0;

	if (len)
		out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && used < len; i++) {
		if (!(mask & SSLC_CAP_BIT(names[i].bit)) || (have & SSLC_CAP_BIT(names[i].bit)))
			continue;
		used += (size_t)snprintf(out + used, len - used, "%s%s", used ? ", " : "",
					 names[i].name);
	}
}

int privileges_drop(uint64_t keep, char *err, size_t err_len)
{
	uint64_t eff = 0, perm = 0, inh = 0;
	int ret, last = CAP_LAST_CAP;
	FILE *f;

	if ((ret = get_caps(&eff, &perm, &inh)) < 0) {
		snprintf(err, err_len, "cannot read the capabilities: %s", strerror(-ret));
		return ret;
	}
	/* the kernel may know more capabilities than these headers */
	f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	if (f) {
		if (fscanf(f, "%d", &last) != 1 || last < 0 || last > 63)
			last = CAP_LAST_CAP;
		fclose(f);
	}
	/* the bounding set first: dropping from it needs CAP_SETPCAP, which goes next */
	if (perm & SSLC_CAP_BIT(CAP_SETPCAP)) {
		for (int c = 0; c <= last; c++) {
			if ((keep & SSLC_CAP_BIT(c)) || prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1)
				continue;
			if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
				ret = -errno;
				snprintf(err, err_len,
					 "cannot drop capability %d from the bounding set: %s", c,
					 strerror(errno));
				return ret;
			}
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		ret = -errno;
		snprintf(err, err_len, "cannot clear the ambient capabilities: %s",
			 strerror(errno));
		return ret;
	}
	if ((ret = set_caps(eff & keep, perm & keep, 0)) < 0) {
		snprintf(err, err_len, "cannot drop capabilities: %s", strerror(-ret));
		return ret;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		ret = -errno;
		snprintf(err, err_len, "cannot set no_new_privs: %s", strerror(errno));
		return ret;
	}
	/* a real drop: what was given up cannot be taken again */
	if (get_caps(&eff, &perm, &inh) < 0 || (perm & ~keep) || inh ||
	    (!(keep & SSLC_CAP_BIT(CAP_SETPCAP)) &&
	     set_caps(eff, perm | SSLC_CAP_BIT(CAP_SETPCAP), 0) == 0)) {
		snprintf(err, err_len, "capabilities still held after dropping them");
		return -EPERM;
	}
	return 0;
}

int privileges_drop_thread(void)
{
	return set_caps(0, 0, 0);
}
