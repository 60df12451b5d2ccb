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

Then the same for OpenSSL 3 itself: SSL_write_ex() of 1 byte over an in-memory TLS 1.3
connection (Python's ssl.SSLObject, which calls SSL_write_ex), with a uprobe / uretprobe on
SSL_write_ex (what sslcollector and bpftrace attach to; first instruction `sub`) and on the
internal function all of SSL_write/SSL_write_ex call, ssl_write_internal (not exported: its
address is the target of the first `call` in SSL_write_ex; first instruction `push`).

    bench/uprobe_floor.py [-n CALLS]        (root)

Prints ns per call for each, the median of 5 alternating runs, and the hit count the kernel
reports (which must equal the calls). x86_64 only: it checks the instructions it expects."""
import argparse
import ctypes
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
LIBSSL = "/usr/lib/x86_64-linux-gnu/libssl.so.3"


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
    return vaddr_to_offset(lib, vaddr), vaddr


def vaddr_to_offset(lib, vaddr):
    segs = subprocess.run(["readelf", "-lW", lib], capture_output=True, text=True,
                          check=True).stdout
    for line in segs.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            off, va, memsz = int(f[1], 16), int(f[2], 16), int(f[5], 16)
            if va <= vaddr < va + memsz:
                return vaddr - va + off
    raise SystemExit(f"uprobe_floor.py: no LOAD segment holds {vaddr:#x} in {lib}")


def first_call_target(lib, vaddr):
    out = subprocess.run(["objdump", "-d", f"--start-address={vaddr:#x}",
                          f"--stop-address={vaddr + 32:#x}", lib],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2].startswith("call"):
            return int(parts[2].split()[1], 16)
    raise SystemExit(f"uprobe_floor.py: no call in the first bytes of {vaddr:#x} in {lib}")


def instruction(lib, vaddr):
    out = subprocess.run(["objdump", "-d", f"--start-address={vaddr:#x}",
                          f"--stop-address={vaddr + 8:#x}", lib],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0].strip().rstrip(":"):
            return parts[2].strip()
    return "?"


def open_uprobe(path, offset, retprobe, pid=0, cpu=-1):
    """A counting perf uprobe (no BPF program): of this process by default; pid -1 with a cpu
    counts every process on that CPU."""
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
    fd = libc.syscall(298, ctypes.byref(attr), pid, cpu, -1, 0)  # perf_event_open
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
    report(f"uprobe floor: libc rand() called {a.n} times per run from Python, median of 5",
           cases, results, hits)

    # OpenSSL: SSL_write_ex (sub first) against ssl_write_internal (push first)
    off_ex, va_ex = file_offset(LIBSSL, "SSL_write_ex")
    va_int = first_call_target(LIBSSL, va_ex)
    off_int = vaddr_to_offset(LIBSSL, va_int)
    i_ex, i_int = instruction(LIBSSL, va_ex), instruction(LIBSSL, va_int)
    client, drain = tls_pair()
    cases = [("no probe", None, False),
             (f"uprobe SSL_write_ex ({i_ex})", off_ex, False),
             (f"uretprobe SSL_write_ex", off_ex, True),
             (f"uprobe ssl_write_internal ({i_int})", off_int, False),
             (f"uretprobe ssl_write_internal", off_int, True)]
    results = {c[0]: [] for c in cases}
    hits = {}

    def write1():
        client.write(b"x")
        drain()

    for _ in range(5):
        for name, off, ret in cases:
            fd = None if off is None else open_uprobe(LIBSSL, off, ret)
            results[name].append(loop(write1, a.n))
            if fd is not None:
                hits[name] = int.from_bytes(os.read(fd, 8), "little")
                os.close(fd)
    report(f"OpenSSL {ssl.OPENSSL_VERSION.split()[1]}: SSL_write_ex() of 1 byte on an in-memory "
           f"TLS 1.3 connection, {a.n} calls per run, median of 5", cases, results, hits)


def report(title, cases, results, hits):
    base = statistics.median(results["no probe"])
    print(title)
    for name, _, _ in cases:
        med = statistics.median(results[name])
        extra = "" if name == "no probe" else \
            f"  (+{med - base:,.0f} ns per hit; {hits[name]} hits counted in the last run)"
        print(f"  {name:<56} {med:>9,.0f} ns/call{extra}")


def tls_pair():
    """A TLS 1.3 client and server over memory BIOs, handshake done; returns the client
    SSLObject and a function that moves the client's records to the server and reads them."""
    d = tempfile.mkdtemp(prefix="uprobe_floor.")
    key, crt = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=floor",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(crt, key)
    for f in (key, crt):
        os.unlink(f)
    os.rmdir(d)
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = cctx.wrap_bio(c_in, c_out)
    server = sctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for obj in (client, server):
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    client.do_handshake()

    def drain():
        s_in.write(c_out.read())
        try:
            server.read(65536)
        except ssl.SSLWantReadError:
            pass
    return client, drain


if __name__ == "__main__":
    sys.exit(main())
