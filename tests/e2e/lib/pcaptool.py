"""Packet captures for the end-to-end tests: checksums recomputed here, TCP connections
reassembled byte for byte, and compared with the workload's ground truth.

    pcaptool.py check PCAP... [--gt GT.json [--expect-gaps]]
                                            # checksums + reassembly (+ ground truth);
                                            # several files are read as one, in order
    pcaptool.py streams PCAP                # list the connections found
    pcaptool.py marker IFACE N              # send drain marker N (UDP) out of IFACE

check fails (exit 1, every problem listed) when:
  * a frame is truncated (caplen < length), or its IPv4 header checksum or its TCP checksum
    (IPv4 or IPv6 pseudo-header) is wrong. The sums are computed by this file (RFC 1071), not
    taken from scapy's or tshark's opinion; scapy only reads the pcap records;
  * a connection has data without a handshake (SYN, SYN-ACK), a hole in either direction,
    a retransmission whose bytes differ from the first copy, data past its FIN, or data the
    peer never acknowledged (Suricata inspects acknowledged data only);
  * with --gt: a connection of the ground truth is missing or appears more than once, or either
    direction differs from what the client sent/received (first differing offset shown), or
    the capture has a TCP connection the workload did not make (the harness's own canary
    requests, GET /__e2e_..., are ignored);
  * with --expect-gaps: a connection's holes are not exactly its ground truth's "gaps_c2s" /
    "gaps_s2c" ([[offset, length], ...]: bytes the mirror reports as lost; none when absent),
    or the other side's first data after a hole does not acknowledge it (the IDS must see a
    question with a hole, not an answer without a question). The bytes around the holes are
    compared with the truth as usual.
Retransmissions with identical bytes (real TCP in the control path has them) are counted, not
errors.
"""
import argparse
import array
import collections
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from groundtruth import CANARY_PREFIX, GroundTruth, conn_key, fmt_key  # noqa: E402

MAX_LISTED = 20
SYN, ACK, FIN, RST = 0x02, 0x10, 0x01, 0x04


# --- RFC 1071 Internet checksum --------------------------------------------------------------
def ones_sum(data):
    """16-bit one's complement sum of data (padded to even length). The native-endian word
    sum folds to the byte-swapped big-endian sum; both are 0xffff exactly when valid."""
    if len(data) % 2:
        data = bytes(data) + b"\0"
    s = sum(array.array("H", bytes(data)))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def checksum(data):
    """The value a checksum field must hold for data (field zeroed), big-endian."""
    s = ones_sum(data)
    s = ((s & 0xFF) << 8) | (s >> 8) if sys.byteorder == "little" else s
    return (~s) & 0xFFFF


def pseudo_header(src, dst, proto, length):
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


# --- frames ---------------------------------------------------------------------------------
class Segment:
    __slots__ = ("index", "src", "dst", "sport", "dport", "seq", "ack", "flags", "payload")


def records(paths, problems):
    """The records of one or more Ethernet pcap/pcapng files, read one after the other."""
    from scapy.utils import RawPcapReader  # only to read records

    for path in [paths] if isinstance(paths, str) else paths:
        reader = RawPcapReader(path)
        if getattr(reader, "linktype", 1) != 1:
            problems.append("%s: link type %s, expected Ethernet (1)" % (path, reader.linktype))
            continue
        yield from reader


def parse_frames(paths, problems, counters):
    """Yields the TCP segments of Ethernet pcap/pcapng files, checking every checksum."""
    for index, (frame, meta) in enumerate(records(paths, problems), 1):
        counters["frames"] += 1
        counters["largest"] = max(counters["largest"], len(frame))
        wirelen = getattr(meta, "wirelen", None)
        if wirelen is not None and wirelen != len(frame):
            problems.append("frame %d: truncated (%d of %d bytes captured)" % (index, len(frame), wirelen))
            continue
        off = 12
        etype = struct.unpack_from("!H", frame, off)[0]
        while etype in (0x8100, 0x88A8):  # VLAN tags
            off += 4
            etype = struct.unpack_from("!H", frame, off)[0]
        off += 2
        if etype == 0x0800:
            ip = frame[off:]
            ihl = (ip[0] & 0x0F) * 4
            total = struct.unpack_from("!H", ip, 2)[0]
            if ip[0] >> 4 != 4 or ihl < 20 or total > len(ip) or total < ihl:
                problems.append("frame %d: malformed IPv4 header" % index)
                continue
            counters["ipv4"] += 1
            if ones_sum(ip[:ihl]) != 0xFFFF:
                problems.append("frame %d: IPv4 header checksum 0x%04x, expected 0x%04x (%s -> %s)"
                                % (index, struct.unpack_from("!H", ip, 10)[0],
                                   checksum(ip[:10] + b"\0\0" + ip[12:ihl]),
                                   socket.inet_ntop(socket.AF_INET, ip[12:16]),
                                   socket.inet_ntop(socket.AF_INET, ip[16:20])))
            if struct.unpack_from("!H", ip, 6)[0] & 0x3FFF:
                problems.append("frame %d: IPv4 fragment (not expected)" % index)
                continue
            proto, src, dst, l4 = ip[9], ip[12:16], ip[16:20], ip[ihl:total]
            family = socket.AF_INET
        elif etype == 0x86DD:
            ip = frame[off:]
            plen = struct.unpack_from("!H", ip, 4)[0]
            if ip[0] >> 4 != 6 or 40 + plen > len(ip):
                problems.append("frame %d: malformed IPv6 header" % index)
                continue
            counters["ipv6"] += 1
            proto, src, dst, l4 = ip[6], ip[8:24], ip[24:40], ip[40:40 + plen]
            family = socket.AF_INET6
        else:
            continue
        if proto != 6:
            continue
        counters["tcp"] += 1
        if len(l4) < 20 or (l4[12] >> 4) * 4 > len(l4) or (l4[12] >> 4) < 5:
            problems.append("frame %d: malformed TCP header" % index)
            continue
        if ones_sum(pseudo_header(src, dst, 6, len(l4)) + l4) != 0xFFFF:
            problems.append("frame %d: TCP checksum 0x%04x, expected 0x%04x (%s)"
                            % (index, struct.unpack_from("!H", l4, 16)[0],
                               checksum(pseudo_header(src, dst, 6, len(l4)) + l4[:16] + b"\0\0" + l4[18:]),
                               fmt_key((socket.inet_ntop(family, src), struct.unpack_from("!H", l4, 0)[0],
                                        socket.inet_ntop(family, dst), struct.unpack_from("!H", l4, 2)[0]))))
        s = Segment()
        s.index = index
        s.src, s.dst = socket.inet_ntop(family, src), socket.inet_ntop(family, dst)
        s.sport, s.dport, s.seq, s.ack = struct.unpack_from("!HHII", l4, 0)
        s.flags = l4[13]
        s.payload = bytes(l4[(l4[12] >> 4) * 4:])
        yield s


# --- reassembly -----------------------------------------------------------------------------
class Direction:
    def __init__(self):
        self.isn = None
        self.segments = []  # (seq of first payload byte, payload, frame index)
        self.data_acks = []  # (frame index, ack) of the segments carrying data
        self.fin_seq = None
        self.max_ack = None  # highest ACK this side sent (about the other direction)
        self.data = b""
        self.holes = []
        self.conflicts = []
        self.retransmitted = 0
        self.end = 0
        self.unacked = 0


class Connection:
    def __init__(self, key, first_index):
        self.key = key  # (client ip, client port, server ip, server port)
        self.first_index = first_index
        self.c2s, self.s2c = Direction(), Direction()
        self.handshake = False
        self.rst = False
        self.closed = False
        self.midstream = False

    def label(self):
        return "%s (from frame %d)" % (fmt_key(self.key), self.first_index)


def rel(seq, isn):
    return (seq - isn - 1) & 0xFFFFFFFF


def reassemble(paths, problems, counters):
    conns, current = [], {}
    for s in parse_frames(paths, problems, counters):
        a, b = (s.src, s.sport), (s.dst, s.dport)
        tup = (a, b) if a <= b else (b, a)
        c = current.get(tup)
        if s.flags & SYN and not s.flags & ACK:
            if c is None or c.closed or (c.c2s.isn is not None and c.c2s.isn != s.seq):
                c = Connection(conn_key(s.src, s.sport, s.dst, s.dport), s.index)
                conns.append(c)
                current[tup] = c
        if c is None:
            c = Connection(conn_key(s.src, s.sport, s.dst, s.dport), s.index)
            c.midstream = True
            conns.append(c)
            current[tup] = c
        to_server = (s.src, s.sport) == (c.key[0], c.key[1])
        d, peer = (c.c2s, c.s2c) if to_server else (c.s2c, c.c2s)
        seq = s.seq
        if s.flags & SYN:
            if d.isn is None:
                d.isn = s.seq
            seq += 1
            if s.flags & ACK and not to_server:
                c.handshake = c.c2s.isn is not None
        if s.payload:
            d.segments.append((seq, s.payload, s.index))
            if s.flags & ACK:
                d.data_acks.append((s.index, s.ack))
        if s.flags & FIN:
            d.fin_seq = seq + len(s.payload)
        if s.flags & RST:
            c.rst = True
        if s.flags & ACK:
            d.max_ack = s.ack if d.max_ack is None else _seq_max(d.max_ack, s.ack)
        if (c.c2s.fin_seq is not None and c.s2c.fin_seq is not None) or c.rst:
            c.closed = True
    for c in conns:
        for d, peer in ((c.c2s, c.s2c), (c.s2c, c.c2s)):
            _build(c, d, peer)
    return conns


def _seq_max(a, b):
    return b if ((b - a) & 0xFFFFFFFF) < 0x80000000 else a


def _build(c, d, peer):
    if d.isn is None:
        if d.segments:
            c.midstream = True
            d.isn = (min(seq for seq, _, _ in d.segments) - 1) & 0xFFFFFFFF
        else:
            return
    buf = bytearray()
    have = bytearray()  # 1 where buf holds data
    for seq, payload, index in d.segments:
        off = rel(seq, d.isn)
        if off >= 0x80000000:
            d.conflicts.append("frame %d: data before the initial sequence number" % index)
            continue
        end = off + len(payload)
        if end > len(buf):
            buf.extend(b"\0" * (end - len(buf)))
            have.extend(b"\0" * (end - len(have)))
        seen = have[off:end]
        if seen.count(1):
            d.retransmitted += 1
            old = bytes(buf[off:end])
            for i in range(len(payload)):
                if seen[i] and old[i] != payload[i]:
                    d.conflicts.append("frame %d: retransmitted bytes at offset %d differ from "
                                       "the first copy" % (index, off + i))
                    break
        buf[off:end] = payload
        have[off:end] = b"\1" * len(payload)
    d.end = len(buf)
    if d.fin_seq is not None:
        fin_off = rel(d.fin_seq, d.isn)
        if fin_off < d.end:
            d.conflicts.append("%d bytes of data after the FIN" % (d.end - fin_off))
        elif fin_off > d.end:
            have.extend(b"\0" * (fin_off - d.end))
            d.end = fin_off
    i = have.find(0)
    while i != -1:
        j = have.find(1, i)
        j = len(have) if j == -1 else j
        d.holes.append((i, j))
        i = have.find(0, j)
    d.data = bytes(buf[:d.end])
    if peer.max_ack is not None:
        acked = rel(peer.max_ack, d.isn)
        want = d.end + (1 if d.fin_seq is not None else 0)
        d.unacked = max(0, want - acked) if acked < 0x80000000 else want
    else:
        d.unacked = d.end + (1 if d.fin_seq is not None else 0)


def expected_holes(g, way):
    """The holes the ground truth connection g expects in direction way ("c2s", "s2c")."""
    return [(off, off + length) for off, length in g.get("gaps_" + way, [])]


def hole_answered(d, peer, lo, hi):
    """The peer's first data sent after d's last data before the hole [lo, hi) acknowledges
    the hole (frame order)."""
    before = [i for seq, payload, i in d.segments if rel(seq, d.isn) + len(payload) <= lo]
    last = max(before) if before else 0
    for index, ack in peer.data_acks:
        if index > last:
            return rel(ack, d.isn) >= hi
    return True  # no answer at all: nothing was answered without its question


def stream_problems(c, expect=None):
    """expect: the ground truth connection whose gaps are the holes expected, or None."""
    out = []
    who = c.label()
    if c.midstream or not c.handshake:
        out.append("%s: no handshake (SYN and SYN-ACK) before its data" % who)
    for name, way, d, peer in (("client->server", "c2s", c.c2s, c.s2c),
                               ("server->client", "s2c", c.s2c, c.c2s)):
        want = expected_holes(expect, way) if expect is not None else None
        if want is None:
            for lo, hi in d.holes[:MAX_LISTED]:
                out.append("%s %s: hole of %d bytes at offset %d" % (who, name, hi - lo, lo))
        elif d.holes != want:
            out.append("%s %s: holes %s, expected %s" % (who, name, d.holes[:MAX_LISTED], want))
        else:
            for lo, hi in want:
                if not hole_answered(d, peer, lo, hi):
                    out.append("%s %s: the other side's data after the hole at %d-%d does not "
                               "acknowledge it" % (who, name, lo, hi))
        for msg in d.conflicts[:MAX_LISTED]:
            out.append("%s %s: %s" % (who, name, msg))
        if d.unacked and not c.rst:
            out.append("%s %s: the last %d bytes (of %d, FIN included) were never acknowledged "
                       "by the peer" % (who, name, d.unacked, d.end))
    return out


def escaped(b):
    return b.decode("latin-1").encode("unicode_escape").decode("ascii")


def first_difference(want, got):
    n = min(len(want), len(got))
    i = 0
    step = 65536
    while i < n and want[i:i + step] == got[i:i + step]:
        i += step
    while i < n and want[i] == got[i]:
        i += 1
    return i


def with_holes(data, holes):
    """data with the bytes of holes zeroed, as the reassembly holds them."""
    out = bytearray(data)
    for lo, hi in holes:
        out[lo:hi] = bytes(max(0, min(hi, len(out)) - lo))
    return bytes(out)


def compare_gt(conns, gt, problems, expect_gaps=False):
    by_key = collections.defaultdict(list)
    for c in conns:
        by_key[c.key].append(c)
    compared = 0
    for g in gt.connections:
        k = gt.key(g)
        found = by_key.pop(k, [])
        if not found:
            problems.append("%s: not in the capture" % gt.describe(g))
            continue
        if len(found) > 1:
            problems.append("%s: %d TCP connections with this address pair in the capture"
                            % (gt.describe(g), len(found)))
        c = found[0]
        for name, verb, want, d, way in (
                ("client->server", "sent", gt.sent(g), c.c2s, "c2s"),
                ("server->client", "received", gt.received(g), c.s2c, "s2c")):
            if expect_gaps:
                want = with_holes(want, expected_holes(g, way))
            if d.data == want:
                continue
            i = first_difference(want, d.data)
            problems.append("%s %s: %d bytes in the capture, the client %s %d; first "
                            "difference at offset %d:\n      expected %s\n      captured %s"
                            % (gt.describe(g), name, len(d.data), verb, len(want), i,
                               escaped(want[max(0, i - 16):i + 48]),
                               escaped(d.data[max(0, i - 16):i + 48])))
        compared += 1
    for k, cs in by_key.items():
        for c in cs:
            if c.c2s.data.startswith(b"GET " + CANARY_PREFIX.encode()):
                continue
            problems.append("%s: a TCP connection the workload did not make (%d/%d bytes, "
                            "starts %s)" % (c.label(), len(c.c2s.data), len(c.s2c.data),
                                           escaped(c.c2s.data[:40])))
    return compared


def cmd_check(a):
    problems, counters = [], collections.Counter()
    conns = reassemble(a.pcap, problems, counters)
    a.pcap = a.pcap[0] if len(a.pcap) == 1 else "%s (%d files)" % (a.pcap[0], len(a.pcap))
    checksum_problems = len(problems)
    gt = GroundTruth(a.gt) if a.gt else None
    expect = {gt.key(g): g for g in gt.connections} if gt and a.expect_gaps else {}
    for c in conns:
        problems.extend(stream_problems(c, expect.get(c.key)))
    compared = None
    if gt:
        compared = compare_gt(conns, gt, problems, a.expect_gaps)
    retrans = sum(c.c2s.retransmitted + c.s2c.retransmitted for c in conns)
    print("pcap %s: %d frames (%d IPv4, %d IPv6, %d TCP; largest %d bytes), %d checksum problems; %d TCP "
          "connections, %d retransmitted segments%s"
          % (a.pcap, counters["frames"], counters["ipv4"], counters["ipv6"], counters["tcp"],
             counters["largest"], checksum_problems, len(conns), retrans,
             "" if compared is None else "; %d ground-truth connections compared" % compared),
          file=sys.stderr)
    for p in problems[:200]:
        print("pcap check: " + p, file=sys.stderr)
    if len(problems) > 200:
        print("pcap check: ... %d more" % (len(problems) - 200), file=sys.stderr)
    if problems:
        print("pcap check: %d problems in %s" % (len(problems), a.pcap), file=sys.stderr)
        return 1
    if counters["tcp"] == 0:
        print("pcap check: no TCP segment in %s" % a.pcap, file=sys.stderr)
        return 1
    if a.largest_at_least and counters["largest"] < a.largest_at_least:
        print("pcap check: the largest frame in %s has %d bytes, expected at least %d (is the "
              "large MTU used?)" % (a.pcap, counters["largest"], a.largest_at_least), file=sys.stderr)
        return 1
    print("pcap check: every checksum valid, every connection complete%s"
          % ("" if compared is None else " and byte-identical to the ground truth"), file=sys.stderr)
    return 0


def cmd_streams(a):
    problems, counters = [], collections.Counter()
    for c in reassemble(a.pcap, problems, counters):
        print("%s: %d/%d bytes, handshake %s, %s, %d holes" % (
            c.label(), len(c.c2s.data), len(c.s2c.data), "yes" if c.handshake else "NO",
            "reset" if c.rst else "closed" if c.closed else "open",
            len(c.c2s.holes) + len(c.s2c.holes)))
    for p in problems:
        print("problem: " + p)
    return 0


def cmd_marker(a):
    """A UDP frame from 192.0.2.1:(40000+n) to 192.0.2.2:9 with payload sslc-e2e-drain-<n>,
    correct checksums; Suricata's drain rule (suricata.sh) alerts on it."""
    payload = b"sslc-e2e-drain-%d" % a.n
    src, dst = socket.inet_aton("192.0.2.1"), socket.inet_aton("192.0.2.2")
    udp = struct.pack("!HHHH", 40000 + a.n, 9, 8 + len(payload), 0) + payload
    c = checksum(pseudo_header(src, dst, 17, len(udp)) + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), a.n & 0xFFFF, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    frame = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + udp
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as s:
        s.bind((a.iface, 0))
        s.send(frame)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check")
    p.add_argument("pcap", nargs="+")
    p.add_argument("--gt")
    p.add_argument("--expect-gaps", action="store_true",
                   help="with --gt: the holes must be exactly the ground truth's gaps")
    p.add_argument("--largest-at-least", type=int, default=0, metavar="BYTES",
                   help="fail unless some frame has at least BYTES bytes")
    p = sub.add_parser("streams")
    p.add_argument("pcap")
    p = sub.add_parser("marker")
    p.add_argument("iface")
    p.add_argument("n", type=int)
    a = ap.parse_args()
    return {"check": cmd_check, "streams": cmd_streams, "marker": cmd_marker}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
