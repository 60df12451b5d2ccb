"""Ground truth for test_capture_tlslibs.sh, where the programs under test are real TLS clients
and servers (gnutls-cli, wget, git, curl, NSS's tstclnt) whose own bytes cannot be recorded
by them. Run in ns client (never mirrored); writes tls_clients.Truth's format.

  tls_peers.py relay --cert PEM --key KEY --out GT --upstream HOST:PORT ADDR PORT
      a TLS-terminating relay in front of a plain HTTP server (nginx): each connection's
      plaintext is passed on byte for byte and recorded, both directions, with the HTTP
      transactions parsed from it (for evetool.py). Serves until SIGTERM, then writes GT.
  tls_peers.py curl-trace --out GT --trace FILE --local IP:PORT --remote IP:PORT
      the plaintext one curl connection sent and received, from `curl --trace FILE` (its
      "Send header/data" and "Recv header/data" dumps; TLS records are "SSL data": left out).

HTTP parsing: requests with a Content-Length body; responses with Content-Length, chunked
(the decoded length is the body's), or read to the close (HTTP/1.0, gnutls-serv --http).

Run with Debian's /usr/bin/python3.
"""
import argparse
import os
import re
import select
import signal
import socket
import ssl
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tls_clients import Truth, listening_socket, server_context  # noqa: E402


def head_at(data, pos):
    """(start line, headers dict, position after the head) or None when incomplete."""
    end = data.find(b"\r\n\r\n", pos)
    if end < 0:
        return None
    lines = data[pos:end].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return lines[0], headers, end + 4


def body_len(data, pos, headers, to_close):
    """(decoded body length, position after it) of a message body at pos."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        total = 0
        while True:
            eol = data.find(b"\r\n", pos)
            if eol < 0:
                raise ValueError("chunked body cut short")
            size = int(data[pos:eol].split(b";")[0], 16)
            pos = eol + 2
            if size == 0:
                end = data.find(b"\r\n\r\n", pos - 2)
                return total, (end + 4 if end >= 0 else len(data))
            total += size
            pos += size + 2
    if "content-length" in headers:
        n = int(headers["content-length"])
        return n, pos + n
    if to_close:
        return len(data) - pos, len(data)
    return 0, pos


def http_transactions(c2s, s2c):
    """[(method, url, host, status, request body length, response body length)]."""
    out, qp, rp = [], 0, 0
    while qp < len(c2s):
        req = head_at(c2s, qp)
        if not req:
            break
        start, headers, qp = req
        method, url = start.split(" ")[:2]
        req_len, qp = body_len(c2s, qp, headers, False)
        resp = head_at(s2c, rp)
        if not resp:
            break
        rstart, rheaders, rp = resp
        status = int(rstart.split(" ")[1])
        to_close = method == "HEAD" or status in (204, 304)
        if to_close:
            resp_len = 0
        else:
            resp_len, rp = body_len(s2c, rp, rheaders, "content-length" not in rheaders
                                    and "chunked" not in rheaders.get("transfer-encoding", ""))
        out.append((method, url, headers.get("host"), status, req_len, resp_len))
    return out


def record(truth, label, client, server, c2s, s2c):
    conn = truth.add(label, client, server, bytes(c2s), bytes(s2c))
    try:
        for t in http_transactions(bytes(c2s), bytes(s2c)):
            truth.add_request(conn, *t)
    except (ValueError, IndexError) as e:
        truth.fail("%s: cannot parse its HTTP: %r" % (label, e))
    print("tls_peers: %s %s -> %s: %d bytes sent, %d received, %d requests"
          % (label, client, server, len(c2s), len(s2c), len(conn["requests"])),
          file=sys.stderr)


def relay_one(truth, label, tls, peer, upstream):
    c2s, s2c = bytearray(), bytearray()
    up = socket.create_connection(upstream, timeout=60)
    client_open = True
    try:
        while True:
            want = [up] + ([tls] if client_open else [])
            ready = [tls] if client_open and tls.pending() else \
                select.select(want, [], [], 60)[0]
            if not ready:
                raise TimeoutError("no traffic for 60 s")
            if tls in ready:
                data = tls.recv(65536)
                if data:
                    c2s += data
                    up.sendall(data)
                else:
                    client_open = False
                    up.shutdown(socket.SHUT_WR)
            if up in ready:
                data = up.recv(65536)
                if not data:
                    break
                s2c += data
                tls.sendall(data)
    except (OSError, ssl.SSLError, TimeoutError) as e:
        if not isinstance(e, (ConnectionResetError, ssl.SSLEOFError)):
            truth.fail("%s: %r" % (label, e))
    finally:
        up.close()
        try:
            tls.unwrap()
        except (OSError, ssl.SSLError):
            pass
        tls.close()
    record(truth, label, peer, tls_local[label], c2s, s2c)


tls_local = {}


def cmd_relay(a):
    truth = Truth(a.out)
    host, _, port = a.upstream.rpartition(":")
    upstream = (host, int(port))
    ctx = server_context(a)
    ctx.options |= ssl.OP_IGNORE_UNEXPECTED_EOF
    threads, done = [], threading.Event()

    def stop(signum, frame):
        done.set()
    signal.signal(signal.SIGTERM, stop)
    with listening_socket(a) as srv:
        print("relay listening", file=sys.stderr, flush=True)
        srv.settimeout(0.2)
        n = 0
        while not done.is_set():
            try:
                conn, peer = srv.accept()
            except socket.timeout:
                continue
            label = "relay-%d" % n
            n += 1
            conn.settimeout(60)
            try:
                tls = ctx.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError) as e:
                truth.fail("%s: handshake with %s: %r" % (label, peer, e))
                conn.close()
                continue
            tls_local[label] = tls.getsockname()
            t = threading.Thread(target=relay_one, args=(truth, label, tls, peer, upstream))
            t.start()
            threads.append(t)
    for t in threads:
        t.join(70)
    return truth.write()


TRACE_RE = re.compile(r"^(=>|<=) (Send|Recv) (header|data|SSL data), (\d+) bytes")
HEX_RE = re.compile(r"^[0-9a-f]{4}: ")


def cmd_curl_trace(a):
    truth = Truth(a.out)
    c2s, s2c, cur = bytearray(), bytearray(), None
    with open(a.trace, encoding="latin-1") as f:
        for line in f:
            m = TRACE_RE.match(line)
            if m:
                cur = None if m.group(3) == "SSL data" else (c2s if m.group(2) == "Send"
                                                             else s2c)
                continue
            if line.startswith(("==", "=>", "<=")):
                cur = None
                continue
            # "0000: 47 45 54 ... GET": 16 bytes of "hh " (padded with spaces), then text
            if HEX_RE.match(line) and cur is not None:
                cur += bytes.fromhex(line[6:54].replace(" ", ""))

    def ep(s):
        ip, _, port = s.rpartition(":")
        return (ip.strip("[]"), int(port))
    record(truth, "curl", ep(a.local), ep(a.remote), c2s, s2c)
    return truth.write()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("relay")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p = sub.add_parser("curl-trace")
    p.add_argument("--out", required=True)
    p.add_argument("--trace", required=True)
    p.add_argument("--local", required=True)
    p.add_argument("--remote", required=True)
    a = ap.parse_args()
    return cmd_relay(a) if a.cmd == "relay" else cmd_curl_trace(a)


if __name__ == "__main__":
    sys.exit(main())
