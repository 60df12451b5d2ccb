#!/usr/bin/python3
"""Checks the pcap written by test_forge_pcap with scapy, apart from forge's own code.

Run with Debian's /usr/bin/python3 (it has scapy). For every frame: Ethernet addresses, the
802.1Q tag, IPv4 (DF, TTL 64, header checksum) or IPv6 (hop limit 64), and the TCP checksum,
each checksum recomputed by scapy. For every connection: the handshake with MSS and window
scale, sequence numbers unwrapped to 64-bit stream offsets (through gaps over 4 GiB), segment
sizes within the MSS, PSH on the last segment of each write, ACKs that never go back and never
jump by more than the scaled window, both directions reassembled and compared byte for byte
with the files the generator wrote, holes exactly where its gaps were, and the FIN or RST end.

usage: check_forge_pcap.py DIR   (DIR holds forge.pcap and manifest.json)
"""

import ipaddress
import json
import os
import struct
import sys

from scapy.all import IP, TCP, Dot1Q, Ether, IPv6, raw

WINDOW = 65535 << 14
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def read_pcap(path):
    """Frames of a classic little-endian pcap. Read here because scapy's reader cuts records
    at 65535 bytes, less than a 65535-byte IP packet with its Ethernet and 802.1Q headers."""
    with open(path, "rb") as f:
        head = f.read(24)
        magic, _, _, _, _, snaplen, linktype = struct.unpack("<IHHiIII", head)
        check(magic == 0xA1B2C3D4 and linktype == 1, "%s: not a pcap of Ethernet" % path)
        while True:
            rec = f.read(16)
            if not rec:
                return
            check(len(rec) == 16, "%s: truncated record header" % path)
            _, _, caplen, wirelen = struct.unpack("<IIII", rec)
            data = f.read(caplen)
            check(len(data) == caplen and caplen == wirelen and caplen <= snaplen,
                  "%s: truncated record" % path)
            yield data


def unwrap(seq32, isn, ref):
    """Stream offset of seq32 (relative to isn) closest to ref, a known 64-bit offset."""
    delta = (seq32 - isn - ref) % (1 << 32)
    if delta >= 1 << 31:
        delta -= 1 << 32
    return ref + delta


def recomputed_checksums(pkt):
    """(ip, tcp) checksums scapy computes for the packet, ip None for IPv6."""
    copy = pkt.copy()
    ip_sum = None
    if IP in copy:
        del copy[IP].chksum
    del copy[TCP].chksum
    again = Ether(raw(copy))
    if IP in again:
        ip_sum = again[IP].chksum
    return ip_sum, again[TCP].chksum


class Direction:
    def __init__(self, name):
        self.name = name
        self.isn = None
        self.hi = 0            # highest stream offset known (data end or the peer's ACK)
        self.next_off = 0      # where the next data segment must start
        self.data = {}         # stream offset -> payload
        self.acked = 0         # highest offset the peer acknowledged (1 + bytes)
        self.ip_id = None
        self.fin = None        # offset of the FIN


class Flow:
    def __init__(self, spec):
        self.spec = spec
        self.fam = spec["family"]
        self.frames = []
        self.dirs = {"c2s": Direction("c2s"), "s2c": Direction("s2c")}


def frame_key(pkt):
    ip = pkt[IP] if IP in pkt else pkt[IPv6]
    return (str(ip.src), pkt[TCP].sport, str(ip.dst), pkt[TCP].dport)


def check_frame(flow, pkt, direction, index):
    spec = flow.spec
    where = "flow %s:%d frame %d (%s)" % (spec["client"], spec["client_port"], index, direction)
    from_client = direction == "c2s"
    src_mac = spec["client_mac"] if from_client else spec["server_mac"]
    dst_mac = spec["server_mac"] if from_client else spec["client_mac"]
    check(pkt[Ether].src == src_mac and pkt[Ether].dst == dst_mac, where + ": MAC addresses")
    if spec["vlan"] > 0:
        check(pkt[Ether].type == 0x8100 and Dot1Q in pkt, where + ": no 802.1Q tag")
        check(pkt[Dot1Q].vlan == spec["vlan"] and pkt[Dot1Q].prio == 0, where + ": VLAN id")
        check(pkt[Dot1Q].type == (0x0800 if flow.fam == 4 else 0x86DD), where + ": ethertype")
        l2 = 18
    else:
        check(Dot1Q not in pkt, where + ": unexpected 802.1Q tag")
        check(pkt[Ether].type == (0x0800 if flow.fam == 4 else 0x86DD), where + ": ethertype")
        l2 = 14
    ip_sum, tcp_sum = recomputed_checksums(pkt)
    tcp = pkt[TCP]
    if flow.fam == 4:
        ip = pkt[IP]
        check(ip.ttl == 64 and ip.flags == "DF" and ip.frag == 0, where + ": TTL/DF")
        check(ip.ihl == 5 and ip.len == len(pkt) - l2, where + ": IPv4 lengths")
        check(ip.chksum == ip_sum, where + ": IPv4 checksum %#x, scapy %#x" % (ip.chksum, ip_sum))
        d = flow.dirs[direction]
        if d.ip_id is not None:
            check(ip.id == (d.ip_id + 1) & 0xFFFF, where + ": IP id not incremented")
        d.ip_id = ip.id
        mss = spec["mtu"] - 40
    else:
        ip = pkt[IPv6]
        check(ip.hlim == 64 and ip.nh == 6 and ip.plen == len(pkt) - l2 - 40,
              where + ": IPv6 header")
        mss = spec["mtu"] - 60
    check(len(pkt) - l2 <= spec["mtu"], where + ": larger than the MTU")
    check(tcp.chksum == tcp_sum, where + ": TCP checksum %#x, scapy %#x" % (tcp.chksum, tcp_sum))
    check(tcp.window == 65535 and tcp.urgptr == 0, where + ": window/urgent pointer")
    check(len(tcp.payload) <= mss, where + ": payload over the MSS")
    return mss


def check_flow(flow, outdir):
    spec = flow.spec
    frames = flow.frames
    name = "flow %s:%d" % (spec["client"], spec["client_port"])
    check(len(frames) >= 3, name + ": fewer than 3 frames")
    c2s, s2c = flow.dirs["c2s"], flow.dirs["s2c"]

    # handshake
    (d0, syn), (d1, synack), (d2, ack) = frames[:3]
    mss_want = spec["mtu"] - (40 if flow.fam == 4 else 60)
    check(d0 == "c2s" and int(syn[TCP].flags) == SYN and syn[TCP].ack == 0, name + ": SYN")
    check(d1 == "s2c" and int(synack[TCP].flags) == SYN | ACK, name + ": SYN-ACK")
    check(synack[TCP].ack == (syn[TCP].seq + 1) % (1 << 32), name + ": SYN-ACK ack")
    check(d2 == "c2s" and int(ack[TCP].flags) == ACK, name + ": third ACK")
    check(ack[TCP].seq == (syn[TCP].seq + 1) % (1 << 32), name + ": ACK seq")
    check(ack[TCP].ack == (synack[TCP].seq + 1) % (1 << 32), name + ": ACK ack")
    for pkt in (syn, synack):
        opts = dict((k, v) for k, v in pkt[TCP].options)
        check(opts.get("MSS") == mss_want, name + ": MSS option %r" % opts.get("MSS"))
        check(opts.get("WScale") == 14, name + ": window scale option")
    check(syn[TCP].seq != synack[TCP].seq, name + ": equal ISNs")
    c2s.isn = (syn[TCP].seq + 1) % (1 << 32)      # offset 0 = first data byte
    s2c.isn = (synack[TCP].seq + 1) % (1 << 32)

    # where each write ends: its last segment, and only that one, has PSH
    write_ends = {"c2s": set(), "s2c": set()}
    for d, off, ln in spec["writes"]:
        write_ends[d].add(off + ln)
    last_data_dir = None
    pending_psh = None
    for i, (direction, pkt) in enumerate(frames[3:], start=3):
        tcp = pkt[TCP]
        flags = int(tcp.flags)
        me = flow.dirs[direction]
        peer = s2c if direction == "c2s" else c2s
        where = "%s frame %d (%s)" % (name, i, direction)
        check(flags & ACK, where + ": ACK flag missing")
        check(not flags & SYN, where + ": SYN after the handshake")
        # the ACK number, unwrapped against what the peer is known to have sent
        ack_off = unwrap(tcp.ack, peer.isn, peer.hi)
        check(ack_off >= peer.acked, where + ": ACK goes back")
        check(ack_off - peer.acked < WINDOW and ack_off - peer.acked < 1 << 31,
              where + ": ACK jumps by %d" % (ack_off - peer.acked))
        peer.acked = ack_off
        peer.hi = max(peer.hi, ack_off)
        seq_off = unwrap(tcp.seq, me.isn, me.hi)
        payload = bytes(tcp.payload)
        if payload:
            check(seq_off >= me.next_off, where + ": data overlaps what was sent")
            if seq_off > me.next_off:
                check(pending_psh is None, where + ": hole inside a write")
            me.data[seq_off] = payload
            ends_write = seq_off + len(payload) in write_ends[direction]
            check(bool(flags & PSH) == ends_write, where + ": PSH %s the end of a write"
                  % ("not at" if flags & PSH else "missing at"))
            check(ends_write or len(payload) == mss_want,
                  where + ": %d-byte segment inside a write, MSS %d" % (len(payload), mss_want))
            me.next_off = seq_off + len(payload)
            me.hi = max(me.hi, me.next_off)
            if last_data_dir not in (None, direction):
                check(pending_psh is None, where + ": other side sent before PSH")
            last_data_dir = direction
            pending_psh = None if flags & PSH else direction
        else:
            # after a gap the sender's next sequence number is where the peer's ACKs went
            expected = max(me.next_off, me.acked)
            check(seq_off == expected,
                  where + ": segment without data at %d, expected %d" % (seq_off, expected))
        if flags & (FIN | RST):
            check(pending_psh is None, where + ": end inside a write")
        if flags & FIN:
            check(me.fin is None, where + ": second FIN")
            me.fin = seq_off
            me.next_off = seq_off + 1
            me.hi = max(me.hi, me.next_off)
        if flags & RST:
            check(i == len(frames) - 1, where + ": frames after the RST")
    check(pending_psh is None, name + ": last write without PSH")

    # reassemble and compare with what the generator wrote
    gaps = {"c2s": [], "s2c": []}
    for d, off, ln in spec["gaps"]:
        gaps[d].append((off, ln))
    for d in (c2s, s2c):
        with open(os.path.join(outdir, spec[d.name]), "rb") as f:
            want = f.read()
        got = bytearray()
        pos = 0         # stream offset reached
        holes = []
        for off in sorted(d.data):
            if off > pos:
                holes.append((pos, off - pos))
            got += d.data[off]
            pos = off + len(d.data[off])
        data_end = pos
        # trailing gaps are only visible through the ACKs
        end = pos + sum(ln for off, ln in gaps[d.name] if off >= pos)
        if end > pos:
            holes.append((pos, end - pos))
        merged = []
        for off, ln in gaps[d.name]:
            if merged and merged[-1][0] + merged[-1][1] == off:
                merged[-1] = (merged[-1][0], merged[-1][1] + ln)
            else:
                merged.append((off, ln))
        merged = [g for g in merged if g[1]]
        check(holes == merged, "%s %s: holes %r, gaps written %r" % (name, d.name, holes, merged))
        check(bytes(got) == want, "%s %s: reassembled %d bytes differ from the %d written"
              % (name, d.name, len(got), len(want)))
        check(data_end <= end, name + ": data beyond the end")
        # everything acknowledged, the FIN too when there is one
        close = spec["close"]
        fin_here = close.startswith("fin")
        check(d.acked == end + (1 if fin_here else 0) or close.startswith("rst"),
              "%s %s: acknowledged up to %d of %d" % (name, d.name, d.acked, end))

    close = spec["close"]
    last = frames[-1][1][TCP]
    if close.startswith("rst"):
        closer = "c2s" if close == "rst-client" else "s2c"
        check(frames[-1][0] == closer and int(last.flags) == RST | ACK, name + ": RST")
    elif close.startswith("fin"):
        closer = "c2s" if close == "fin-client" else "s2c"
        other = "s2c" if closer == "c2s" else "c2s"
        ends = [(d, int(p[TCP].flags)) for d, p in frames[-3:]]
        check(ends == [(closer, FIN | ACK), (other, FIN | ACK), (closer, ACK)],
              name + ": FIN sequence %r" % ends)


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    outdir = sys.argv[1]
    with open(os.path.join(outdir, "manifest.json")) as f:
        manifest = json.load(f)
    flows = {}
    for spec in manifest["flows"]:
        c = str(ipaddress.ip_address(spec["client"]))
        s = str(ipaddress.ip_address(spec["server"]))
        flow = Flow(spec)
        flows[(c, spec["client_port"], s, spec["server_port"])] = (flow, "c2s")
        flows[(s, spec["server_port"], c, spec["client_port"])] = (flow, "s2c")
    n = 0
    for data in read_pcap(os.path.join(outdir, "forge.pcap")):
        pkt = Ether(data)
        n += 1
        check(TCP in pkt and (IP in pkt or IPv6 in pkt), "frame %d: not TCP/IP" % n)
        key = frame_key(pkt)
        key = (str(ipaddress.ip_address(key[0])), key[1], str(ipaddress.ip_address(key[2])),
               key[3])
        check(key in flows, "frame %d: unknown connection %r" % (n, key))
        flow, direction = flows[key]
        check_frame(flow, pkt, direction, len(flow.frames))
        flow.frames.append((direction, pkt))
    seen = set()
    for flow, _ in flows.values():
        if id(flow) in seen:
            continue
        seen.add(id(flow))
        check_flow(flow, outdir)
    print("check_forge_pcap: %d frames, %d connections: checksums, handshakes, streams and "
          "ends all right" % (n, len(seen)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print("check_forge_pcap: FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
