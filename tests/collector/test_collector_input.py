#!/usr/bin/python3
"""Collector input robustness, on loopback with -w to a temporary pcap (no interfaces, no
root needed; as root it also checks that the collector dropped to --user nobody).

    bad peers ──┐
                ├──TLS──▶ sslcollector -C -l 127.0.0.1:PORT -w out.pcap --stats-file ...
    good agents ┘

Each bad case is followed by a good agent whose frames must land in the pcap while a
long-lived good agent stays connected throughout. No byte of a bad peer may reach the pcap,
and the stats file must count each case under its own name. Then --vlan-per-agent is checked
on a second collector, and a clean stop on SIGTERM.

Usage: test_collector_input.py SSLCOLLECTOR MAKE_CERTS_SH
"""
import os
import pwd
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

SSLC, MAKE_CERTS = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="sslc-collector-test-")
PKI, OTHER = os.path.join(TMP, "pki"), os.path.join(TMP, "other")
STATS_DIR = os.path.join(TMP, "stats")
procs = []


def log(msg):
    print(f"[collector-input] {msg}", flush=True)


def wait_for(what, cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def free_port():
    with socket.socket(socket.AF_INET6) as s:  # free on both ::1 and 127.0.0.1
        s.bind(("::", 0))
        return s.getsockname()[1]


# ---- the collector ------------------------------------------------------------------------

class Collector:
    def __init__(self, name, extra=(), listen="127.0.0.1"):
        self.pcap = os.path.join(TMP, f"{name}.pcap")
        self.stats_path = os.path.join(STATS_DIR, f"{name}.prom")
        self.log_path = os.path.join(TMP, f"{name}.log")
        for attempt in range(5):
            self.port = free_port()
            args = [SSLC, "-C", "-l", f"{listen}:{self.port}", "-w", self.pcap,
                    "--ca", f"{PKI}/ca.crt", "--cert", f"{PKI}/collector.crt",
                    "--key", f"{PKI}/collector.key", "--stats-file", self.stats_path,
                    "--stats-interval", "1", "--handshake-timeout", "1",
                    "--user", "nobody", "-v", *extra]
            self.logf = open(self.log_path, "w")
            self.proc = subprocess.Popen(args, stdout=self.logf, stderr=subprocess.STDOUT)
            procs.append(self.proc)
            if self._ready():
                return
            self.proc.kill()
            self.proc.wait()
        raise AssertionError(f"collector did not start:\n{open(self.log_path).read()}")

    def _ready(self):
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return False
            if "listening on" in open(self.log_path).read():
                return True
            time.sleep(0.02)
        return False

    def stats(self):
        out = {}
        try:
            with open(self.stats_path) as f:
                for line in f:
                    if line.startswith("#") or not line.strip():
                        continue
                    key, value = line.rsplit(" ", 1)
                    out[key] = int(value)
        except FileNotFoundError:
            pass
        return out

    def expect(self, key, value):
        wait_for(f"{key} == {value} (now {self.stats().get(key)})",
                 lambda: self.stats().get(key) == value)

    def frames(self):
        with open(self.pcap, "rb") as f:
            data = f.read()
        assert data[:4] == struct.pack("<I", 0xA1B2C3D4), "pcap magic"
        frames, off = [], 24
        while off + 16 <= len(data):
            _, _, caplen, origlen = struct.unpack_from("<IIII", data, off)
            assert caplen == origlen
            if off + 16 + caplen > len(data):
                break
            frames.append(data[off + 16: off + 16 + caplen])
            off += 16 + caplen
        return frames

    def log_text(self):
        return open(self.log_path).read()


# ---- peers ----------------------------------------------------------------------------------

def tls_context(cert_dir=None, ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca or f"{PKI}/ca.crt")
    if cert_dir:
        ctx.load_cert_chain(f"{cert_dir}/agent.crt", f"{cert_dir}/agent.key")
    return ctx


def global_header(magic=0xA1B2C3D4):
    return struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 262144, 1)


def frame(marker, size=200, ethertype=b"\x08\x00"):
    body = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02" + ethertype + marker
    return body + b"." * (size - len(body))


def record(fr, caplen=None, origlen=None):
    caplen = len(fr) if caplen is None else caplen
    origlen = caplen if origlen is None else origlen
    return struct.pack("<IIII", int(time.time()), 0, caplen, origlen) + fr


class Agent:
    def __init__(self, col, name="web-1", ctx=None, host="127.0.0.1"):
        self.ctx = ctx or tls_context(f"{PKI}/agents/{name}")
        raw = socket.create_connection((host, col.port), timeout=10)
        self.s = self.ctx.wrap_socket(raw, server_hostname=host)

    def send(self, data):
        self.s.sendall(data)

    def close(self):
        try:
            self.s.unwrap()
        except (ssl.SSLError, OSError):
            pass
        self.s.close()


def closed_by_collector(sock):
    """True once the collector has closed the connection (EOF, reset or a TLS alert)."""
    sock.settimeout(5)
    try:
        while True:
            if not sock.recv(4096):
                return True
    except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def good_agent_round(col, tag, long_lived, n=5, close_notify=True):
    markers = [f"GOOD-{tag}-{i}".encode() for i in range(n)]
    a = Agent(col, "web-2")
    a.send(global_header() + b"".join(record(frame(m)) for m in markers))
    if close_notify:
        a.close()
    else:  # a plain TCP close (FIN) at a record boundary is a clean end too
        a.s.setblocking(False)
        try:  # take the collector's session ticket, or closing would send a reset
            a.s.recv(1)
        except ssl.SSLWantReadError:
            pass
        a.s.close()
    long_marker = f"LONG-{tag}".encode()
    long_lived.send(record(frame(long_marker)))
    want = markers + [long_marker]
    wait_for(f"good frames of round {tag}",
             lambda: all(any(m in f for f in col.frames()) for m in want))


def no_bad_bytes(col):
    for f in col.frames():
        assert b"BAD" not in f, f"a bad peer's frame reached the pcap: {f[:40]!r}"


# ---- the cases ----------------------------------------------------------------------------

def case_garbage(col):
    s = socket.create_connection(("127.0.0.1", col.port))
    s.sendall(b"GET /BAD-GARBAGE HTTP/1.1\r\nHost: x\r\n\r\n")
    assert closed_by_collector(s)
    s.close()
    col.expect('sslcollector_collector_handshake_failures_total{reason="protocol"}', 1)


def case_no_certificate(col):
    s = tls_context().wrap_socket(socket.create_connection(("127.0.0.1", col.port)),
                                  server_hostname="127.0.0.1")
    try:
        s.sendall(global_header() + record(frame(b"BAD-NOCERT")))
    except (ssl.SSLError, OSError):
        pass
    assert closed_by_collector(s)
    s.close()
    col.expect('sslcollector_collector_handshake_failures_total{reason="no_client_certificate"}',
               1)


def case_other_ca(col):
    ctx = tls_context(f"{OTHER}/agents/intruder", ca=f"{PKI}/ca.crt")
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", col.port)),
                        server_hostname="127.0.0.1")
    try:
        s.sendall(global_header() + record(frame(b"BAD-OTHERCA")))
    except (ssl.SSLError, OSError):
        pass
    assert closed_by_collector(s)
    s.close()
    col.expect('sslcollector_collector_handshake_failures_total{reason="certificate_rejected"}',
               1)
    col.expect("sslcollector_collector_certificate_verify_failures_total", 1)


def bad_agent(col, payload, reason, count):
    a = Agent(col)
    a.send(payload)
    assert closed_by_collector(a.s), f"the collector kept an agent that sent {reason}"
    a.s.close()
    col.expect(f'sslcollector_collector_malformed_total{{reason="{reason}"}}', count)


def case_wrong_magic(col):
    # a pcapng section header instead of a pcap one
    bad_agent(col, global_header(0x0A0D0D0A) + record(frame(b"BAD-MAGIC")), "bad_magic", 1)
    assert "agent CN=web-1 127.0.0.1:" in col.log_text()
    assert "malformed stream (bad_magic)" in col.log_text()


def case_truncated(col):
    a = Agent(col)
    a.send(global_header() + record(frame(b"BAD-TRUNCATED", 600))[:300])
    a.close()  # ends in the middle of the record
    col.expect('sslcollector_collector_malformed_total{reason="truncated"}', 1)


def case_huge_caplen(col):
    hdr = struct.pack("<IIII", int(time.time()), 0, 1 << 31, 1 << 31)
    bad_agent(col, global_header() + hdr + frame(b"BAD-HUGE"), "caplen_over_snaplen", 1)


def case_larger_than_an_ip_packet(col, long_lived):
    # frames up to the largest IP packet are taken (agents forge the tunnel's frames for up to
    # 64 KiB; -o cuts TCP segments to its MTU, -w, here, records them as they came)
    long_lived.send(record(frame(b"JUMBO-OK", 9014)) + record(frame(b"MAX-OK", 14 + 65535)))
    wait_for("frames of 9014 and 65549 bytes in the pcap",
             lambda: {len(f) for f in col.frames() if b"-OK" in f} == {9014, 65549})
    bad_agent(col, global_header() + record(frame(b"BAD-JUMBO", 14 + 65536)), "frame_too_large",
              1)
    assert "frame of 65550 bytes is larger than IP packets of at most 65535 bytes" in \
        col.log_text(), "the log must say why"


def case_stalled_handshake(col):
    # the first half of a real ClientHello, then silence
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="x")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    s = socket.create_connection(("127.0.0.1", col.port))
    s.sendall(hello[: len(hello) // 2])
    started = time.monotonic()
    assert closed_by_collector(s), "a stalled handshake must be dropped"
    assert time.monotonic() - started < 4, "the handshake deadline (1 s) was not enforced"
    s.close()
    col.expect('sslcollector_collector_handshake_failures_total{reason="timeout"}', 1)


def check_privileges(col):
    if os.geteuid() != 0:
        log("not root: privilege drop not exercised (the collector runs as this user)")
        return
    nobody = pwd.getpwnam("nobody").pw_uid
    with open(f"/proc/{col.proc.pid}/status") as f:
        status = dict(line.split(":", 1) for line in f)
    uids = status["Uid"].split()
    assert all(int(u) == nobody for u in uids), f"collector uids {uids}, want nobody"
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0, status["CapEff"]
    assert status["NoNewPrivs"].strip() == "1"


def check_stats_dir_unwritable():
    bad_dir = os.path.join(TMP, "readonly")
    os.mkdir(bad_dir, 0o555)
    r = subprocess.run([SSLC, "-C", "-l", f"127.0.0.1:{free_port()}", "-w",
                        os.path.join(TMP, "x.pcap"), "--ca", f"{PKI}/ca.crt",
                        "--cert", f"{PKI}/collector.crt", "--key", f"{PKI}/collector.key",
                        "--stats-file", os.path.join(bad_dir, "s.prom"), "--user", "nobody"],
                       capture_output=True, text=True, timeout=20)
    if os.geteuid() == 0:  # root may write there; nobody may not: found after the drop
        assert r.returncode == 1, r.stderr
        assert "--stats-file" in r.stderr and "writable by the --user nobody" in r.stderr, \
            r.stderr
    else:  # the option check finds it before anything starts
        assert r.returncode == 2 and "--stats-file" in r.stderr, r.stderr


def check_vlan_per_agent():
    col = Collector("vlan", ["--vlan-per-agent", "--vlan", "100"])
    try:
        for name, marker in (("web-1", b"V1-a"), ("web-2", b"V2-a"), ("web-1", b"V1-b")):
            a = Agent(col, name)
            # the second web-1 frame arrives already tagged (VLAN 7): its tag is replaced
            eth = b"\x81\x00\x00\x07\x08\x00" if marker == b"V1-b" else b"\x08\x00"
            a.send(global_header() + record(frame(marker, ethertype=eth)))
            a.close()
        wanted = {b"V1-a": 100, b"V2-a": 101, b"V1-b": 100}

        def tags():
            found = {}
            for f in col.frames():
                for m in wanted:
                    if m in f:
                        assert f[12:14] == b"\x81\x00", f"frame {m!r} is not tagged"
                        found[m] = struct.unpack(">H", f[14:16])[0] & 0xFFF
                        assert f[16:18] == b"\x08\x00" and f[18:18 + len(m)] == m
            return found if len(found) == len(wanted) else None

        assert wait_for("tagged frames", tags) == wanted
        col.expect('sslcollector_collector_agent_vlan{agent="CN=web-2"}', 101)
    finally:
        stop(col)


def check_max_agents_and_ipv6():
    """--max-agents 1 on [::1]: a second agent is refused while the first is connected, and
    served once the first has gone."""
    col = Collector("limits", ["--max-agents", "1"], listen="[::1]")
    try:
        first = Agent(col, "web-1", host="::1")
        first.send(global_header() + record(frame(b"LIMIT-first")))
        col.expect("sslcollector_collector_agents_connected", 1)
        second = Agent(col, "web-2", host="::1")
        try:
            second.send(global_header() + record(frame(b"BAD-over-limit")))
        except (ssl.SSLError, OSError):
            pass
        assert closed_by_collector(second.s), "an agent beyond --max-agents was kept"
        second.s.close()
        col.expect('sslcollector_collector_connections_refused_total{reason="max_agents"}', 1)
        first.close()
        col.expect("sslcollector_collector_agents_connected", 0)
        third = Agent(col, "web-2", host="::1")
        third.send(global_header() + record(frame(b"LIMIT-third")))
        third.close()
        wait_for("frames of the agents within the limit",
                 lambda: all(any(m in f for f in col.frames())
                             for m in (b"LIMIT-first", b"LIMIT-third")))
        no_bad_bytes(col)
        assert "--max-agents agents already connected" in col.log_text()
    finally:
        stop(col)


def stop(col):
    col.proc.send_signal(signal.SIGTERM)
    rc = col.proc.wait(timeout=20)
    assert rc == 0, f"collector exit status {rc} after SIGTERM:\n{col.log_text()}"
    assert " error: " not in col.log_text(), col.log_text()


def main():
    subprocess.run([MAKE_CERTS, "-d", PKI, "-c", "127.0.0.1", "-c", "::1", "-a", "web-1",
                    "-a", "web-2"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([MAKE_CERTS, "-d", OTHER, "-c", "127.0.0.1", "-a", "intruder"], check=True,
                   stdout=subprocess.DEVNULL)
    os.mkdir(STATS_DIR)
    os.chmod(STATS_DIR, 0o1777)  # the collector writes it after dropping to nobody
    os.chmod(TMP, 0o755)

    col = Collector("main")
    check_privileges(col)
    long_lived = Agent(col, "web-2")
    long_lived.send(global_header())
    good_agent_round(col, "start", long_lived)
    cases = [case_garbage, case_no_certificate, case_other_ca, case_wrong_magic,
             case_truncated, case_huge_caplen, case_larger_than_an_ip_packet,
             case_stalled_handshake]
    for case in cases:
        log(case.__name__)
        if case is case_larger_than_an_ip_packet:
            case(col, long_lived)
        else:
            case(col)
        good_agent_round(col, case.__name__, long_lived)
        no_bad_bytes(col)
    good_agent_round(col, "no_close_notify", long_lived, close_notify=False)
    long_lived.close()
    col.expect("sslcollector_collector_agents_connected", 0)
    rounds = len(cases) + 2
    st = col.stats()
    # every good round: one agent of 5 frames + one frame of the long-lived agent
    # (and the two large frames of case_larger_than_an_ip_packet)
    assert st["sslcollector_collector_records_received_total"] == rounds * 6 + 2, st
    assert st['sslcollector_collector_agent_connections_total{agent="CN=web-2"}'] == rounds + 1
    assert st['sslcollector_collector_agent_malformed_total{agent="CN=web-1"}'] == 4
    assert st['sslcollector_collector_disconnections_total{reason="malformed"}'] == 4
    # every good agent ended cleanly, with or without close_notify
    assert st['sslcollector_collector_disconnections_total{reason="peer_closed"}'] == rounds + 1
    assert st['sslcollector_collector_disconnections_total{reason="connection_error"}'] == 0
    assert st['sslcollector_collector_handshakes_completed_total'] == rounds + 1 + 4
    assert st["sslcollector_collector_connections_accepted_total"] == rounds + 1 + 4 + 4, st
    assert st['sslcollector_collector_frames_injected_total{output="-w %s"}' % col.pcap] == \
        rounds * 6 + 2
    stop(col)
    no_bad_bytes(col)

    log("stats directory not writable")
    check_stats_dir_unwritable()
    log("--vlan-per-agent")
    check_vlan_per_agent()
    log("--max-agents, IPv6")
    check_max_agents_and_ipv6()
    log("all cases passed")


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("SSLC_TEST_KEEP"):
            log(f"kept {TMP}")
        else:
            shutil.rmtree(TMP, ignore_errors=True)
