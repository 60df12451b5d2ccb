#!/usr/bin/python3
"""bench/uprobe_floor.py: what one uprobe hit costs on this machine, before any BPF program
runs. Calls libc's rand() in a loop from this process (through ctypes) with no probe, then with
a bare perf uprobe (uprobe PMU, counting only, no BPF) on

  * rand+0, `sub $0x8,%rsp`: an instruction the kernel cannot emulate, so every hit is an int3
    trap *and* a single-step of the copied instruction (a #DB trap) -- the case of OpenSSL 3's
    SSL_read/SSL_write, which start with `sub $0x18,%rsp`;
  * rand+4, `call rel32`: an instruction the kernel emulates, so a hit is the int3 trap only;
  * a uretprobe on rand (an entry hook at rand+0 that hijacks the return address, and the
    return trampoline).

    bench/uprobe_floor.py [-n CALLS]        (root)

Prints ns per call for each, the median of 5 alternating runs, and the hit count the kernel
reports (which must equal the calls). x86_64 only: it checks the instructions it expects."""
import argparse
import ctypes
import ctypes.util
import os
import statistics
import subprocess
import sys
import time

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


class PerfEventAttr(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("size", ctypes.c_uint32),
                ("config", ctypes.c_uint64), ("sample_period", ctypes.c_uint64),
                ("sample_type", ctypes.c_uint64), ("read_format", ctypes.c_uint64),
                ("flags", ctypes.c_uint64), ("wakeup_events", ctypes.c_uint32),
                ("bp_type", ctypes.c_uint32), ("config1", ctypes.c_uint64),
                ("config2", ctypes.c_uint64), ("pad", ctypes.c_uint8 * 64)]


def file_offset(lib, symbol):
    """The symbol's file offset (value - segment vaddr + segment offset of its LOAD)."""
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True,
                         check=True).stdout
    vaddr = next(int(line.split()[0], 16) for line in out.splitlines()
                 if line.split()[-1].split("@")[0] == symbol)
    segs = subprocess.run(["readelf", "-lW", lib], capture_output=True, text=True,
                          check=True).stdout
    for line in segs.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            off, va, memsz = int(f[1], 16), int(f[2], 16), int(f[5], 16)
            if va <= vaddr < va + memsz:
                return vaddr - va + off, vaddr
    raise SystemExit(f"uprobe_floor.py: no LOAD segment holds {symbol}")


def instruction(lib, vaddr):
    out = subprocess.run(["objdump", "-d", f"--start-address={vaddr:#x}",
                          f"--stop-address={vaddr + 8:#x}", lib],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0].strip().rstrip(":"):
            return parts[2].strip()
    return "?"


def open_uprobe(path, offset, retprobe):
    libc = ctypes.CDLL(None, use_errno=True)
    ptype = int(open("/sys/bus/event_source/devices/uprobe/type").read())
    cpath = ctypes.create_string_buffer(path.encode())
    attr = PerfEventAttr()
    attr.type = ptype
    attr.size = ctypes.sizeof(PerfEventAttr)
    attr.config = 1 if retprobe else 0
    attr.config1 = ctypes.cast(cpath, ctypes.c_void_p).value
    attr.config2 = offset
    attr.flags = 0  # enabled at once
    fd = libc.syscall(298, ctypes.byref(attr), 0, -1, -1, 0)  # perf_event_open, this process
    if fd < 0:
        e = ctypes.get_errno()
        raise SystemExit(f"uprobe_floor.py: perf_event_open(uprobe {path}+{offset:#x}): "
                         f"{os.strerror(e)}")
    return fd


def loop(fn, n):
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=50000)
    a = ap.parse_args()
    off, vaddr = file_offset(LIBC, "rand")
    first, second = instruction(LIBC, vaddr), instruction(LIBC, vaddr + 4)
    if not first.startswith("sub") or not second.startswith("call"):
        raise SystemExit(f"uprobe_floor.py: rand starts with '{first}', '{second}' here, not "
                         "sub/call: this libc differs from the one the script was written for")
    rand = ctypes.CDLL(LIBC).rand
    cases = [("no probe", None, False),
             (f"uprobe rand+0 ({first}): int3 + single-step", 0, False),
             (f"uprobe rand+4 ({second}): int3, emulated", 4, False),
             ("uretprobe rand (entry hook at +0, return trampoline)", 0, True)]
    results = {c[0]: [] for c in cases}
    hits = {}
    for _ in range(5):
        for name, delta, ret in cases:
            fd = None if delta is None else open_uprobe(LIBC, off + delta, ret)
            results[name].append(loop(rand, a.n))
            if fd is not None:
                hits[name] = int.from_bytes(os.read(fd, 8), "little")
                os.close(fd)
    base = statistics.median(results["no probe"])
    print(f"uprobe floor: libc rand() called {a.n} times per run from Python, median of 5")
    for name, _, _ in cases:
        med = statistics.median(results[name])
        extra = "" if name == "no probe" else \
            f"  (+{med - base:,.0f} ns per hit; kernel counted {hits[name]} hits in the last run)"
        print(f"  {name:<56} {med:>9,.0f} ns/call{extra}")


if __name__ == "__main__":
    sys.exit(main())
