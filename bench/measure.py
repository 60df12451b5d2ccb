#!/usr/bin/python3
"""Runs inside the receiving namespace: starts a sender command (tcpreplay or the tunnel
replay, in the sending namespace through 'ip netns exec') and measures what arrives on the
receiving veth end from /sys counters: frames/s and Gbps between the first and the last
frame received. Prints one line per run and the medians.

usage: measure.py IFACE EXPECTED_FRAMES RUNS -- NAME CMD... [-- NAME CMD...]
"""
import statistics
import subprocess
import sys
import time


def counters(iface):
    base = f"/sys/class/net/{iface}/statistics/"
    with open(base + "rx_packets") as p, open(base + "rx_bytes") as b:
        return int(p.read()), int(b.read())


def measure(iface, expected, cmd):
    p0, b0 = counters(iface)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = last = None
    prev = (p0, b0)
    quiet_since = time.monotonic()
    while True:
        now = time.monotonic()
        p, b = counters(iface)
        if p != prev[0]:
            if first is None:
                first = (now, p, b)
            last = (now, p, b)
            quiet_since = now
            prev = (p, b)
        if p - p0 >= expected:
            break
        if proc.poll() is not None and now - quiet_since > 2.0:
            break
        if now - quiet_since > 60:
            break
        time.sleep(0.002)
    rc = proc.wait()
    err = proc.stderr.read().decode(errors="replace")
    if rc != 0:
        sys.exit(f"measure: {cmd[0:6]} failed ({rc}): {err}")
    if not first or last[0] <= first[0]:
        sys.exit(f"measure: nothing arrived on {iface} for {cmd}")
    dt = last[0] - first[0]
    frames, nbytes = last[1] - first[1], last[2] - first[2]
    return frames / dt, nbytes * 8 / dt / 1e9, prev[0] - p0


def main():
    iface, expected, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    senders, cur = [], None
    for a in sys.argv[4:]:
        if a == "--":
            cur = []
            senders.append(cur)
        else:
            cur.append(a)
    results = {s[0]: [] for s in senders}
    for run in range(1, runs + 1):
        for s in senders:  # interleaved: both see the same machine state
            fps, gbps, got = measure(iface, expected, s[1:])
            results[s[0]].append((fps, gbps))
            print(f"run {run} {s[0]:10s} {gbps:6.2f} Gbps {fps / 1e3:8.1f} kframes/s "
                  f"({got} of {expected} frames arrived)", flush=True)
    med = {}
    for name, r in results.items():
        med[name] = (statistics.median(x[0] for x in r), statistics.median(x[1] for x in r))
        print(f"median {name:10s} {med[name][1]:6.2f} Gbps {med[name][0] / 1e3:8.1f} kframes/s")
    names = list(med)
    if len(names) == 2:
        a, b = names
        print(f"ratio {a}/{b}: {med[a][1] / med[b][1]:.2f} (Gbps), "
              f"{med[a][0] / med[b][0]:.2f} (frames/s)")


if __name__ == "__main__":
    main()
