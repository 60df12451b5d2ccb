"""Peers of test_capture_membio.sh: blocking Python ssl (never mirrored: they run in ns client),
each recording the exact plaintext it sent and received as ground truth in workload.py's
format (tls_clients.Truth). The programs under test (membio_asyncio.py, membio_node.js,
Dovecot) talk to them from ns server, where the agent mirrors.

The HTTP exchange all of them speak: request i of a connection is
    POST /membio/<i>?size=<n> HTTP/1.1 ... Content-Length: n, body pattern("c2s-<i>", n)
and its answer
    HTTP/1.1 200 OK ... Content-Length: n, body pattern("s2c-<i>", n)
(pattern: SHA-256 blocks, the same in membio_node.js), so every side checks what it reads.

  membio_peers.py http-client --out GT --cafile CA [--exchanges N] [--size BYTES] HOST PORT
      one keep-alive connection, N exchanges one after the other, then close (a FIN).
  membio_peers.py http-server --cert PEM --key KEY --out GT [--connections C] [--exchanges N]
                  ADDR PORT
      C connections one after the other, each served until its client closes (it must have
      made N exchanges); writes the ground truth (the client's view: what it sent is what this
      server read) and exits.
  membio_peers.py imap --out GT --cafile CA --user U --password P --marker M [--starttls]
                  HOST PORT
      IMAP over TLS (implicit, or after STARTTLS on the plaintext port): LOGIN, SELECT INBOX,
      FETCH 1 BODY[] (must hold M), LOGOUT, read to the server's close. The ground truth is the
      TLS part only: the plaintext before STARTTLS is not in it.
  membio_peers.py gt-ok GT --connections C [--min-bytes B]
      the harness's own check: the ground truth's writer reported no error, it has C
      connections and each carried at least B bytes each way.

Run with Debian's /usr/bin/python3.
"""
import argparse
import hashlib
import json
import os
import re
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tls_clients import Truth, listening_socket, server_context  # noqa: E402

URL_RE = re.compile(r"^/membio/(\d+)\?size=(\d+)$")


def pattern(label, size):
    """size bytes of SHA-256 blocks of "sslc-membio-<label>-<k>", k = 0, 1, ..."""
    out = bytearray()
    k = 0
    while len(out) < size:
        out += hashlib.sha256(b"sslc-membio-%s-%d" % (label.encode(), k)).digest()
        k += 1
    return bytes(out[:size])


def request_bytes(host_header, i, size):
    head = ("POST /membio/%d?size=%d HTTP/1.1\r\nHost: %s\r\nUser-Agent: sslc-membio-peer\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
            % (i, size, host_header, size))
    return head.encode() + pattern("c2s-%d" % i, size)


def response_bytes(i, size):
    head = ("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            "Content-Length: %d\r\n\r\n" % size)
    return head.encode() + pattern("s2c-%d" % i, size)


def parse_head(head):
    """b"START LINE\\r\\nName: value\\r\\n...\\r\\n\\r\\n" -> (start line, {lower name: value})"""
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def check_request(start, headers, body):
    """(i, size) of a request of the exchange; ValueError when it is not one."""
    parts = start.split(" ")
    m = URL_RE.match(parts[1]) if len(parts) == 3 and parts[0] == "POST" else None
    if not m:
        raise ValueError("not a request of the exchange: %r" % start)
    i, size = int(m.group(1)), int(m.group(2))
    if body != pattern("c2s-%d" % i, size):
        raise ValueError("request %d: body of %d bytes is not the expected %d"
                         % (i, len(body), size))
    return i, size


class Reader:
    """HTTP/1.1 messages with Content-Length from a blocking TLS socket; raw holds every byte
    read, which is what the peer received."""

    def __init__(self, tls):
        self.tls = tls
        self.buf = bytearray()
        self.raw = bytearray()

    def _fill(self):
        chunk = self.tls.recv(1 << 16)
        if not chunk:
            return False
        self.buf += chunk
        self.raw += chunk
        return True

    def message(self):
        """(start line, headers, body), or None when the peer closed between messages."""
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                if self.buf:
                    raise EOFError("closed inside a message head: %r" % bytes(self.buf[:60]))
                return None
        end = self.buf.index(b"\r\n\r\n") + 4
        start, headers = parse_head(bytes(self.buf[:end]))
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < end + n:
            if not self._fill():
                raise EOFError("closed inside a body (%d of %d bytes)" % (len(self.buf) - end, n))
        body = bytes(self.buf[end:end + n])
        del self.buf[:end + n]
        return start, headers, body


def client_context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.options |= ssl.OP_IGNORE_UNEXPECTED_EOF  # a close without close_notify is an EOF
    return ctx


def host_header(host, port):
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def cmd_http_client(a):
    truth = Truth(a.out)
    hh = host_header(a.host, a.port)
    try:
        with socket.create_connection((a.host, a.port), timeout=60) as raw:
            with client_context(a.cafile).wrap_socket(raw, server_hostname=a.host) as tls:
                local, peer = tls.getsockname(), tls.getpeername()
                reader, sent, reqs = Reader(tls), bytearray(), []
                for i in range(a.exchanges):
                    req = request_bytes(hh, i, a.size)
                    tls.sendall(req)
                    sent += req
                    msg = reader.message()
                    if msg is None:
                        truth.fail("exchange %d: the server closed instead of answering" % i)
                        break
                    start, _, body = msg
                    if (not start.startswith("HTTP/1.1 200 ")
                            or body != pattern("s2c-%d" % i, a.size)):
                        truth.fail("exchange %d: unexpected answer %r, %d body bytes"
                                   % (i, start, len(body)))
                    reqs.append(("POST", "/membio/%d?size=%d" % (i, a.size), hh, 200, a.size,
                                 len(body)))
        conn = truth.add("http-client", local, peer, bytes(sent), bytes(reader.raw))
        for r in reqs:
            truth.add_request(conn, *r)
        print("membio_peers: http-client %s:%d -> %s:%d: %d exchanges, %d bytes sent, %d received"
              % (local[0], local[1], peer[0], peer[1], len(reqs), len(sent), len(reader.raw)),
              file=sys.stderr)
    except (OSError, ssl.SSLError, EOFError, ValueError) as e:
        truth.fail("http-client %s:%d: %r" % (a.host, a.port, e))
    return truth.write()


def serve_http(truth, tls, peer, local, label, exchanges):
    reader, sent, reqs = Reader(tls), bytearray(), []
    try:
        while True:
            msg = reader.message()
            if msg is None:
                break
            start, headers, body = msg
            try:
                i, size = check_request(start, headers, body)
            except ValueError as e:
                truth.fail("%s: %s" % (label, e))
                break
            answer = response_bytes(i, size)
            tls.sendall(answer)
            sent += answer
            reqs.append(("POST", start.split(" ")[1], headers.get("host"), 200, len(body), size))
    except (OSError, ssl.SSLError, EOFError) as e:
        truth.fail("%s: %r" % (label, e))
    conn = truth.add(label, peer, local, bytes(reader.raw), bytes(sent))
    for r in reqs:
        truth.add_request(conn, *r)
    if len(reqs) != exchanges:
        truth.fail("%s: %d exchanges, expected %d" % (label, len(reqs), exchanges))
    print("membio_peers: %s %s:%d <- %s:%d: %d exchanges, %d bytes read, %d sent"
          % (label, local[0], local[1], peer[0], peer[1], len(reqs), len(reader.raw), len(sent)),
          file=sys.stderr)


def cmd_http_server(a):
    truth = Truth(a.out)
    ctx = server_context(a)
    ctx.options |= ssl.OP_IGNORE_UNEXPECTED_EOF
    with listening_socket(a) as srv:
        for n in range(a.connections):
            conn, peer = srv.accept()
            conn.settimeout(60)
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    serve_http(truth, tls, peer, tls.getsockname(), "http-server-%d" % n,
                               a.exchanges)
            except (OSError, ssl.SSLError) as e:
                truth.fail("http-server-%d: handshake with %s: %r" % (n, peer, e))
    return truth.write()


class Imap:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()  # read, not yet consumed
        self.raw = bytearray()  # every byte read through this object
        self.sent = bytearray()

    def send(self, line):
        self.sock.sendall(line)
        self.sent += line

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buf += chunk
        self.raw += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        end = self.buf.index(b"\r\n") + 2
        line = bytes(self.buf[:end])
        del self.buf[:end]
        return line

    def until_tagged(self, tag):
        """Everything up to and including the tagged response line of tag (literals are read
        by their length, so their contents never end a response)."""
        out = bytearray()
        while True:
            line = self.line()
            out += line
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if m:
                n = int(m.group(1))
                while len(self.buf) < n:
                    self._fill()
                out += self.buf[:n]
                del self.buf[:n]
                continue
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise ValueError("%s failed: %r" % (tag.decode(), line))
                return bytes(out)

    def rest(self):
        """Read until the server closes."""
        try:
            while True:
                self._fill()
        except EOFError:
            pass


def cmd_imap(a):
    truth = Truth(a.out)
    label = "imap-starttls" if a.starttls else "imaps"
    try:
        with socket.create_connection((a.host, a.port), timeout=60) as raw:
            if a.starttls:
                plain = Imap(raw)
                greeting = plain.line()
                if not greeting.startswith(b"* OK"):
                    raise ValueError("greeting %r" % greeting)
                plain.send(b"s0 STARTTLS\r\n")
                plain.until_tagged(b"s0")
                if plain.buf:
                    raise ValueError("plaintext after the STARTTLS answer: %r" % bytes(plain.buf))
            ctx = client_context(a.cafile)
            with ctx.wrap_socket(raw, server_hostname=a.host) as tls:
                local, peer = tls.getsockname(), tls.getpeername()
                s = Imap(tls)
                if not a.starttls:
                    greeting = s.line()
                    if not greeting.startswith(b"* OK"):
                        raise ValueError("greeting %r" % greeting)
                s.send(b'a1 LOGIN "%s" "%s"\r\n' % (a.user.encode(), a.password.encode()))
                s.until_tagged(b"a1")
                s.send(b"a2 SELECT INBOX\r\n")
                s.until_tagged(b"a2")
                s.send(b"a3 FETCH 1 BODY[]\r\n")
                fetched = s.until_tagged(b"a3")
                if a.marker.encode() not in fetched:
                    truth.fail("%s: FETCH 1 BODY[] without the marker: %r" % (label, fetched[:200]))
                s.send(b"a4 LOGOUT\r\n")
                s.until_tagged(b"a4")
                s.rest()
        truth.add(label, local, peer, bytes(s.sent), bytes(s.raw))
        print("membio_peers: %s %s:%d -> %s:%d: marker fetched, %d bytes sent, %d received in TLS"
              % (label, local[0], local[1], peer[0], peer[1], len(s.sent), len(s.raw)),
              file=sys.stderr)
    except (OSError, ssl.SSLError, EOFError, ValueError) as e:
        truth.fail("%s %s:%d: %r" % (label, a.host, a.port, e))
    return truth.write()


def cmd_gt_ok(a):
    try:
        with open(a.gt) as f:
            gt = json.load(f)
    except (OSError, ValueError) as e:
        print("gt-ok: %s: %s" % (a.gt, e), file=sys.stderr)
        return 1
    errors = ["its writer reported: %s" % e for e in gt.get("errors", [])]
    conns = gt.get("connections", [])
    if len(conns) != a.connections:
        errors.append("%d connections, expected %d" % (len(conns), a.connections))
    for c in conns:
        if min(c["sent_len"], c["received_len"]) < a.min_bytes:
            errors.append("%s: %d bytes sent, %d received, expected at least %d each way"
                          % (c["label"], c["sent_len"], c["received_len"], a.min_bytes))
    for e in errors:
        print("gt-ok: %s: %s" % (a.gt, e), file=sys.stderr)
    if errors:
        return 1
    print("gt-ok: %s: %s" % (a.gt, "; ".join(
        "%s %s:%s -> %s:%s %d/%d bytes" % (c["label"], c["client"][0], c["client"][1],
                                           c["server"][0], c["server"][1], c["sent_len"],
                                           c["received_len"]) for c in conns)), file=sys.stderr)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("http-client")
    p.add_argument("--out", required=True)
    p.add_argument("--cafile", required=True)
    p.add_argument("--exchanges", type=int, default=2)
    p.add_argument("--size", type=int, default=1 << 20)
    p.add_argument("host")
    p.add_argument("port", type=int)
    p = sub.add_parser("http-server")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--exchanges", type=int, default=2)
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p = sub.add_parser("imap")
    p.add_argument("--out", required=True)
    p.add_argument("--cafile", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--marker", required=True)
    p.add_argument("--starttls", action="store_true")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p = sub.add_parser("gt-ok")
    p.add_argument("gt")
    p.add_argument("--connections", type=int, required=True)
    p.add_argument("--min-bytes", type=int, default=1)
    a = ap.parse_args()
    return {"http-client": cmd_http_client, "http-server": cmd_http_server, "imap": cmd_imap,
            "gt-ok": cmd_gt_ok}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
