"""TLS peers for the capture tests, writing ground truth in workload.py's format (connections
with client/server address, the exact bytes each way in files; no requests, no rules).

  tls_clients.py fetch --out GT [--count N] [--cafile CA] HOST PORT PATH
      N connections at once, each: handshake, "GET PATH" with Connection: close, read to EOF.
  tls_clients.py late --out GT --ready FILE --go FILE [--cafile CA] HOST PORT PATH
      connect and finish the handshake, create FILE ready, wait for FILE go, then request.
  tls_clients.py bigwrite-server --cert PEM --key KEY [--size BYTES] ADDR PORT
      for each connection: read a request, answer with the header in one write and a body of
      BYTES in ONE SSL_write_ex call (Python's sendall on a blocking socket), then close.
  tls_clients.py closer [--count N] [--cafile CA] HOST PORT PATH
      N connections one after the other, each: handshake, "GET PATH", close at once without
      reading (a FIN; nothing unread, as the server below sends no session tickets).
  tls_clients.py reset-server --cert PEM --key KEY --out GT [--count N] ADDR PORT
      for each of N connections: read a request, wait until the client has closed, answer in
      one SSL_write_ex. The client's kernel answers that data with a reset, which usually
      reaches this socket *inside* the write() system call (veth and loopback deliver at
      once): the TCP connection is closed before SSL_write_ex returns. On a busy machine the
      reset can come later; then further one-byte writes succeed until it has arrived, and
      they are part of what the server sent. Writes the server's view as ground truth
      (request received, answer and any such bytes sent) and exits; an error if no write
      ever met the reset.
  tls_clients.py resetter [--cafile CA] HOST PORT PATH
      handshake, "GET PATH", then close with a reset (SO_LINGER 0), without reading.
  tls_clients.py late-reset-server --cert PEM --key KEY --out GT --go FILE ADDR PORT
      for one connection: finish the handshake, wait for FILE go (the client has sent its
      request and reset the connection meanwhile), then read the request, which the kernel
      still holds, and check that nothing follows it. Writes the server's view.
  tls_clients.py loopback --cert PEM --key KEY --ready FILE --go FILE
      a short-lived "container": create FILE ready (the ssl module, so libssl, is loaded),
      wait for FILE go, then one TLS connection to itself over 127.0.0.1 (a request, an
      answer, both close); exits non-zero unless the answer arrived whole.

Run with Debian's /usr/bin/python3.
"""
import argparse
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time


def body_bytes(size):
    """Deterministic, non-repeating-looking content (so misplaced bytes are noticed)."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(b"sslc-bigwrite-%d" % i).digest()
        i += 1
    return bytes(out[:size])


def context(cafile):
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    return ssl._create_unverified_context()  # noqa: SLF001 — the tests' own CA is optional


def addr(sockaddr):
    return [sockaddr[0], sockaddr[1]]


class Truth:
    def __init__(self, out):
        self.out = out
        self.dir = out + ".d"
        os.makedirs(self.dir, exist_ok=True)
        self.connections = []
        self.lock = threading.Lock()
        self.errors = []
        self.requests = []  # workload.py's request records, for evetool.py (optional)
        self.extra = {}  # more top-level keys of the ground truth (e.g. "absent")

    def add(self, label, local, peer, sent, received):
        with self.lock:
            cid = "c%d" % len(self.connections)
            conn = {"id": cid, "tool": "python", "label": label, "client": addr(local),
                    "server": addr(peer), "requests": []}
            self.connections.append(conn)
        for direction, data in (("sent", sent), ("received", received)):
            name = "%s.%s" % (cid, "c2s" if direction == "sent" else "s2c")
            with open(os.path.join(self.dir, name), "wb") as f:
                f.write(data)
            conn[direction + "_file"] = os.path.join(os.path.basename(self.dir), name)
            conn[direction + "_len"] = len(data)
        return conn

    def add_request(self, conn, method, url, host, status, request_body_len,
                    response_body_len):
        """An HTTP request on conn (a dict from add), as workload.py records it (evetool.py)."""
        with self.lock:
            req = {"id": "%s.%d" % (conn["id"], len(conn["requests"])), "conn": conn["id"],
                   "index_in_conn": len(conn["requests"]), "method": method, "url": url,
                   "host": host, "status": status, "response_body_len": response_body_len,
                   "request_body_len": request_body_len, "sids": []}
            self.requests.append(req)
            conn["requests"].append(req["id"])

    def fail(self, msg):
        with self.lock:
            self.errors.append(msg)
        print("tls_clients: " + msg, file=sys.stderr)

    def write(self):
        with open(self.out, "w") as f:
            json.dump(dict({"connections": self.connections, "requests": self.requests,
                            "rules": [], "errors": self.errors}, **self.extra), f, indent=1)
        return 1 if self.errors else 0


def request(host, path):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sslc-tls-clients\r\n"
            "Connection: close\r\n\r\n" % (path, host)).encode()


def read_all(tls):
    data = bytearray()
    while True:
        chunk = tls.recv(1 << 16)
        if not chunk:
            return bytes(data)
        data += chunk


def one_fetch(truth, ctx, host, port, path, label, ready=None, go=None):
    try:
        with socket.create_connection((host, port), timeout=60) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                if ready:
                    open(ready, "w").close()
                    deadline = time.time() + 120
                    while not os.path.exists(go):
                        if time.time() > deadline:
                            raise TimeoutError("no go file %s" % go)
                        time.sleep(0.02)
                req = request(host if ":" not in host else "[%s]" % host, path)
                tls.sendall(req)
                data = read_all(tls)
                truth.add(label, tls.getsockname(), tls.getpeername(), req, data)
                if not data.startswith(b"HTTP/1.1 200 "):
                    truth.fail("%s %s: unexpected answer %r" % (label, path, data[:60]))
    except Exception as e:  # noqa: BLE001 — reported in the ground truth, the test fails
        truth.fail("%s %s:%s%s: %r" % (label, host, port, path, e))


def cmd_fetch(a):
    truth = Truth(a.out)
    ctx = context(a.cafile)
    threads = [threading.Thread(target=one_fetch,
                                args=(truth, ctx, a.host, a.port, a.path, "fetch-%d" % i))
               for i in range(a.count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return truth.write()


def cmd_late(a):
    truth = Truth(a.out)
    one_fetch(truth, context(a.cafile), a.host, a.port, a.path, "late", a.ready, a.go)
    return truth.write()


def server_context(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    return ctx


def listening_socket(a):
    """A TCP socket listening on a.addr:a.port (IPv6 when the address has a colon)."""
    family = socket.AF_INET6 if ":" in a.addr else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((a.addr, a.port))
    srv.listen(16)
    return srv


def read_request(tls):
    """The request head (up to the empty line), or what came before the peer closed."""
    req = b""
    while b"\r\n\r\n" not in req:
        chunk = tls.recv(4096)
        if not chunk:
            break
        req += chunk
    return req


def cmd_bigwrite_server(a):
    body = body_bytes(a.size)
    ctx = server_context(a)
    with listening_socket(a) as srv:
        while True:
            conn, _ = srv.accept()
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    read_request(tls)
                    head = ("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                            "Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
                    tls.sendall(head.encode())
                    tls.sendall(body)  # one SSL_write_ex of the whole body
            except (OSError, ssl.SSLError) as e:
                print("bigwrite-server: %r" % e, file=sys.stderr)


def cmd_closer(a):
    ctx = context(a.cafile)
    for _ in range(a.count):
        with socket.create_connection((a.host, a.port), timeout=60) as raw:
            with ctx.wrap_socket(raw, server_hostname=a.host) as tls:
                tls.sendall(request(a.host, a.path))
        time.sleep(1.5)  # the server's answer meets this closed socket; then the next one
    return 0


def cmd_resetter(a):
    ctx = context(a.cafile)
    with socket.create_connection((a.host, a.port), timeout=60) as raw:
        with ctx.wrap_socket(raw, server_hostname=a.host) as tls:
            tls.sendall(request(a.host, a.path))
            time.sleep(0.5)  # sent and acknowledged: a reset discards what is not yet sent
            tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return 0


def cmd_late_reset_server(a):
    truth = Truth(a.out)
    ctx = server_context(a)
    ctx.num_tickets = 0
    with listening_socket(a) as srv:
        conn, peer = srv.accept()
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                local = tls.getsockname()
                deadline = time.time() + 120
                while not os.path.exists(a.go):
                    if time.time() > deadline:
                        raise TimeoutError("no go file %s" % a.go)
                    time.sleep(0.02)
                req = read_request(tls)
                truth.add("late-reset", peer, local, req, b"")
                if not req.startswith(b"GET "):
                    truth.fail("late-reset: no request before the reset: %r" % req[:60])
                try:
                    more = tls.recv(4096)  # b"": Python reports the reset as an EOF
                    if more:
                        truth.fail("late-reset: no reset, the read returned %r" % more[:60])
                except OSError:
                    pass
        except (OSError, ssl.SSLError) as e:
            truth.fail("late-reset: %r" % e)
    return truth.write()


def cmd_reset_server(a):
    truth = Truth(a.out)
    ctx = server_context(a)
    ctx.num_tickets = 0  # nothing for the client to leave unread (that would be a reset)
    with listening_socket(a) as srv:
        for i in range(a.count):
            conn, peer = srv.accept()
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    local = tls.getsockname()
                    req = read_request(tls)
                    time.sleep(0.5)  # the client's FIN arrives
                    body = body_bytes(1000 + i)
                    answer = ("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
                              % len(body)).encode() + body
                    tls.sendall(answer)  # succeeds: the reset comes in during the write()
                    # Usually the connection is gone now and the first "x" fails. When the
                    # machine deferred the reset's processing, the write succeeds: the byte
                    # was sent (and is mirrored); try again until the reset is there.
                    for late in range(200):
                        try:
                            tls.sendall(b"x")
                        except OSError:
                            if late:
                                print("tls_clients: reset-%d: the reset came after the "
                                      "answer's write; %d more bytes sent before it"
                                      % (i, late), file=sys.stderr)
                            break
                        answer += b"x"
                        time.sleep(0.01)
                    else:
                        truth.fail("reset-%d: 200 more writes succeeded: no reset" % i)
                    truth.add("reset-%d" % i, peer, local, req, answer)
            except (OSError, ssl.SSLError) as e:
                truth.fail("reset-%d: %r" % (i, e))
    return truth.write()


def cmd_loopback(a):
    open(a.ready, "w").close()
    deadline = time.time() + 120
    while not os.path.exists(a.go):
        if time.time() > deadline:
            print("tls_clients: loopback: no go file %s" % a.go, file=sys.stderr)
            return 1
        time.sleep(0.01)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(a.cert, a.key)
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    with socket.create_server(("127.0.0.1", 0)) as ls:
        def serve():
            conn, _ = ls.accept()
            with sctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(4096)
                tls.sendall(answer)
        t = threading.Thread(target=serve)
        t.start()
        with socket.create_connection(ls.getsockname(), timeout=30) as raw:
            with context(None).wrap_socket(raw) as tls:
                tls.sendall(request("loopback", "/"))
                data = read_all(tls)
        t.join(30)
    if data != answer:
        print("tls_clients: loopback: answer %r" % data[:60], file=sys.stderr)
        return 1
    return 0


def client_parser(sub, name, out=True):
    p = sub.add_parser(name)
    if out:
        p.add_argument("--out", required=True)
    p.add_argument("--cafile")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("path")
    return p


def server_parser(sub, name):
    p = sub.add_parser(name)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("addr")
    p.add_argument("port", type=int)
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    client_parser(sub, "fetch").add_argument("--count", type=int, default=1)
    late = client_parser(sub, "late")
    late.add_argument("--ready", required=True)
    late.add_argument("--go", required=True)
    client_parser(sub, "closer", out=False).add_argument("--count", type=int, default=1)
    client_parser(sub, "resetter", out=False)
    lr = server_parser(sub, "late-reset-server")
    lr.add_argument("--out", required=True)
    lr.add_argument("--go", required=True)
    server_parser(sub, "bigwrite-server").add_argument("--size", type=int, default=4 << 20)
    r = server_parser(sub, "reset-server")
    r.add_argument("--out", required=True)
    r.add_argument("--count", type=int, default=1)
    lb = sub.add_parser("loopback")
    for opt in ("--cert", "--key", "--ready", "--go"):
        lb.add_argument(opt, required=True)
    a = ap.parse_args()
    return {"loopback": cmd_loopback, "fetch": cmd_fetch, "late": cmd_late, "bigwrite-server": cmd_bigwrite_server,
            "closer": cmd_closer, "reset-server": cmd_reset_server, "resetter": cmd_resetter,
            "late-reset-server": cmd_late_reset_server}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
