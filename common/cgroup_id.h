/* Which container a process belongs to, from its cgroup: a pure parser of the text of
 * /proc/PID/cgroup and of cgroup paths. No I/O, no allocation. */
#ifndef SSLC_CGROUP_ID_H
#define SSLC_CGROUP_ID_H

#include <stdbool.h>
#include <stddef.h>

/* The cgroup v2 path of a process from the text of /proc/PID/cgroup (the first "0::PATH" line;
 * if there is none, the first v1 "N:name=systemd:PATH" line's path): copied into path
 * (NUL-terminated). The text ends at len or at its first NUL byte; a line with an empty PATH
 * counts as absent. 0, -ENOENT when the text has neither, -ENAMETOOLONG when it does not fit
 * in path_len bytes with its NUL; on an error path is "" (when path_len > 0). A NULL text is
 * an empty one; a NULL path is one of path_len 0. */
int cgroup_path_from_proc(const char *text, size_t len, char *path, size_t path_len);

struct cgroup_container {
	char runtime[16]; /* "docker", "containerd", "cri-o", "podman", "lxc", "systemd", "" if none
			   */
	char id[80];	  /* the container id (64 lowercase hex for docker/containerd/cri-o/podman),
			     a systemd unit name for "systemd" ("nginx.service"), an lxc name; ""
			     if none. Only [0-9a-zA-Z_.@:-]. */
	char pod[40];	  /* a Kubernetes pod UID when the path says (kubepods...-pod<UID>.slice or
			     /kubepods/<qos>/pod<UID>/), with '_' turned back into '-'; else "" */
};

/* What a cgroup path says of the container it belongs to. Always fills *c (all "" when the path
 * names no container: "/", "/init.scope", "/user.slice/user-1000.slice/session-3.scope"),
 * returns true when a runtime was recognised (then c->runtime and c->id are not "").
 *
 * The innermost (last) container component wins: docker-HEX[.scope], cri-containerd-HEX,
 * crio-HEX, crio-conmon-HEX (CRI-O's monitor, reported as "cri-o" with the container's id),
 * libpod-HEX, libpod-payload-HEX, libpod-conmon-HEX (podman; conmon likewise), /docker/HEX,
 * bare HEX under a kubepods component (reported as "containerd": the cgroupfs driver's path
 * does not say which runtime), lxc.payload.NAME and /lxc/NAME. HEX is exactly 64 lowercase hex
 * digits; anything else there is not a container. A systemd service (NAME.service, the last
 * one, "docker.service" for dockerd itself) is reported only when no container component is
 * found: a service inside a container (systemd in a podman container) belongs to that
 * container. Scopes and slices (init.scope, session-N.scope) are no container; unit names
 * with characters outside the id set above (systemd's "\x2d" escapes) or of 80 bytes or more
 * are not reported. c->pod is filled from the last pod component even when no runtime is
 * recognised (the pod's own cgroup). */
bool cgroup_container_of(const char *path, struct cgroup_container *c);

#endif
