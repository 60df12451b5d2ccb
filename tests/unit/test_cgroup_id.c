/* common/cgroup_id.c: the cgroup path out of /proc/PID/cgroup (v2, v1-only, both, truncated
 * buffers) and the container every documented path form names, with malformed ones refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cgroup_id.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HEX  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define UID  "3f1a2b4c-5d6e-4f70-8192-a3b4c5d6e7f8"
#define UID_ "3f1a2b4c_5d6e_4f70_8192_a3b4c5d6e7f8"
#define KUBE "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice"

/* Checks what cgroup_container_of(path) gives; the struct starts full of garbage. */
static void expect(const char *path, const char *runtime, const char *id, const char *pod)
{
	struct cgroup_container c;
	bool ok;

	memset(&c, 0xa5, sizeof(c));
	ok = cgroup_container_of(path, &c);
	assert_non_null(memchr(c.runtime, '\0', sizeof(c.runtime)));
	assert_non_null(memchr(c.id, '\0', sizeof(c.id)));
	assert_non_null(memchr(c.pod, '\0', sizeof(c.pod)));
	assert_string_equal(c.runtime, runtime);
	assert_string_equal(c.id, id);
	assert_string_equal(c.pod, pod);
	assert_int_equal(ok, runtime[0] != '\0');
}

static void none(const char *path)
{
	expect(path, "", "", "");
}

static void test_docker(void **state)
{
	(void)state;
	expect("/system.slice/docker-" HEX ".scope", "docker", HEX, "");
	expect("/docker/" HEX, "docker", HEX, "");
	expect("docker/" HEX "/", "docker", HEX, ""); /* no leading '/', a trailing one */
	expect("//docker//" HEX "//", "docker", HEX, "");
	expect("/docker/" HEX "/docker/" HEX2, "docker", HEX2, ""); /* docker in docker */
	expect("/system.slice/docker.service", "systemd", "docker.service", ""); /* dockerd */
	expect("/system.slice/docker-" HEX ".scope/init.scope", "docker", HEX, "");
}

static void test_kubernetes(void **state)
{
	(void)state;
	expect(KUBE "/cri-containerd-" HEX ".scope", "containerd", HEX, UID);
	expect("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	       ".slice/cri-containerd-" HEX ".scope",
	       "containerd", HEX, UID);
	expect("/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" HEX ".scope",
	       "containerd", HEX, UID); /* Guaranteed QoS */
	expect("/kubepods/burstable/pod" UID "/" HEX, "containerd", HEX, UID);
	expect("/kubepods/pod" UID "/" HEX, "containerd", HEX, UID);
	expect(KUBE "/docker-" HEX ".scope", "docker", HEX, UID);
	/* a static pod's UID is a 32-digit hash */
	expect("/kubepods/besteffort/pod0123456789abcdef0123456789abcdef/" HEX, "containerd", HEX,
	       "0123456789abcdef0123456789abcdef");
	/* the pod's own cgroup: a pod, no container */
	expect(KUBE, "", "", UID);
	expect("/kubepods/burstable/pod" UID, "", "", UID);
	/* bare hex anywhere else is not a container */
	none("/" HEX);
	none("/system.slice/" HEX);
	/* pod outside kubepods, or malformed */
	none("/burstable/pod" UID "/x");
	expect("/kubepods/burstable/pod" UID "xyz/" HEX, "containerd", HEX, "");
	expect("/kubepods/burstable/pod" UID UID "/" HEX, "containerd", HEX, ""); /* too long */
	expect("/kubepods/burstable/pod/" HEX, "containerd", HEX, "");
	none("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod.slice");
}

static void test_crio(void **state)
{
	(void)state;
	expect(KUBE "/crio-" HEX ".scope", "cri-o", HEX, UID);
	expect(KUBE "/crio-conmon-" HEX ".scope", "cri-o", HEX, UID);	       /* the monitor */
	expect("/kubepods/burstable/pod" UID "/crio-" HEX, "cri-o", HEX, UID); /* cgroupfs */
	expect(KUBE "/crio-" HEX ".scope/container", "cri-o", HEX, UID);
}

static void test_podman(void **state)
{
	(void)state;
	expect("/machine.slice/libpod-" HEX ".scope", "podman", HEX, "");
	expect("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" HEX ".scope",
	       "podman", HEX, "");
	expect("/machine.slice/libpod-" HEX ".scope/libpod-payload-" HEX2, "podman", HEX2, "");
	expect("/machine.slice/libpod-conmon-" HEX ".scope", "podman", HEX, "");
	expect("/libpod_parent/libpod-" HEX, "podman", HEX, ""); /* cgroupfs */
	/* systemd in the container: the service belongs to the container */
	expect("/machine.slice/libpod-" HEX ".scope/container/system.slice/nginx.service", "podman",
	       HEX, "");
}

static void test_lxc(void **state)
{
	(void)state;
	expect("/lxc.payload.web1", "lxc", "web1", "");
	expect("/lxc.payload.web1/system.slice/nginx.service", "lxc", "web1", "");
	expect("/lxc/web-1.b", "lxc", "web-1.b", "");
	expect("/lxc/web1/init.scope", "lxc", "web1", "");
	none("/lxc.payload.");
	none("/lxc.payload.we b");
	none("/lxc/we b");
	none("/lxc");
}

static void test_systemd(void **state)
{
	(void)state;
	expect("/system.slice/nginx.service", "systemd", "nginx.service", "");
	expect("/system.slice/nginx.service/", "systemd", "nginx.service", "");
	expect("/system.slice/nginx.service/worker", "systemd", "nginx.service", "");
	expect("/system.slice/system-getty.slice/getty@tty1.service", "systemd",
	       "getty@tty1.service", "");
	expect("/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service", "systemd",
	       "foo.service", "");
	expect("/system.slice/a.service/b.service", "systemd", "b.service", "");
	none("/system.slice/.service");
	none("/system.slice/systemd-fsck@dev-disk-by\\x2duuid-1.service"); /* escapes: no */
	none("/system.slice/docker-" HEX ".slice");
}

static void test_no_container(void **state)
{
	struct cgroup_container c;

	(void)state;
	none("/");
	none("");
	none("///");
	none("/init.scope"); /* systemd itself: kept "" */
	none("/user.slice/user-1000.slice/session-3.scope");
	none("user.slice/user-1000.slice/session-3.scope/");
	none("/system.slice");
	none("/machine.slice");
	none("/docker");
	memset(&c, 0xa5, sizeof(c));
	assert_false(cgroup_container_of(NULL, &c));
	assert_string_equal(c.runtime, "");
	assert_string_equal(c.id, "");
	assert_string_equal(c.pod, "");
}

static void test_malformed_hex(void **state)
{
	char buf[200];

	(void)state;
	/* short, long, non-hex, uppercase */
	none("/system.slice/docker-" HEX "0.scope");
	none("/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
	     ".scope");
	none("/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde");
	none("/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg");
	none("/docker/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef");
	none("/docker/" HEX "0");
	none("/docker/nginx");
	expect(KUBE "/cri-containerd-.scope", "", "", UID);
	none("/machine.slice/libpod-" HEX ".scopex");
	none("/machine.slice/libpod-" HEX "-.scope");
	none("/machine.slice/libpod-conmon-xyz.scope");
	/* a bad inner component leaves the outer container */
	expect("/docker/" HEX "/docker/short", "docker", HEX, "");
	/* an overlong component */
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "/lxc/", 5);
	buf[sizeof(buf) - 1] = '\0';
	none(buf);
	memcpy(buf + sizeof(buf) - 9, ".service", 9);
	none(buf + 4);
}

static void test_huge(void **state)
{
	size_t n = 1 << 20, tail = strlen("/docker-" HEX ".scope");
	char *p = malloc(n + tail + 1);

	(void)state;
	assert_non_null(p);
	for (size_t i = 0; i < n; i += 2)
		memcpy(p + i, "/a", 2);
	memcpy(p + n, "/docker-" HEX ".scope", tail + 1);
	expect(p, "docker", HEX, "");
	memset(p, 'x', n); /* one huge component before it */
	expect(p, "docker", HEX, "");
	p[n] = 'x';
	none(p);
	free(p);
}

/* cgroup_path_from_proc(text) into a buffer of path_len with guard bytes behind it. */
static int from_proc(const char *text, size_t len, size_t path_len, char *out)
{
	char buf[512];
	int ret;

	assert_true(path_len + 16 <= sizeof(buf));
	memset(buf, 0x5a, sizeof(buf));
	ret = cgroup_path_from_proc(text, len, buf, path_len);
	for (size_t i = path_len; i < sizeof(buf); i++)
		assert_int_equal((unsigned char)buf[i], 0x5a);
	if (path_len) {
		assert_non_null(memchr(buf, '\0', path_len));
		if (ret)
			assert_string_equal(buf, "");
		strcpy(out, buf);
	}
	return ret;
}

static void test_proc_v2(void **state)
{
	static const char v2[] = "0::/system.slice/docker-" HEX ".scope\n";
	char out[512];

	(void)state;
	assert_int_equal(from_proc(v2, strlen(v2), 256, out), 0);
	assert_string_equal(out, "/system.slice/docker-" HEX ".scope");
	/* without the newline, and with the string going on past len */
	assert_int_equal(from_proc(v2, strlen(v2) - 1, 256, out), 0);
	assert_string_equal(out, "/system.slice/docker-" HEX ".scope");
	assert_int_equal(from_proc(v2, 10, 256, out), 0);
	assert_string_equal(out, "/system");
	assert_int_equal(from_proc("0::/\n", 5, 256, out), 0);
	assert_string_equal(out, "/");
	assert_int_equal(from_proc("0::/a:b\n", 8, 256, out), 0); /* ':' in the path */
	assert_string_equal(out, "/a:b");
	/* the text ends at a NUL */
	assert_int_equal(from_proc("0::/a\0b\n", 8, 256, out), 0);
	assert_string_equal(out, "/a");
	assert_int_equal(from_proc("0::\0/a\n", 7, 256, out), -ENOENT);
}

static void test_proc_v1(void **state)
{
	static const char v1[] = "12:pids:/system.slice/nginx.service\n"
				 "11:cpu,cpuacct:/system.slice/nginx.service\n"
				 "1:name=systemd:/system.slice/nginx.service\n";
	static const char both[] = "1:name=systemd:/v1\n"
				   "0::/v2\n";
	static const char both_v2_first[] = "0::/v2\n1:name=systemd:/v1\n";
	static const char hybrid_empty[] = "1:name=systemd:/v1\n0::\n";
	char out[512];

	(void)state;
	assert_int_equal(from_proc(v1, strlen(v1), 256, out), 0);
	assert_string_equal(out, "/system.slice/nginx.service");
	assert_int_equal(from_proc(both, strlen(both), 256, out), 0);
	assert_string_equal(out, "/v2");
	assert_int_equal(from_proc(both_v2_first, strlen(both_v2_first), 256, out), 0);
	assert_string_equal(out, "/v2");
	/* an empty v2 path counts as absent */
	assert_int_equal(from_proc(hybrid_empty, strlen(hybrid_empty), 256, out), 0);
	assert_string_equal(out, "/v1");
	/* the first of each */
	assert_int_equal(from_proc("0::/a\n0::/b\n", 12, 256, out), 0);
	assert_string_equal(out, "/a");
	assert_int_equal(from_proc("1:name=systemd:/a\n2:name=systemd:/b\n", 36, 256, out), 0);
	assert_string_equal(out, "/a");
}

static void test_proc_absent(void **state)
{
	static const char *const texts[] = {
	    "",
	    "\n\n",
	    "12:pids:/x\n11:cpu:/x\n",
	    "1:name=systemd-x:/x\n",
	    "1:name=systemd\n",
	    "0:/x\n",
	    "0:cpu:/x\n",
	    "00::/x\n",
	    "1::/x\n",
	    "0::\n",
	    "garbage",
	};
	char out[512];

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		assert_int_equal(from_proc(texts[i], strlen(texts[i]), 256, out), -ENOENT);
	assert_int_equal(cgroup_path_from_proc(NULL, 10, out, sizeof(out)), -ENOENT);
	assert_int_equal(cgroup_path_from_proc("0::/x", 0, out, sizeof(out)), -ENOENT);
}

static void test_proc_truncated(void **state)
{
	static const char v2[] = "0::/system.slice/nginx.service\n";
	size_t need = strlen("/system.slice/nginx.service") + 1;
	char out[512];

	(void)state;
	assert_int_equal(from_proc(v2, strlen(v2), need, out), 0);
	assert_string_equal(out, "/system.slice/nginx.service");
	for (size_t n = 0; n < need; n++)
		assert_int_equal(from_proc(v2, strlen(v2), n, out), -ENAMETOOLONG);
	assert_int_equal(cgroup_path_from_proc(v2, strlen(v2), NULL, 0), -ENAMETOOLONG);
	assert_int_equal(cgroup_path_from_proc("", 0, NULL, 0), -ENOENT);
	/* v1-only, truncated */
	assert_int_equal(from_proc("3:name=systemd:/abc\n", 20, 4, out), -ENAMETOOLONG);
	assert_int_equal(from_proc("3:name=systemd:/abc\n", 20, 5, out), 0);
	assert_string_equal(out, "/abc");
}

/* what the two give together, on a real /proc/PID/cgroup of a Kubernetes node */
static void test_proc_then_container(void **state)
{
	static const char text[] = "0::" KUBE "/cri-containerd-" HEX ".scope\n";
	struct cgroup_container c;
	char path[4096];

	(void)state;
	assert_int_equal(cgroup_path_from_proc(text, strlen(text), path, sizeof(path)), 0);
	assert_true(cgroup_container_of(path, &c));
	assert_string_equal(c.runtime, "containerd");
	assert_string_equal(c.id, HEX);
	assert_string_equal(c.pod, UID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_docker),
	    cmocka_unit_test(test_kubernetes),
	    cmocka_unit_test(test_crio),
	    cmocka_unit_test(test_podman),
	    cmocka_unit_test(test_lxc),
	    cmocka_unit_test(test_systemd),
	    cmocka_unit_test(test_no_container),
	    cmocka_unit_test(test_malformed_hex),
	    cmocka_unit_test(test_huge),
	    cmocka_unit_test(test_proc_v2),
	    cmocka_unit_test(test_proc_v1),
	    cmocka_unit_test(test_proc_absent),
	    cmocka_unit_test(test_proc_truncated),
	    cmocka_unit_test(test_proc_then_container),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
