#!/usr/bin/python3
"""Collector injection into a real interface (root, network namespaces): two agents' frames,
MTU-sized and already VLAN-tagged ones included, must come out of the far end of the
collector's -o veth byte for byte, each agent under its own VLAN id (--vlan-per-agent); a TCP
segment larger than the MTU (agents forge the tunnel's frames for up to 64 KiB) comes out cut
into the segments this file computes for itself (payload pieces of the MSS, sequence numbers,
IPv4 ids, PSH on the last, both checksums).

    netns <pid>c                                            netns <pid>i
    agents (web-1, web-2) ──TLS 127.0.0.1──▶ sslcollector -C -o vc ═veth═ vi ◀── AF_PACKET
                                             (MTU 1500)                        capture

Usage: test_collector_inject.py SSLCOLLECTOR MAKE_CERTS_SH
"""
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

ETH_P_ALL = 0x0003
SOL_PACKET, PACKET_AUXDATA = 263, 8
TP_STATUS_VLAN_VALID = 0x10


def capture(iface, count, timeout):
    """Mode 'capture' (runs in the receiving namespace): prints one JSON line per frame seen,
    with its VLAN id (the kernel moves the tag into metadata) and payload in hex."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((iface, 0))
    s.settimeout(0.2)
    print("ready", flush=True)
    end, seen = time.monotonic() + timeout, 0
    while seen < count and time.monotonic() < end:
        try:
            data, anc, _, _ = s.recvmsg(70000, socket.CMSG_SPACE(20))
        except socket.timeout:
            continue
        vlan = None
        for level, kind, blob in anc:
            if level == SOL_PACKET and kind == PACKET_AUXDATA:
                status, _, _, _, _, tci, tpid = struct.unpack("IIIHHHH", blob[:20])
                if status & TP_STATUS_VLAN_VALID:
                    vlan = (tpid, tci & 0xFFF)
        if b"INJ-" not in data:
            continue  # IPv6 router solicitations and the like
        seen += 1
        print(json.dumps({"vlan": vlan, "hex": data.hex()}), flush=True)


def frame(marker, size, tag=None):
    eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01"
    eth += (b"\x81\x00" + struct.pack(">H", tag) if tag else b"") + b"\x08\x00"
    body = eth + marker
    return body + bytes((i * 7) & 0xFF for i in range(size - len(body)))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp_frame(seq, ip_id, payload, flags=0x18):
    """Ethernet/IPv4/TCP (no options), checksums right."""
    src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    tcp = struct.pack(">HHIIBBHHH", 40000, 443, seq, 7, 5 << 4, flags, 502, 0, 0) + payload
    tcp = tcp[:16] + struct.pack(">H", csum(src + dst + struct.pack(">BBH", 0, 6, len(tcp)) +
                                           tcp)) + tcp[18:]
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ip_id, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack(">H", csum(ip)) + ip[12:]
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp


def cut(seq, ip_id, payload, mss=1460):
    """The frames a sender would have sent instead of tcp_frame(seq, ip_id, payload)."""
    pieces = [payload[i:i + mss] for i in range(0, len(payload), mss)]
    return [tcp_frame(seq + k * mss, ip_id + k, p, 0x18 if k == len(pieces) - 1 else 0x10)
            for k, p in enumerate(pieces)]


def send(port, pki, name, frames):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(f"{pki}/ca.crt")
    ctx.load_cert_chain(f"{pki}/agents/{name}/agent.crt", f"{pki}/agents/{name}/agent.key")
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                        server_hostname="127.0.0.1")
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    for f in frames:
        data += struct.pack("<IIII", int(time.time()), 0, len(f), len(f)) + f
    s.sendall(data)
    s.unwrap()
    s.close()


def inner(sslc, make_certs, ns_i, tmp):
    """Runs in the collector's namespace."""
    pki = f"{tmp}/pki"
    subprocess.run([make_certs, "-d", pki, "-c", "127.0.0.1", "-a", "web-1", "-a", "web-2"],
                   check=True, stdout=subprocess.DEVNULL)
    big = (b"INJ-1-BIG-" * 400)[:4000]
    frames = {
        "web-1": [frame(b"INJ-1-small", 60), frame(b"INJ-1-mtu", 1514),
                  frame(b"INJ-1-tagged", 1518, tag=0x2007), tcp_frame(1000, 77, big)],
        "web-2": [frame(b"INJ-2-small", 100), frame(b"INJ-2-mtu", 1514)],
    }
    pieces = cut(1000, 77, big)
    assert len(pieces) == 3
    total = sum(len(v) for v in frames.values()) - 1 + len(pieces)
    cap = subprocess.Popen(["ip", "netns", "exec", ns_i, sys.executable, __file__, "capture",
                            "vi", str(total), "20"], stdout=subprocess.PIPE, text=True)
    col = None
    try:
        assert cap.stdout.readline().strip() == "ready"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = open(f"{tmp}/collector.log", "w")
        os.chmod(tmp, 0o755)
        col = subprocess.Popen([sslc, "-C", "-l", f"127.0.0.1:{port}", "-o", "vc",
                                "--vlan-per-agent", "--vlan", "200", "--ca", f"{pki}/ca.crt",
                                "--cert", f"{pki}/collector.crt", "--key",
                                f"{pki}/collector.key", "--stats-file",
                                f"{tmp}/stats/c.prom", "--stats-interval", "1", "-v"],
                               stdout=log, stderr=subprocess.STDOUT)
        end = time.monotonic() + 10
        while "listening on" not in open(f"{tmp}/collector.log").read():
            assert col.poll() is None and time.monotonic() < end, \
                open(f"{tmp}/collector.log").read()
            time.sleep(0.02)
        send(port, pki, "web-1", frames["web-1"])
        send(port, pki, "web-2", frames["web-2"])
        got = [json.loads(line) for line in cap.stdout]
        cap.wait()
        want = {1: ("web-1", 200), 2: ("web-2", 201)}
        assert len(got) == total, f"{len(got)} of {total} frames arrived: {got}\n" + \
            open(f"{tmp}/collector.log").read()
        for g in got:
            data = bytes.fromhex(g["hex"])
            if data[14] == 0x45 and data[23] == 6:  # the pieces of the big TCP segment
                assert g["vlan"] == [0x8100, 200], f"big: VLAN {g['vlan']}, want 200"
                assert data == pieces.pop(0), f"piece of the big segment: {data[:60].hex()}"
                continue
            agent = int(data[18:19]) if data[14:18] == b"INJ-" else None
            name, vid = want[agent]
            assert g["vlan"] == [0x8100, vid], f"{name}: VLAN {g['vlan']}, want {vid}"
            # the kernel hands the frame over untagged: compare with the frame sent, untagged
            sent = [f for f in frames[name] if data[14:30] in f]
            assert len(sent) == 1, f"unexpected frame {data[:32].hex()}"
            untagged = sent[0][:12] + sent[0][16:] if sent[0][12:14] == b"\x81\x00" \
                else sent[0]
            assert data == untagged, f"{name}: frame changed on the way"
        assert not pieces, f"{len(pieces)} pieces of the big segment missing"
        col.send_signal(signal.SIGTERM)
        assert col.wait(timeout=20) == 0
        stats = open(f"{tmp}/stats/c.prom").read()
        assert f'sslcollector_collector_frames_injected_total{{output="-o vc"}} {total}' in stats
        assert 'reason="output_refused"} 0' in stats
        print(f"[collector-inject] {total} frames injected with per-agent VLAN ids, a "
              "4054-byte TCP segment cut into 3", flush=True)
    finally:
        for p in (cap, col):
            if p and p.poll() is None:
                p.kill()
                p.wait()


def main():
    if sys.argv[1] == "capture":
        return capture(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    if sys.argv[1] == "inner":
        return inner(*sys.argv[2:6])
    if os.geteuid() != 0:
        sys.exit("test_collector_inject: needs root (network namespaces, AF_PACKET)")
    sslc, make_certs = sys.argv[1], sys.argv[2]
    ns_c, ns_i = f"sslci{os.getpid()}c", f"sslci{os.getpid()}i"
    tmp = tempfile.mkdtemp(prefix="sslc-inject-")
    os.mkdir(f"{tmp}/stats", 0o1777)
    os.chmod(f"{tmp}/stats", 0o1777)
    try:
        for cmd in (["ip", "netns", "add", ns_c], ["ip", "netns", "add", ns_i],
                    ["ip", "link", "add", "vc", "netns", ns_c, "type", "veth", "peer", "name",
                     "vi", "netns", ns_i],
                    ["ip", "-n", ns_c, "link", "set", "lo", "up"],
                    ["ip", "-n", ns_c, "link", "set", "vc", "up"],
                    ["ip", "-n", ns_i, "link", "set", "vi", "up"]):
            subprocess.run(cmd, check=True)
        r = subprocess.run(["ip", "netns", "exec", ns_c, sys.executable, __file__, "inner", sslc,
                            make_certs, ns_i, tmp])
        sys.exit(r.returncode)
    finally:
        subprocess.run(["ip", "netns", "del", ns_c], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "del", ns_i], stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
