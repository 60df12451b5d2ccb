/* Dropping root once the collector's sockets, outputs and certificates are open. AF_PACKET
 * checks CAP_NET_RAW only when a socket is created, and the -o socket already exists, so the
 * collector keeps no capability at all: it becomes --user (default nobody) with that user's
 * group, no supplementary groups, no_new_privs, and not dumpable (its memory holds the
 * mirrored plaintext). */
#include "collector_impl.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int capabilities_left(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective || data[i].permitted)
			return 1;
	return 0;
}

int collector_drop_privileges(const char *user, char *err, size_t err_len)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0; /* already unprivileged */
	if (!user || !*user || !strcmp(user, "root"))
		return 0; /* asked to stay root; collector_run warns */
	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		snprintf(err, err_len, "--user %s: %s", user,
			 errno ? strerror(errno) : "no such user");
		return errno ? -errno : -ENOENT;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, err_len, "--user %s: has uid 0; choose an unprivileged user", user);
		return -EINVAL;
	}
	if (setgroups(0, NULL) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
		int e = errno;

		snprintf(err, err_len, "--user %s: cannot switch to uid %u gid %u: %s", user,
			 (unsigned)pw->pw_uid, (unsigned)pw->pw_gid, strerror(e));
		return -e;
	}
	/* a real drop cannot be undone */
	if (setuid(0) == 0 || capabilities_left() != 0) {
		snprintf(err, err_len, "--user %s: privileges could not be dropped for good", user);
		return -EPERM;
	}
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return 0;
}
