"""A stand-in for sslcollector, to prove the mirror test (test_mirror_suricata.sh) without the
agent: when told to stop (SIGTERM) it forges, from the workload's ground truth, the TCP
connections sslcollector should have produced (handshake, MSS-sized segments with PSH on the
last of each write, a pure ACK from the peer after each write, FIN/ACK, FIN/ACK, ACK, valid
checksums, window scaling), writes them to the pcap and sends them out of the mirror interface. It sees no
traffic; it only knows what the client recorded. Its own code, independent of pcaptool.py.

    SSLC_E2E_MIRROR_READY=none \\
    SSLC_E2E_MIRROR_CMD="/usr/bin/python3 tests/e2e/lib/fake_mirror.py [--corrupt MODE]" \\
        tests/e2e/test_mirror_suricata.sh

--corrupt breaks the mirror on purpose, so the test must fail, and say why:
  tcp-checksum  one data segment of the 5 MiB download carries a wrong TCP checksum
  payload       one byte of the response-body token is changed (checksums recomputed)
  drop          the segment holding the request-body token of the first POST is left out
                (the peer still acknowledges it: a hole, as after a capture gap)
Environment (exported by e2e_mirror_start): E2E_MIRROR_OUT, E2E_MIRROR_PCAP, E2E_GROUND_TRUTH.
"""
import argparse
import json
import os
import random
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import content  # noqa: E402

MAC_CLIENT = bytes.fromhex("025353000001")  # locally administered
MAC_SERVER = bytes.fromhex("025353000002")
WSCALE = 8


def csum(data):
    """RFC 1071, big-endian words summed by struct (pcaptool.py has its own way)."""
    if len(data) & 1:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total > 0xFFFF:
        total = (total >> 16) + (total & 0xFFFF)
    return ~total & 0xFFFF


class Forge:
    def __init__(self, mtu, corrupt):
        self.mtu = mtu
        self.corrupt = corrupt
        self.frames = []  # (timestamp, bytes)
        self.t = time.time()
        self.ip_id = 1
        self.corrupted = None

    def frame(self, conn, from_client, seq, ack, flags, payload=b"", mss=None, bad_csum=False):
        v6 = ":" in conn["client"][0]
        (cip, cport), (sip, sport) = conn["client"], conn["server"]
        src, dst = (cip, sip) if from_client else (sip, cip)
        sp, dp = (cport, sport) if from_client else (sport, cport)
        fam = socket.AF_INET6 if v6 else socket.AF_INET
        s, d = socket.inet_pton(fam, src), socket.inet_pton(fam, dst)
        # SYN and SYN-ACK: MSS and window scale 8, so the 65535 window below means 16 MiB
        # and a whole 5 MiB write fits in it before the peer's ACK.
        opts = struct.pack("!BBHBBBB", 2, 4, mss, 1, 3, 3, WSCALE) if mss else b""
        tcp = struct.pack("!HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                          (5 + len(opts) // 4) << 4, flags, 65535, 0, 0) + opts + payload
        if v6:
            pseudo = s + d + struct.pack("!I3xB", len(tcp), 6)
        else:
            pseudo = s + d + struct.pack("!xBH", 6, len(tcp))
        c = csum(pseudo + tcp)
        if bad_csum:
            c ^= 0x5555
        tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
        if v6:
            ip = struct.pack("!IHBB", 6 << 28, len(tcp), 6, 64) + s + d
            eth = 0x86DD
        else:
            ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(tcp), self.ip_id & 0xFFFF, 0x4000,
                             64, 6, 0) + s + d
            ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
            self.ip_id += 1
            eth = 0x0800
        macs = (MAC_SERVER + MAC_CLIENT) if from_client else (MAC_CLIENT + MAC_SERVER)
        self.t += 0.00001
        self.frames.append((self.t, macs + struct.pack("!H", eth) + ip + tcp))

    def connection(self, conn, sent, received, first_download, first_keepalive):
        rnd = random.Random(conn["id"])
        v6 = ":" in conn["client"][0]
        mss = self.mtu - (60 if v6 else 40)
        isn = {True: rnd.getrandbits(32), False: rnd.getrandbits(32)}
        nxt = {True: isn[True] + 1, False: isn[False] + 1}  # next seq per side (True=client)
        self.frame(conn, True, isn[True], 0, 0x02, mss=mss)
        self.frame(conn, False, isn[False], nxt[True], 0x12, mss=mss)
        self.frame(conn, True, nxt[True], nxt[False], 0x10)
        offsets = {True: 0, False: 0}
        streams = {True: sent, False: received}
        if first_keepalive and self.corrupt == "payload":
            tok = content.RESPONSE_BODY_TOKEN.encode()
            at = received.index(tok) + len(tok) // 2
            received = bytearray(received)
            received[at] ^= 0x20
            streams[False] = bytes(received)
            self.corrupted = "byte %d of %s server->client" % (at, conn["id"])
        drop_at = None  # client stream offset whose segment is left out
        if first_keepalive and self.corrupt == "drop":
            drop_at = sent.index(content.REQUEST_BODY_TOKEN.encode())
        data_segments = 0
        for direction, n in conn["exchange"]:
            side = direction == "c2s"
            data = streams[side][offsets[side]:offsets[side] + n]
            offsets[side] += n
            for i in range(0, len(data), mss):
                chunk = data[i:i + mss]
                at = offsets[side] - n + i  # offset of chunk in its stream
                last = i + mss >= len(data)
                data_segments += 1
                bad = (first_download and self.corrupt == "tcp-checksum" and not side
                       and data_segments == 100)
                skip = side and drop_at is not None and at <= drop_at < at + len(chunk)
                if bad:
                    self.corrupted = "TCP checksum of data segment 100 of %s" % conn["id"]
                if skip:
                    self.corrupted = "%d bytes at client offset %d of %s dropped" % (
                        len(chunk), at, conn["id"])
                else:
                    self.frame(conn, side, nxt[side], nxt[not side], 0x18 if last else 0x10,
                               chunk, bad_csum=bad)
                nxt[side] += len(chunk)
            self.frame(conn, not side, nxt[not side], nxt[side], 0x10)
        self.frame(conn, True, nxt[True], nxt[False], 0x11)
        nxt[True] += 1
        self.frame(conn, False, nxt[False], nxt[True], 0x11)
        nxt[False] += 1
        self.frame(conn, True, nxt[True], nxt[False], 0x10)


def write_pcap(path, frames):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, fr in frames:
            f.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(fr), len(fr)))
            f.write(fr)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corrupt", choices=["none", "tcp-checksum", "payload", "drop"],
                    default="none")
    ap.add_argument("--mtu", type=int, default=1500)
    a = ap.parse_args()
    out, pcap, gt_path = (os.environ[v] for v in ("E2E_MIRROR_OUT", "E2E_MIRROR_PCAP",
                                                  "E2E_GROUND_TRUTH"))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    write_pcap(pcap, [])
    print("fake_mirror: waiting for SIGTERM (then forging from %s)" % gt_path, file=sys.stderr)
    while not stop:
        time.sleep(0.05)

    with open(gt_path) as f:
        gt = json.load(f)
    base = os.path.dirname(os.path.abspath(gt_path))
    forge = Forge(a.mtu, a.corrupt)
    seen = set()
    for conn in gt["connections"]:
        with open(os.path.join(base, conn["sent_file"]), "rb") as f:
            sent = f.read()
        with open(os.path.join(base, conn["received_file"]), "rb") as f:
            received = f.read()
        first_download = conn["label"] == "download" and "download" not in seen
        first_keepalive = conn["label"] == "keep-alive" and "keep-alive" not in seen
        seen.add(conn["label"])
        forge.connection(conn, sent, received, first_download, first_keepalive)
    write_pcap(pcap, forge.frames)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as s:
        s.bind((out, 0))
        for _, fr in forge.frames:
            while True:
                try:
                    s.send(fr)
                    break
                except OSError as e:  # ENOBUFS: let the receiver catch up
                    if e.errno != 105:
                        raise
                    time.sleep(0.001)
    print("fake_mirror: %d connections, %d frames to %s and %s%s"
          % (len(gt["connections"]), len(forge.frames), out, pcap,
             "; corrupted: %s" % forge.corrupted if forge.corrupted else ""), file=sys.stderr)
    if a.corrupt != "none" and not forge.corrupted:
        print("fake_mirror: --corrupt %s found nothing to corrupt" % a.corrupt, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
