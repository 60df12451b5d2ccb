"""Checks docs/kubernetes/sslcollector-daemonset.yaml as far as no cluster is needed.

  k8s_manifest.py check MANIFEST PRIVILEGES_H
      The manifest parses (every document), holds a Namespace, a ServiceAccount and a
      DaemonSet; the DaemonSet's pod has hostPID and not hostNetwork, no service account
      token; its one container is not privileged, cannot gain privileges, has a read-only
      root, drops ALL capabilities and adds exactly those the agent keeps (read from
      agent/privileges.h's SSLC_AGENT_KEEP_CAPS); every volumeMount has its volume, host
      paths are read-only except the state and metrics directories; the command enters PID 1's
      cgroup namespace and runs sslcollector with --netns all -I any; every file the arguments
      name lies under a mount. Prints "ok: ..." or the problems, exit 1.
  k8s_manifest.py command MANIFEST
      The container's command and arguments, $(VAR) expanded from its env, one per line.
"""
import re
import sys

import yaml


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def daemonset(docs):
    ds = [d for d in docs if d.get("kind") == "DaemonSet"]
    if len(ds) != 1:
        raise SystemExit(f"{len(ds)} DaemonSets, expected 1")
    return ds[0]


def command(ds):
    c = ds["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value", "") for e in c.get("env", [])}

    def expand(s):
        return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), s)

    return [expand(a) for a in c.get("command", []) + c.get("args", [])]


def kept_caps(header):
    text = open(header).read()
    m = re.search(r"#define SSLC_AGENT_KEEP_CAPS\s*\(([^\n]*)\)", text)
    if not m:
        raise SystemExit(f"{header}: no SSLC_AGENT_KEEP_CAPS")
    return {n for n in re.findall(r"SSLC_CAP_([A-Z_]+)\)", m.group(1))}


def check(path, header):
    problems = []
    docs = load(path)
    kinds = sorted(d.get("kind", "?") for d in docs)
    for k in ("DaemonSet", "Namespace", "ServiceAccount"):
        if k not in kinds:
            problems.append(f"no {k}")
    ds = daemonset(docs)
    if ds.get("apiVersion") != "apps/v1":
        problems.append(f"DaemonSet apiVersion {ds.get('apiVersion')}")
    spec = ds["spec"]
    tmpl = spec["template"]
    sel = spec.get("selector", {}).get("matchLabels", {})
    labels = tmpl.get("metadata", {}).get("labels", {})
    if not sel or any(labels.get(k) != v for k, v in sel.items()):
        problems.append("the selector does not match the pod template's labels")
    pod = tmpl["spec"]
    if pod.get("hostPID") is not True:
        problems.append("hostPID is not true: other pods' processes would not be seen")
    if pod.get("hostNetwork"):
        problems.append("hostNetwork is set: not needed")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append("the service account token is mounted: the agent needs none")
    cs = pod.get("containers", [])
    if len(cs) != 1:
        problems.append(f"{len(cs)} containers, expected 1")
    c = cs[0]
    sc = c.get("securityContext", {})
    if sc.get("privileged") is not False:
        problems.append("privileged is not false")
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append("the root filesystem is writable")
    caps = sc.get("capabilities", {})
    if caps.get("drop") != ["ALL"]:
        problems.append(f"capabilities.drop {caps.get('drop')}, expected [ALL]")
    want = kept_caps(header)
    if set(caps.get("add", [])) != want:
        problems.append(f"capabilities.add {sorted(caps.get('add', []))}, the agent keeps {sorted(want)}")
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = c.get("volumeMounts", [])
    writable = {"/run/sslcollector", "/var/lib/sslcollector", "/tmp"}
    for m in mounts:
        v = vols.get(m["name"])
        if v is None:
            problems.append(f"volumeMount {m['name']} has no volume")
            continue
        if "hostPath" in v and not m.get("readOnly") and m["mountPath"] not in writable:
            problems.append(f"host path {v['hostPath']['path']} mounted writable at {m['mountPath']}")
        if "secret" in v and not m.get("readOnly"):
            problems.append(f"secret {m['name']} mounted writable")
    if not any(vols.get(m["name"], {}).get("hostPath", {}).get("path") == "/sys/fs/cgroup" for m in mounts):
        problems.append("the node's /sys/fs/cgroup is not mounted: containers could not be named")
    argv = command(ds)
    if argv[:3] != ["nsenter", "--cgroup=/proc/1/ns/cgroup", "--"] or argv[3:4] != ["sslcollector"]:
        problems.append(f"the command is {argv[:4]}, not nsenter into PID 1's cgroup namespace, then sslcollector")
    args = argv[4:]
    line = " ".join(args)
    if "--netns all" not in line or "-I any" not in line:
        problems.append("the agent is not given --netns all -I any")
    paths = [m["mountPath"] for m in mounts]
    for i, a in enumerate(args[:-1]):
        if a in ("--ca", "--cert", "--key", "--stats-file", "-w", "--crl"):
            f = args[i + 1]
            if not any(f.startswith(p.rstrip("/") + "/") for p in paths):
                problems.append(f"{a} {f} is not under a mounted volume (the root is read-only)")
    if problems:
        for p in problems:
            print(f"{path}: {p}")
        return 1
    print(f"ok: {path}: {', '.join(kinds)}; hostPID; capabilities {sorted(want)} only; {len(mounts)} mounts; command {' '.join(argv)}")
    return 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        return check(sys.argv[2], sys.argv[3])
    if len(sys.argv) == 3 and sys.argv[1] == "command":
        for a in command(daemonset(load(sys.argv[2]))):
            print(a)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
