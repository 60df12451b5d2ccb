"""A blocking TLS server idle on keep-alive connections, and its client, for the test of SSL
calls in progress when the agent attaches (test_capture_inflight.sh).

  keepalive.py server --cert PEM --key KEY [--tls12] ADDR PORT
      Python's http.server with a thread per connection on blocking sockets (no timeout),
      HTTP/1.1 keep-alive: between requests each thread sits in SSL_read_ex, blocked in the
      read() of OpenSSL's socket BIO. GET /ka/I/K answers 200 with body_bytes(1000 + 97*I +
      13*K) (tls_clients.py). --tls12: TLS 1.2 only, AES-128-GCM or ChaCha20-Poly1305.
  keepalive.py client --out GT --ready FILE --go FILE [--cafile CA] [--cipher NAME]
                      [--count N] [--idle N] [--requests M] [--first I] HOST PORT
      Opens N + idle keep-alive connections and makes one request on each (its answer read
      whole), so that every server thread is back in SSL_read; creates FILE ready and waits
      for FILE go. Then the idle connections are closed without sending anything, and each of
      the N others carries M more requests, one after the other, and is closed. --cipher: TLS
      1.2 with this one cipher suite. --first: the number of the first connection (I).
      Ground truth (tls_clients.py's format) of what each of the N connections carried after
      go, with the first request after go as the gap the mirror must show ("gaps_c2s": that
      request was read by an SSL call in progress when the agent started); "absent": the idle
      connections, which must not appear at all. A TLS 1.3 close without close_notify (Python
      closes the socket without SSL_shutdown), so nothing reaches the server at the end but
      the FIN.

Run with Debian's /usr/bin/python3.
"""
import argparse
import http.server
import os
import socket
import socketserver
import ssl
import sys
import time

from tls_clients import Truth, addr, body_bytes, context


def body_size(i, k):
    return 1000 + 97 * i + 13 * k


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_GET(self):
        parts = self.path.split("/")
        try:
            size = body_size(int(parts[2]), int(parts[3]))
        except (IndexError, ValueError):
            self.send_error(404)
            return
        body = body_bytes(size)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print("keepalive server: %s %s" % (self.address_string(), fmt % args),
              file=sys.stderr, flush=True)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def cmd_server(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    if a.tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305")
    srv = Server((a.addr, a.port), Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("keepalive server: listening on %s:%d" % (a.addr, a.port), file=sys.stderr, flush=True)
    srv.serve_forever()


def request(host, i, k):
    # sizes differ per connection, so that a gap put on the wrong connection shows
    return ("GET /ka/%d/%d HTTP/1.1\r\nHost: %s\r\nUser-Agent: sslc-keepalive\r\n"
            "X-Pad: %s\r\n\r\n" % (i, k, host, "p" * (11 * i + k))).encode()


class Conn:
    def __init__(self, ctx, host, port, i):
        self.i = i
        self.raw = socket.create_connection((host, port), timeout=60)
        self.tls = ctx.wrap_socket(self.raw, server_hostname=host)
        self.pending = b""

    def exchange(self, req):
        """Sends req, returns the whole answer (head and Content-Length body)."""
        self.tls.sendall(req)
        data = self.pending
        while b"\r\n\r\n" not in data:
            chunk = self.tls.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the answer's head")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            chunk = self.tls.recv(65536)
            if not chunk:
                raise ConnectionError("closed inside the answer's body")
            rest += chunk
        self.pending = rest[length:]
        answer = head + b"\r\n\r\n" + rest[:length]
        if not answer.startswith(b"HTTP/1.1 200 "):
            raise ConnectionError("unexpected answer %r" % answer[:60])
        return answer


def cmd_client(a):
    truth = Truth(a.out)
    ctx = context(a.cafile)
    if a.cipher:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(a.cipher)
    host = a.host if ":" not in a.host else "[%s]" % a.host
    conns = [Conn(ctx, a.host, a.port, a.first + n) for n in range(a.count + a.idle)]
    for c in conns:
        c.exchange(request(host, c.i, 0))
    print("keepalive client: %d connections (%s), one request each; waiting for %s"
          % (len(conns), conns[0].tls.version(), a.go), file=sys.stderr, flush=True)
    open(a.ready, "w").close()
    deadline = time.time() + 120
    while not os.path.exists(a.go):
        if time.time() > deadline:
            truth.fail("no go file %s" % a.go)
            return truth.write()
        time.sleep(0.02)
    active, idle = conns[:a.count], conns[a.count:]
    truth.extra["absent"] = [{"client": addr(c.tls.getsockname()),
                              "server": addr(c.tls.getpeername())} for c in idle]
    for c in idle:
        c.tls.close()  # no close_notify: only a FIN reaches the blocked server thread
    for c in active:
        sent, received, first = b"", b"", 0
        try:
            for k in range(1, a.requests + 1):
                req = request(host, c.i, k)
                first = first or len(req)
                received += c.exchange(req)
                sent += req
        except (OSError, ssl.SSLError, ConnectionError) as e:
            truth.fail("connection %d: %r" % (c.i, e))
        conn = truth.add("keepalive-%d" % c.i, c.tls.getsockname(), c.tls.getpeername(), sent,
                         received)
        conn["tls"] = "%s %s" % (c.tls.version(), c.tls.cipher()[0])
        conn["gaps_c2s"] = [[0, first]]  # the request read by the SSL_read in progress
        conn["gaps_s2c"] = []
        c.tls.close()
    print("keepalive client: %d connections carried %d requests each after go, %d closed idle"
          % (len(active), a.requests, len(idle)), file=sys.stderr, flush=True)
    return truth.write()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("server")
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--tls12", action="store_true")
    s.add_argument("addr")
    s.add_argument("port", type=int)
    c = sub.add_parser("client")
    c.add_argument("--out", required=True)
    c.add_argument("--ready", required=True)
    c.add_argument("--go", required=True)
    c.add_argument("--cafile")
    c.add_argument("--cipher")
    c.add_argument("--count", type=int, default=1)
    c.add_argument("--idle", type=int, default=0)
    c.add_argument("--requests", type=int, default=3)
    c.add_argument("--first", type=int, default=0)
    c.add_argument("host")
    c.add_argument("port", type=int)
    a = ap.parse_args()
    return cmd_server(a) if a.cmd == "server" else cmd_client(a)


if __name__ == "__main__":
    sys.exit(main())
