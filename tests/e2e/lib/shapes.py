"""The stream shapes of test_stream_shapes.sh: exchanges of byte runs between a client and a
server, each defined once, from which come both the mirror's input (a mirror_replay scenario:
the events the agent would capture at one end) and a control over real TCP (the same bytes in
the same order between two network namespaces). What Suricata makes of the two is compared by
shapecheck.py.

    shapes.py list                                   # number, name, port, what it checks
    shapes.py rules                                  # the shapes' own Suricata rules
    shapes.py scenario --role client|server [--flush-each] [--gaps GAPS.json] OUT.scn OUT.blob
    shapes.py serve --addr4 A --addr6 A              # control server (ns server), all shapes
    shapes.py connect --server4 A --server6 A --client4 A --client6 A   # control client

A shape is a list of runs; a run is one side's bytes as a list of write calls, written once
that side has read `after` bytes of the other side's stream (by default all the other side
sent in the runs before it). The reader reads each write in TLS-record-sized pieces (at most
16 KiB, or the run's `read` size). The client closes once it has read everything, the server
once it has read the client's end.

scenario: the events as the agent on the `--role` end sees them, in the order that end does
things: before each of its writes it reads what it needs, at the end the rest, then closes.
Every shape starts 10 s after the previous one, events are 20 us apart, and the whole file is
ONE batch of events (no flush line): how events are batched must not matter. --flush-each puts
a flush after every event instead. --gaps (from shapecheck.py cutgap) gives each gap shape its
exact byte range, chosen on the control's segment boundaries; the scenario has a gap event
there instead of the bytes.

serve/connect: the same exchanges over real TCP (TCP_NODELAY, client ports fixed: 30000 + the
server port), every byte received checked; exit 1 with the reason on any difference.
"""
import argparse
import json
import os
import select
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import content  # noqa: E402

RECORD = 16384  # largest TLS record: an SSL_read returns at most this much
STEP_NS = 20000  # between two events of the scenario
SHAPE_GAP_NS = 10 * 10**9  # between the starts of two shapes
BASE_NS = 1767225600 * 10**9  # 2026-01-01 00:00:00 UTC
HOST = "shapes.e2e"
TIMEOUT = 60


class Run:
    """Bytes written by one side ("c" or "s") as write calls (list of bytes)."""

    def __init__(self, side, writes, after=None, read=RECORD):
        self.side, self.writes, self.after, self.read = side, list(writes), after, read
        self.data = b"".join(self.writes)


def chunks(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


class Shape:
    def __init__(self, number, name, what, runs, family=4, http2=False, gap=None,
                 http=(), alerts=(), app_proto="http"):
        self.number, self.name, self.what = number, name, what
        self.port = 8000 + number
        self.client_port = 30000 + self.port
        self.family, self.http2 = family, http2
        self.runs = runs
        # gap: (side, offset, length): roughly where bytes go missing (the exact range is
        # chosen on the control's segment boundaries, see shapecheck.py cutgap)
        self.gap = gap
        self.http = list(http)  # expected http records: (method, url, status, length)
        # expected alerts: (sid, tx_id; in HTTP/2 the stream id; None for stream rules)
        self.alerts = sorted(alerts, key=lambda a: (a[0], a[1] or 0))
        self.app_proto = app_proto
        for i, r in enumerate(runs):
            if r.after is None:
                r.after = sum(len(p.data) for p in runs[:i] if p.side != r.side)

    def stream(self, side):
        return b"".join(r.data for r in self.runs if r.side == side)


def request(method, url, body=b"", extra=b""):
    head = b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (method.encode(), url.encode(), HOST.encode())
    if method == "POST":
        head += b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n" % len(body)
    return head + extra + b"\r\n" + body


def response(status, body, reason=None):
    reason = reason or {200: "OK", 201: "Created"}[status]
    return (b"HTTP/1.1 %d %s\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: %d\r\n\r\n" % (status, reason.encode(), len(body)) + body)


def with_token(data, token, at):
    data = bytearray(data)
    tok = token.encode()
    at = at if at >= 0 else len(data) + at
    data[at:at + len(tok)] = tok
    return bytes(data)


# --- HTTP/2 (h2c with prior knowledge), built by hand -------------------------------------
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, SETTINGS, WINDOW_UPDATE = 0, 1, 4, 8
END_STREAM, END_HEADERS, ACK_FLAG = 0x1, 0x4, 0x1


def h2_frame(ftype, flags, stream, payload):
    return struct.pack("!I", len(payload))[1:] + struct.pack("!BBI", ftype, flags, stream) + payload


def hpack_literal(name, value):
    """A literal header field without indexing, new name, no Huffman coding (RFC 7541 6.2.2)."""
    def string(s):
        s = s.encode()
        assert len(s) < 127
        return bytes([len(s)]) + s
    return b"\x00" + string(name) + string(value)


def h2_headers(stream, fields, end_stream):
    block = b"".join(hpack_literal(n, v) for n, v in fields)
    return h2_frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream, block)


def h2_data(stream, body, frame_size=16384):
    parts = chunks(body, frame_size)
    return [h2_frame(DATA, END_STREAM if i == len(parts) - 1 else 0, stream, p)
            for i, p in enumerate(parts)]


def h2_settings_big_windows():
    # SETTINGS_INITIAL_WINDOW_SIZE 2^30, then the connection window raised as much
    return (h2_frame(SETTINGS, 0, 0, struct.pack("!HI", 4, 1 << 30))
            + h2_frame(WINDOW_UPDATE, 0, 0, struct.pack("!I", (1 << 30) - 65535)))


def h2_shape():
    req = lambda method, path, end: h2_headers(  # noqa: E731
        0, [(":method", method), (":scheme", "http"), (":authority", HOST), (":path", path)]
        + ([("content-length", str(len(post)))] if method == "POST" else []), end)
    post = content.upload_body("h2")[:100 * 1024]
    post = with_token(post, content.REQUEST_BODY_TOKEN, -500)
    body_a = with_token(content.deterministic_bytes(96 * 1024, b"h2a"), content.TAIL_TOKEN, -64)
    body_b = with_token(content.deterministic_bytes(64 * 1024, b"h2b"),
                        content.RESPONSE_BODY_TOKEN, 40000)
    body_c = b"upload ok\n"
    url_b = "/h2/b?q=" + content.URI_TOKEN

    def resp(stream, body, status=200):
        return h2_headers(stream, [(":status", str(status)), ("content-length", str(len(body)))],
                          False)

    def on(stream, frame):  # the stream id of a frame built for stream 0
        return frame[:5] + struct.pack("!I", stream) + frame[9:]

    c_requests = [on(1, req("GET", "/h2/a", True)), on(3, req("GET", url_b, True)),
                  on(5, req("POST", "/h2/upload", False))] + h2_data(5, post)
    da, db = h2_data(1, body_a), h2_data(3, body_b)
    interleaved = [resp(1, body_a), resp(3, body_b)]
    for i in range(max(len(da), len(db))):  # streams 1 and 3 frame by frame
        interleaved += da[i:i + 1] + db[i:i + 1]
    interleaved += [resp(5, body_c, 201)] + h2_data(5, body_c)
    runs = [Run("c", [H2_PREFACE + h2_frame(SETTINGS, 0, 0, b"") + h2_settings_big_windows()]),
            Run("s", [h2_frame(SETTINGS, 0, 0, b"") + h2_settings_big_windows()
                      + h2_frame(SETTINGS, ACK_FLAG, 0, b"")]),
            Run("c", [h2_frame(SETTINGS, ACK_FLAG, 0, b"")] + c_requests),
            Run("s", interleaved)]
    return Shape(6, "http2", "HTTP/2 (h2c): three streams, two answers interleaved frame by "
                 "frame, a POST", runs, http2=True,
                 http=[("GET", "/h2/a", 200, len(body_a)), ("GET", url_b, 200, len(body_b)),
                       ("POST", "/h2/upload", 201, len(body_c))],
                 alerts=[(9000004, 1), (9000001, 3), (9000003, 3), (9000002, 5)],
                 app_proto="http2")


# --- the shapes --------------------------------------------------------------------------
STREAM_TOKENS = [  # (sid, side, offset in that side's stream, token) for shape 5's tcp rules
    (9100501, "c", 1000, "sslcShapeC2sTokA"), (9100502, "c", 400000, "sslcShapeC2sTokB"),
    (9100503, "c", -100, "sslcShapeC2sTokC"), (9100504, "s", 3000, "sslcShapeS2cTokA"),
    (9100505, "s", 600000, "sslcShapeS2cTokB"), (9100506, "s", -60, "sslcShapeS2cTokC")]
GAP_TOKENS = [(9100701, "sslcShapeGapBeforeTok", 50000), (9100702, "sslcShapeGapAfterTok", 250000)]


def upload_shape(number, name, what, read=RECORD, write=None, gap=None, extra_alerts=()):
    url = "/upload%d" % number
    body = content.upload_body("shape%d" % number)
    for _, tok, at in (GAP_TOKENS if gap else ()):
        body = with_token(body, tok, at)
    head = request("POST", url, body)[:-len(body)]
    answer = b"upload ok\n"
    runs = [Run("c", [head] + chunks(body, write or len(body)), read=read),
            Run("s", [response(201, answer)])]
    alerts = [(9000002, 0)] + list(extra_alerts)
    return Shape(number, name, what, runs, gap=gap and ("c", len(head) + gap[0], gap[1]),
                 http=[("POST", url, 201, len(answer))], alerts=alerts)


def all_shapes():
    shapes = [upload_shape(1, "upload_at_once", "a 300 KiB POST (token in its last KiB) "
                           "answered 201 at once; the whole exchange in one batch of events")]
    shapes.append(upload_shape(2, "upload_small_reads", "the same upload written and read in "
                               "1 KiB pieces, answered 201", read=1024, write=1024))
    # 3: pipelining, over IPv6
    page = content.INDEX_HTML
    reqs = [request("GET", "/p1"), request("GET", "/p2?q=" + content.URI_TOKEN),
            request("GET", "/p3")]
    shapes.append(Shape(3, "pipelined", "three GETs in one write (IPv6), answered one write "
                        "each", [Run("c", [b"".join(reqs)]),
                                 Run("s", [response(200, page)]),
                                 Run("s", [response(200, page)]),
                                 Run("s", [response(200, content.TOKEN_HTML)])],
                        family=6, http=[("GET", "/p1", 200, len(page)),
                                        ("GET", "/p2?q=" + content.URI_TOKEN, 200, len(page)),
                                        ("GET", "/p3", 200, len(content.TOKEN_HTML))],
                        alerts=[(9000001, 1), (9000003, 2)]))
    # 4: a 2 MiB download; the next request is sent when half of it has been read
    big = with_token(content.deterministic_bytes(2 * 1024 * 1024, b"shape4"),
                     content.TAIL_TOKEN, -64)
    head = response(200, big)[:-len(big)]
    r1, r2 = request("GET", "/big4"), request("GET", "/after4")
    shapes.append(Shape(4, "download_overlap", "a 2 MiB download (token in its last bytes), "
                        "the next request sent before its end",
                        [Run("c", [r1]), Run("s", [head] + chunks(big, RECORD)),
                         Run("c", [r2], after=len(head) + len(big) // 2),
                         Run("s", [response(200, page)], after=len(r1) + len(r2))],
                        http=[("GET", "/big4", 200, len(big)), ("GET", "/after4", 200, len(page))],
                        alerts=[(9000004, 0)]))
    # 5: both directions streaming at once (not HTTP), over IPv6
    streams = {s: content.deterministic_bytes(1024 * 1024, b"shape5" + s.encode())
               for s in "cs"}
    for _, side, at, tok in STREAM_TOKENS:
        streams[side] = with_token(streams[side], tok, at)
    runs = []
    for k in range(64):
        for side in "cs":
            runs.append(Run(side, [streams[side][k * RECORD:(k + 1) * RECORD]],
                            after=max(0, k - 2) * RECORD))
    shapes.append(Shape(5, "both_streaming", "1 MiB each way at once, not HTTP (IPv6); tcp "
                        "stream rules on tokens at three offsets in both directions", runs,
                        family=6, alerts=[(sid, None) for sid, _, _, _ in STREAM_TOKENS],
                        app_proto=None))
    shapes.append(h2_shape())
    shapes.append(upload_shape(7, "upload_gap", "a 300 KiB POST with ~4 KiB missing in its "
                               "middle (the mirror: a gap event; the control: the segments "
                               "removed)", gap=(150000, 4000),
                               extra_alerts=[(9100701, 0), (9100702, 0)]))
    return shapes


def rules_text():
    lines = []
    for sid, side, at, tok in STREAM_TOKENS:
        flow = "to_server" if side == "c" else "to_client"
        lines.append('alert tcp any any -> any any (msg:"shape 5 %s token at %d"; '
                     'flow:established,%s; content:"%s"; sid:%d; rev:1;)'
                     % (flow, at, flow, tok, sid))
    for sid, tok, at in GAP_TOKENS:
        lines.append('alert http any any -> any any (msg:"shape 7 request body token at %d"; '
                     'flow:established,to_server; http.request_body; content:"%s"; sid:%d; '
                     'rev:1;)' % (at, tok, sid))
    return "\n".join(lines) + "\n"


# --- the scenario: events of one end ------------------------------------------------------
def pieces(shape, side):
    """The reads of side's peer stream: (offset, length, run) per read, each inside one write
    and at most one TLS record."""
    out, off = [], 0
    for r in shape.runs:
        if r.side == side:
            continue
        for w in r.writes:
            for rec in range(0, len(w), RECORD):
                n = min(RECORD, len(w) - rec)
                for p in range(0, n, r.read):
                    out.append((off + rec + p, min(r.read, n - p), r))
            off += len(w)
    return out


def split_gap(events, gap):
    """(kind, offset, length) events of one direction, with the bytes of gap = (offset,
    length) turned into one ("gap", offset, length) event."""
    if not gap:
        return events
    g0, g1 = gap[0], gap[0] + gap[1]
    out = []
    for kind, off, n in events:
        if off + n <= g0 or off >= g1:
            out.append((kind, off, n))
            continue
        if off < g0:
            out.append((kind, off, g0 - off))
        if off <= g0:
            out.append(("gap", g0, gap[1]))
        if off + n > g1:
            out.append((kind, g1, off + n - g1))
    return out


def end_events(shape, local, gap):
    """The events of the end `local` ("c" or "s"): (kind, dir, offset in the stream, length),
    kind data or gap, dir send or recv, then ("close",)."""
    peer = "s" if local == "c" else "c"
    todo = pieces(shape, local)
    written = read = 0
    out = []
    peer_gap = gap[1:] if gap and gap[0] == peer else None
    local_gap = gap[1:] if gap and gap[0] == local else None

    def read_until(n):
        nonlocal read
        while read < n:
            if not todo:
                raise SystemExit("shape %d: end %s waits for %d bytes that never come"
                                 % (shape.number, local, n))
            off, length, run = todo.pop(0)
            if run.after > written:
                raise SystemExit("shape %d: end %s reads bytes its peer writes only after %d of "
                                 "its own (it has written %d): the shape deadlocks"
                                 % (shape.number, local, run.after, written))
            for kind, o, ln in split_gap([("data", off, length)], peer_gap):
                out.append((kind, "recv", o, ln))
            read = off + length

    for r in shape.runs:
        if r.side != local:
            continue
        read_until(r.after)
        for w in r.writes:
            evs = split_gap([("data", written, len(w))], local_gap)
            out += [(kind, "send", o, ln) for kind, o, ln in evs]
            written += len(w)
    read_until(len(shape.stream(peer)))
    out.append(("close",))
    return out


def scenario(shapes, role, flush_each, gaps, addrs):
    """(scenario text, blob) for the end `role` of every shape."""
    local = "c" if role == "client" else "s"
    lines = ["# test_stream_shapes.sh: every shape as the agent on its %s end sees it%s"
             % (role, ", flushed after every event" if flush_each else ", one batch")]
    blob = bytearray()
    for shape in shapes:
        gap = None
        if shape.gap:
            if str(shape.number) not in gaps:
                raise SystemExit("shape %d has a gap: --gaps must give its range" % shape.number)
            g = gaps[str(shape.number)]
            gap = (shape.gap[0], g["offset"], g["length"])
        base = {s: len(blob) + (0 if s == "c" else len(shape.stream("c"))) for s in "cs"}
        blob += shape.stream("c") + shape.stream("s")
        fam = str(shape.family)
        me, peer = (addrs["client" + fam], addrs["server" + fam])
        mport, pport = shape.client_port, shape.port
        if role == "server":
            me, peer, mport, pport = peer, me, pport, mport
        lines.append("# shape %d %s: %s" % (shape.number, shape.name, shape.what))
        lines.append("conn %d %s %s %d %s %d" % (shape.number, role, me, mport, peer, pport))
        ts = BASE_NS + shape.number * SHAPE_GAP_NS
        for ev in end_events(shape, local, gap):
            ts += STEP_NS
            if ev[0] == "close":
                lines.append("close %d %d" % (shape.number, ts))
            else:
                kind, d, off, n = ev
                src = local if d == "send" else ("s" if local == "c" else "c")
                if kind == "gap":
                    lines.append("gap %d %s %d %d" % (shape.number, d, ts, n))
                else:
                    lines.append("data %d %s %d %d %d" % (shape.number, d, ts, base[src] + off, n))
            if flush_each:
                lines.append("flush")
    return "\n".join(lines) + "\n", bytes(blob)


# --- the control: the same exchanges over real TCP ----------------------------------------
def converse(sock, shape, local):
    """Plays the end `local` of shape on a connected socket: each run written once its
    `after` bytes have been read, reading all the while (so that two streaming sides never
    block each other); checks every byte received. Returns a problem or None."""
    peer = "s" if local == "c" else "c"
    want = shape.stream(peer)
    mine = [r for r in shape.runs if r.side == local]
    got = bytearray()
    queue, eof = [], False
    sock.setblocking(False)
    while True:
        while mine and len(got) >= mine[0].after and not queue:
            queue += [memoryview(w) for w in mine.pop(0).writes if w]
        if not mine and not queue and len(got) == len(want):
            if local == "c" or eof:
                return None
        r, w, _ = select.select([] if eof else [sock], [sock] if queue else [], [], TIMEOUT)
        if not r and not w:
            return "shape %d end %s: stalled after %d of %d bytes" % (
                shape.number, local, len(got), len(want))
        if w:
            try:
                n = sock.send(queue[0])
            except BlockingIOError:
                n = 0
            queue[0] = queue[0][n:]
            if not len(queue[0]):
                queue.pop(0)
        if r:
            data = sock.recv(1 << 18)
            if not data:
                eof = True
                if len(got) != len(want):
                    return "shape %d end %s: the peer closed after %d of %d bytes" % (
                        shape.number, local, len(got), len(want))
            got += data
            if bytes(got[-len(data):]) != want[len(got) - len(data):len(got)] if data else False:
                at = next(i for i in range(len(got)) if got[i] != want[i])
                return "shape %d end %s: byte %d differs from the shape's" % (
                    shape.number, local, at)


def serve(a):
    shapes = all_shapes()
    problems = []
    listeners = []
    for shape in shapes:
        fam = socket.AF_INET if shape.family == 4 else socket.AF_INET6
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a.addr4 if shape.family == 4 else a.addr6, shape.port))
        s.listen(1)
        listeners.append((shape, s))

    def one(shape, ls):
        ls.settimeout(TIMEOUT)
        try:
            c, _ = ls.accept()
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            p = converse(c, shape, "s")
            c.close()
        except OSError as e:
            p = "shape %d server: %s" % (shape.number, e)
        if p:
            problems.append(p)

    threads = [threading.Thread(target=one, args=sl) for sl in listeners]
    for t in threads:
        t.start()
    print("listening on %s" % " ".join(str(s.port) for s in shapes), flush=True)
    for t in threads:
        t.join()
    for p in problems:
        print("serve: " + p, file=sys.stderr)
    print("served %d shapes, %d problems" % (len(shapes), len(problems)), flush=True)
    return 1 if problems else 0


def connect(a):
    problems = []
    for shape in all_shapes():
        v4 = shape.family == 4
        s = socket.socket(socket.AF_INET if v4 else socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.bind((a.client4 if v4 else a.client6, shape.client_port))
        s.settimeout(TIMEOUT)
        s.connect((a.server4 if v4 else a.server6, shape.port))
        p = converse(s, shape, "c")
        s.close()
        print("shape %d %s: %s" % (shape.number, shape.name, p or "ok"), flush=True)
        if p:
            problems.append(p)
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    sub.add_parser("rules")
    p = sub.add_parser("scenario")
    p.add_argument("--role", choices=("client", "server"), required=True)
    p.add_argument("--flush-each", action="store_true")
    p.add_argument("--gaps", help="JSON from shapecheck.py cutgap")
    for k, v in (("client4", "10.77.0.1"), ("server4", "10.77.0.2"), ("client6", "fd77::1"),
                 ("server6", "fd77::2")):
        p.add_argument("--" + k, default=v)
    p.add_argument("out")
    p.add_argument("blob")
    p = sub.add_parser("serve")
    p.add_argument("--addr4", required=True)
    p.add_argument("--addr6", required=True)
    p = sub.add_parser("connect")
    for k in ("client4", "server4", "client6", "server6"):
        p.add_argument("--" + k, required=True)
    a = ap.parse_args()
    if a.cmd == "list":
        for s in all_shapes():
            print("%d %s port %d IPv%d: %s" % (s.number, s.name, s.port, s.family, s.what))
        return 0
    if a.cmd == "rules":
        sys.stdout.write(rules_text())
        return 0
    if a.cmd == "scenario":
        gaps = {}
        if a.gaps:
            with open(a.gaps) as f:
                gaps = json.load(f)
        text, blob = scenario(all_shapes(), a.role, a.flush_each, gaps, vars(a))
        with open(a.out, "w") as f:
            f.write(text)
        with open(a.blob, "wb") as f:
            f.write(blob)
        return 0
    return serve(a) if a.cmd == "serve" else connect(a)


if __name__ == "__main__":
    sys.exit(main())
