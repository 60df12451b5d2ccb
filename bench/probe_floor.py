#!/usr/bin/python3
"""bench/probe_floor.py: the floor of sslcollector's capture, for bench/app_overhead.sh (config
`floor`): a uprobe + uretprobe on exactly the functions the agent probes for reads and writes
(ssl_read_internal and ssl_write_internal of the system libssl.so.3, found as the agent finds
them: the target of the first call in SSL_read_ex / SSL_write_ex), on every CPU for every
process, that do nothing but count (perf's uprobe PMU, no BPF program, no ring buffer, no
user-space work). What a run with these costs is the traps, the uprobe handling and the return
trampoline alone: no capture at these sites can be cheaper on this machine.

    bench/probe_floor.py          (root) prints READY once every probe is in place, then waits
                                  for SIGINT/SIGTERM and prints the hits of each probe."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import uprobe_floor as uf  # noqa: E402


def main():
    sites = []
    for exported, name in (("SSL_read_ex", "ssl_read_internal"),
                           ("SSL_write_ex", "ssl_write_internal")):
        _, vaddr = uf.file_offset(uf.LIBSSL, exported)
        sites.append((name, uf.vaddr_to_offset(uf.LIBSSL, uf.first_call_target(uf.LIBSSL, vaddr))))
    fds = []
    for name, off in sites:
        for ret in (False, True):
            for cpu in range(os.cpu_count()):
                fds.append((f"{'uretprobe' if ret else 'uprobe'} {name}+0 ({off:#x})",
                            uf.open_uprobe(uf.LIBSSL, off, ret, pid=-1, cpu=cpu)))
    stop = []
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: stop.append(1))
    print("READY", flush=True)
    while not stop:
        signal.pause()
    hits = {}
    for name, fd in fds:
        hits[name] = hits.get(name, 0) + int.from_bytes(os.read(fd, 8), "little")
        os.close(fd)
    for name, n in hits.items():
        print(f"{name}: {n} hits", flush=True)


if __name__ == "__main__":
    sys.exit(main())
