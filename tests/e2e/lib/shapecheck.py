"""test_stream_shapes.sh's pcap surgery and eve.json checks, per shape of shapes.py.

    shapecheck.py cutgap CONTROL.pcap OUT.pcap GAPS.json    # the gap shapes' holes, cut
    shapecheck.py stripacks MIRROR.pcap OUT.pcap --port P    # the negative control
    shapecheck.py suricata-conf SURICATA.yaml                # lib/suricata.sh's, for -r
    shapecheck.py expect EVE                                 # the control has what it should
    shapecheck.py compare EVE_CONTROL EVE_MIRROR --shape N [--names A B]
    shapecheck.py lost EVE --shape N                         # the transaction was lost

cutgap: for each shape with a gap, the data segments of its side's stream that start at or
after the shape's gap offset, as many as cover its gap length; every frame holding bytes of
that range (retransmissions included) is removed, and GAPS.json gets the range as
{"N": {"offset": O, "length": L, "frames": F}}, for shapes.py scenario --gaps. A frame holding
bytes both inside and outside the range fails it (the hole must be exactly that range).

stripacks: the frames of the connection on server port P alone, without the server's pure
ACKs (no data, flags ACK only) between the client's first data segment and the server's
first: the shape forge gave an upload answered within one batch of events before issue 19.

suricata-conf: adds the fileinfo eve type (body sizes, state and gaps of every request and
response body) and pcap-file checksum-checks: yes (the default, auto, stops validating when
many checksums are wrong: a mirror with bad checksums would pass).

expect: per shape, the control's http records (method, URL, status, length, in tx order),
alerts (sid, tx_id) and app_proto are the shape's expected ones, its files are complete
(CLOSED, no gaps) except in a gap shape, and Suricata saw no invalid checksum.
compare: the mirror's view of shape N equals the control's: http records (method, URL,
status, length, hostname, protocol, pkt_src), files (tx_id, direction, name, size, state,
gaps), alerts (sid, tx_id, direction), app_proto; and no invalid checksum.
lost: the negative control's view of shape N: its POST logged without status or length, at
the flow's timeout (pkt_src "stream (flow timeout)"), and no alert on its request body.
"""
import argparse
import collections
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes as shapes_mod  # noqa: E402

SYN, ACK = 0x02, 0x10


# --- pcap -------------------------------------------------------------------------------------
def read_pcap(path):
    """(global header, endianness, records [(record header, frame)]) of a classic pcap."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise SystemExit("%s: not a classic pcap file (pcapng? use dumpcap -P)" % path)
    if struct.unpack_from(end + "I", data, 20)[0] != 1:
        raise SystemExit("%s: not Ethernet" % path)
    recs, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack_from(end + "I", data, off + 8)[0]
        recs.append((data[off:off + 16], data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    if off != len(data):
        raise SystemExit("%s: truncated record at byte %d" % (path, off))
    return data[:24], end, recs


def write_pcap(path, header, recs):
    with open(path, "wb") as f:
        f.write(header)
        for h, frame in recs:
            f.write(h + frame)


class Tcp:
    __slots__ = ("sport", "dport", "seq", "ack", "flags", "payload")


def tcp_of(frame):
    """The TCP header fields of an Ethernet frame (IPv4 or IPv6, optional VLAN tag), or None."""
    off = 12
    etype = struct.unpack_from("!H", frame, off)[0]
    if etype == 0x8100:
        off += 4
        etype = struct.unpack_from("!H", frame, off)[0]
    off += 2
    if etype == 0x0800:
        ihl = (frame[off] & 15) * 4
        if frame[off + 9] != 6:
            return None
        end = off + struct.unpack_from("!H", frame, off + 2)[0]
        off += ihl
    elif etype == 0x86DD:
        if frame[off + 6] != 6:
            return None
        end = off + 40 + struct.unpack_from("!H", frame, off + 4)[0]
        off += 40
    else:
        return None
    t = Tcp()
    t.sport, t.dport, t.seq, t.ack = struct.unpack_from("!HHII", frame, off)
    t.flags = frame[off + 13]
    t.payload = end - off - (frame[off + 12] >> 4) * 4
    return t


def cmd_cutgap(a):
    header, _, recs = read_pcap(a.pcap)
    parsed = [tcp_of(f) for _, f in recs]
    drop, out = set(), {}
    for shape in shapes_mod.all_shapes():
        if not shape.gap:
            continue
        side, want_off, want_len = shape.gap

        def is_side(t):
            return t and (t.dport == shape.port if side == "c" else t.sport == shape.port)
        syn = [t for t in parsed if is_side(t) and t.flags & SYN]
        if len(syn) != 1:
            raise SystemExit("shape %d: %d SYNs from side %s in %s"
                             % (shape.number, len(syn), side, a.pcap))
        isn = syn[0].seq
        segs = [(i, (t.seq - isn - 1) % 2**32, t.payload) for i, t in enumerate(parsed)
                if is_side(t) and t.payload]
        starts = sorted({(o, n) for _, o, n in segs if o >= want_off})
        if not starts:
            raise SystemExit("shape %d: no segment after offset %d" % (shape.number, want_off))
        g0 = g1 = starts[0][0]
        for o, n in starts:
            if o != g1 or g1 - g0 >= want_len:
                break
            g1 = o + n
        for i, o, n in segs:
            if o + n <= g0 or o >= g1:
                continue
            if o < g0 or o + n > g1:
                raise SystemExit("shape %d: frame %d holds bytes %d..%d, across the hole %d..%d"
                                 % (shape.number, i + 1, o, o + n, g0, g1))
            drop.add(i)
        out[str(shape.number)] = {"offset": g0, "length": g1 - g0,
                                  "frames": sum(1 for i, o, n in segs if i in drop)}
        print("cutgap: shape %d: bytes %d..%d (%d) of side %s, %d frames removed"
              % (shape.number, g0, g1, g1 - g0, side, out[str(shape.number)]["frames"]))
    write_pcap(a.out, header, [r for i, r in enumerate(recs) if i not in drop])
    with open(a.gaps, "w") as f:
        json.dump(out, f)
    return 0


def cmd_stripacks(a):
    header, _, recs = read_pcap(a.pcap)
    keep, removed = [], 0
    client_data = server_data = False
    for h, frame in recs:
        t = tcp_of(frame)
        if not t or a.port not in (t.sport, t.dport):
            continue
        from_server = t.sport == a.port
        if t.payload and not from_server:
            client_data = True
        if t.payload and from_server:
            server_data = True
        if from_server and client_data and not server_data and not t.payload and t.flags == ACK:
            removed += 1
            continue
        keep.append((h, frame))
    write_pcap(a.out, header, keep)
    print("stripacks: port %d: %d frames kept, %d pure ACKs of the server removed"
          % (a.port, len(keep), removed))
    return 0


def cmd_suricata_conf(a):
    with open(a.yaml) as f:
        text = f.read()
    anchor = "        - flow\n"
    if anchor not in text:
        raise SystemExit("%s: no '- flow' eve type to add fileinfo after" % a.yaml)
    text = text.replace(anchor, anchor + "        - files:\n            force-magic: no\n", 1)
    text += "\npcap-file:\n  checksum-checks: yes\n"
    with open(a.yaml, "w") as f:
        f.write(text)
    return 0


# --- eve.json -------------------------------------------------------------------------------
def order(t):
    """A sort key for tuples holding None, numbers and strings."""
    return tuple((0, x, "") if isinstance(x, int) else (1, 0, str(x)) for x in t)


class View:
    """What Suricata logged about one shape's connection (its server port). A transaction is
    named by its tx_id, or in HTTP/2 by its stream id (stream 0: the connection's settings),
    which does not depend on how many control transactions Suricata made."""

    def __init__(self, eve, shape):
        self.http, self.files, self.alerts, self.flows = [], [], [], []
        self.anomalies = collections.Counter()
        port = shape.port
        mine = [e for e in eve.records if port in (e.get("src_port"), e.get("dest_port"))]
        stream_of = {e.get("tx_id"): e["http"]["http2"]["stream_id"] for e in mine
                     if e.get("event_type") == "http" and "http2" in e["http"]}

        def tx(e, tx_id):
            h2 = e.get("http", {}).get("http2")
            if h2:
                return h2["stream_id"]
            return stream_of.get(tx_id, tx_id) if stream_of else tx_id
        for e in mine:
            t = e.get("event_type")
            if t == "http":
                h = e["http"]
                self.http.append((tx(e, e.get("tx_id")), h.get("http_method"), h.get("url"),
                                  h.get("status"), h.get("length"), h.get("hostname"),
                                  h.get("protocol"), e.get("pkt_src")))
            elif t == "fileinfo":
                fi = e["fileinfo"]
                self.files.append((tx(e, fi.get("tx_id")), e.get("dest_port") == port,
                                   fi.get("filename"), fi.get("size"), fi.get("state"),
                                   fi.get("gaps")))
            elif t == "alert":
                self.alerts.append((e["alert"]["signature_id"], tx(e, e.get("tx_id")),
                                    e.get("direction")))
            elif t == "flow" and e.get("proto") == "TCP":
                self.flows.append(e.get("app_proto"))
            elif t == "anomaly":
                an = e["anomaly"]
                self.anomalies["%s:%s" % (an.get("type"), an.get("event"))] += 1
        self.http.sort(key=order)
        self.files.sort(key=order)
        self.alerts.sort(key=order)
        self.requests = [h for h in self.http if h[1] is not None]  # not HTTP/2 stream 0

    def describe(self):
        lines = ["  http (tx_id/stream, method, url, status, length, hostname, protocol, pkt_src):"]
        lines += ["    %s" % (h,) for h in self.http] or ["    none"]
        lines.append("  files (tx_id, to_server, name, size, state, gaps):")
        lines += ["    %s" % (f,) for f in self.files] or ["    none"]
        lines.append("  alerts (sid, tx_id, direction): %s" % (self.alerts or "none"))
        lines.append("  flows (app_proto): %s" % (self.flows or "none"))
        if self.anomalies:
            lines.append("  anomalies: %s" % dict(self.anomalies))
        return "\n".join(lines)


class Eve:
    def __init__(self, path):
        self.path, self.records, self.stats = path, [], {}
        with open(path) as f:
            for line in f:
                if line.strip():
                    e = json.loads(line)
                    if e.get("event_type") == "stats":
                        self.stats = e["stats"]
                    else:
                        self.records.append(e)

    def stat(self, dotted):
        v = self.stats
        for part in dotted.split("."):
            v = v.get(part, 0) if isinstance(v, dict) else 0
        return v


def shape_of(n):
    for s in shapes_mod.all_shapes():
        if s.number == n:
            return s
    raise SystemExit("no shape %d" % n)


def checksum_problems(eve):
    if not eve.stats:
        return ["%s: no stats record" % eve.path]
    bad = eve.stat("tcp.invalid_checksum")
    return ["%s: %d frames with an invalid TCP checksum" % (eve.path, bad)] if bad else []


def cmd_expect(a):
    eve = Eve(a.eve)
    problems = checksum_problems(eve)
    for shape in shapes_mod.all_shapes():
        v = View(eve, shape)
        got_http = [h[1:5] for h in v.requests]
        want_alerts = sorted(shape.alerts, key=order)
        tx_of = dict(shape.alerts)  # stream rules (tx None): no transaction to compare
        got_alerts = sorted(((s, t if tx_of.get(s) is not None else None)
                             for s, t, _ in v.alerts), key=order)
        bad = []
        if got_http != [tuple(h) for h in shape.http]:
            bad.append("http records %s, expected %s" % (got_http, shape.http))
        txs = [h[0] for h in v.requests]
        want_txs = [1 + 2 * i for i in range(len(txs))] if shape.http2 else list(range(len(txs)))
        if txs != want_txs:
            bad.append("transactions %s, expected %s" % (txs, want_txs))
        if got_alerts != want_alerts:
            bad.append("alerts %s, expected %s" % (got_alerts, want_alerts))
        if v.flows != [shape.app_proto or "failed"]:
            bad.append("flows %s, expected one with app_proto %s"
                       % (v.flows, shape.app_proto or "failed"))
        incomplete = [f for f in v.files if f[4] != "CLOSED" or f[5]]
        if not shape.gap and incomplete:
            bad.append("files not complete: %s" % incomplete)
        if shape.gap and not incomplete:
            bad.append("a gap shape without a file with gaps")
        status = "ok" if not bad else "WRONG"
        print("shape %d %s: %s" % (shape.number, shape.name, status), file=sys.stderr)
        if bad:
            problems += ["shape %d %s: %s" % (shape.number, shape.name, b) for b in bad]
            print(v.describe(), file=sys.stderr)
    for p in problems:
        print("expect: " + p, file=sys.stderr)
    return 1 if problems else 0


def cmd_compare(a):
    shape = shape_of(a.shape)
    ea, eb = Eve(a.eve_a), Eve(a.eve_b)
    va, vb = View(ea, shape), View(eb, shape)
    problems = checksum_problems(eb)
    for what in ("http", "files", "alerts", "flows"):
        x, y = getattr(va, what), getattr(vb, what)
        if x != y:
            problems.append("%s differ:\n    %s: %s\n    %s: %s"
                            % (what, a.names[0], x, a.names[1], y))
    label = "shape %d %s" % (shape.number, shape.name)
    if problems:
        for p in problems:
            print("compare %s: %s" % (label, p), file=sys.stderr)
        print("%s in %s:\n%s" % (label, a.names[1], vb.describe()), file=sys.stderr)
        return 1
    print("compare %s: %s and %s agree: %d http records, %d files, %d alerts, app_proto %s%s"
          % (label, a.names[0], a.names[1], len(va.http), len(va.files), len(va.alerts),
             va.flows, "; anomalies %s vs %s" % (dict(va.anomalies), dict(vb.anomalies))
             if va.anomalies or vb.anomalies else ""), file=sys.stderr)
    return 0


def cmd_lost(a):
    shape = shape_of(a.shape)
    v = View(Eve(a.eve), shape)
    print("lost: shape %d in %s:\n%s" % (shape.number, a.eve, v.describe()), file=sys.stderr)
    problems = []
    posts = [h for h in v.http if h[1] == "POST"]
    if len(posts) != 1:
        problems.append("%d POST records, expected 1 (logged incomplete)" % len(posts))
    for h in posts:
        if h[3] is not None or h[4] not in (None, 0):
            problems.append("the POST has status %s, length %s: not lost" % (h[3], h[4]))
        if h[7] != "stream (flow timeout)":
            problems.append("the POST was logged by %r, not at the flow's timeout" % h[7])
    body_sids = [s for s, _ in shape.alerts if s == 9000002]
    if any(s in body_sids for s, _, _ in v.alerts):
        problems.append("the request-body rule alerted: the body was inspected")
    for p in problems:
        print("lost: " + p, file=sys.stderr)
    if not problems:
        print("lost: as expected, Suricata lost the transaction", file=sys.stderr)
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("cutgap")
    p.add_argument("pcap")
    p.add_argument("out")
    p.add_argument("gaps")
    p = sub.add_parser("stripacks")
    p.add_argument("pcap")
    p.add_argument("out")
    p.add_argument("--port", type=int, required=True)
    p = sub.add_parser("suricata-conf")
    p.add_argument("yaml")
    p = sub.add_parser("expect")
    p.add_argument("eve")
    p = sub.add_parser("compare")
    p.add_argument("eve_a")
    p.add_argument("eve_b")
    p.add_argument("--shape", type=int, required=True)
    p.add_argument("--names", nargs=2, default=["control", "mirror"])
    p = sub.add_parser("lost")
    p.add_argument("eve")
    p.add_argument("--shape", type=int, required=True)
    a = ap.parse_args()
    return {"cutgap": cmd_cutgap, "stripacks": cmd_stripacks, "suricata-conf": cmd_suricata_conf,
            "expect": cmd_expect, "compare": cmd_compare, "lost": cmd_lost}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
