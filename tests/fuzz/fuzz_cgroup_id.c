/* common/cgroup_id.c: a process's /proc/PID/cgroup and its cgroup path are chosen by whoever
 * runs it. The input is given both as /proc text (raw bytes) and as a path (a NUL-terminated
 * copy); the path found in the text is parsed too. Outputs stay NUL-terminated inside their
 * buffers (exactly sized, so ASan sees any byte past them), a truncated copy agrees with a
 * whole one, true means a runtime of the documented set with an id of the documented
 * characters, and hex where hex is expected. */
#include "cgroup_id.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool only(const char *s, const char *set)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || strchr(set, *s)))
			return false;
	return true;
}

static bool hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static void check_container(const char *path)
{
	static const char *const hexed[] = {"docker", "containerd", "cri-o", "podman"};
	struct cgroup_container c, again;
	bool ok;

	memset(&c, 0xa5, sizeof(c));
	ok = cgroup_container_of(path, &c);
	if (!memchr(c.runtime, '\0', sizeof(c.runtime)) || !memchr(c.id, '\0', sizeof(c.id)) ||
	    !memchr(c.pod, '\0', sizeof(c.pod)))
		abort();
	if (ok != (c.runtime[0] != '\0') || ok != (c.id[0] != '\0'))
		abort(); /* true exactly when a runtime (and its id) was recognised */
	if (!only(c.id, "_.@:-"))
		abort();
	for (const char *p = c.pod; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == '-'))
			abort(); /* '_' turned back into '-' */
	if (ok) {
		bool known = !strcmp(c.runtime, "lxc") || !strcmp(c.runtime, "systemd");

		for (size_t i = 0; i < sizeof(hexed) / sizeof(hexed[0]); i++) {
			if (!strcmp(c.runtime, hexed[i])) {
				known = true;
				if (!hex64(c.id))
					abort();
			}
		}
		if (!known)
			abort();
		if (!strcmp(c.runtime, "systemd") && strlen(c.id) <= 8)
			abort(); /* NAME.service */
		if (!strstr(path, c.id))
			abort(); /* the id is taken from the path */
	}
	memset(&again, 0x5a, sizeof(again));
	if (cgroup_container_of(path, &again) != ok || memcmp(&c, &again, sizeof(c)))
		abort(); /* fills all of *c, and only from the path */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = malloc(size + 1), *whole = malloc(size + 1), *part;
	size_t part_len = size ? data[0] % 64 : 0;
	int ret, ret_part;

	if (!path || !whole)
		abort();
	if (size)
		memcpy(path, data, size);
	path[size] = '\0';
	check_container(path);

	/* size + 1 always holds whatever the text has */
	ret = cgroup_path_from_proc((const char *)data, size, whole, size + 1);
	if (ret != 0 && ret != -ENOENT)
		abort();
	if (ret && whole[0])
		abort();
	if (!ret) {
		if (!strlen(whole) || !memmem(data, size, whole, strlen(whole)))
			abort(); /* a non-empty piece of the text */
		check_container(whole);
	}
	part = malloc(part_len ? part_len : 1);
	if (!part)
		abort();
	ret_part =
	    cgroup_path_from_proc((const char *)data, size, part_len ? part : NULL, part_len);
	if (ret == -ENOENT && ret_part != -ENOENT)
		abort();
	if (!ret) {
		if (strlen(whole) < part_len ? ret_part != 0 || strcmp(part, whole)
					     : ret_part != -ENAMETOOLONG || (part_len && part[0]))
			abort(); /* the same path, or none when it does not fit */
	}
	free(part);
	free(whole);
	free(path);
	return 0;
}
