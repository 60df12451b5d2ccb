"""The end-to-end workload: a scripted mix of HTTP/1.1 requests against one or more base URLs,
recording the ground truth a mirror must reproduce.

    /usr/bin/python3 workload.py --out GT.json [--cafile CA.pem] [--host NAME]
                                 [--curl-local-port PORT] BASE_URL...

BASE_URL is http:// or https://, IPv4 or [IPv6], with an optional port. For each base URL, in
this order: one keep-alive connection with six requests (GET with query strings, the token page,
404s, a 300 KiB POST); a 5 MiB download; 20 parallel connections with two requests each; one curl
connection with four requests (GET, 404, 300 KiB POST with Expect: 100-continue, token page).
Python's clients use http.client over ssl (OpenSSL's SSL_read_ex/SSL_write_ex), curl uses
SSL_read/SSL_write. --host sets the Host header (default: what the client would send), so a
plain-HTTP control on port 443 sends exactly the bytes the HTTPS run sends inside TLS
(--host-no-port does that for several base URLs).

GT.json holds, per request: connection, method, url (path+query), host, status, response and
request body lengths, and the sids of content.RULES it should trigger; per connection: tool,
client and server address/port, the exact bytes the client sent and received (files in
GT.json.d/, with lengths and SHA-256), and "exchange": the order of the traffic as runs of
[direction, bytes] (c2s/s2c), e.g. [["c2s", 85], ["s2c", 250], ...]. Exits non-zero if any request fails or returns an
unexpected status.
"""
import argparse
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import content  # noqa: E402

PARALLEL = 20
TIMEOUT = 60


class _RecordingReader(io.RawIOBase):
    def __init__(self, rec):
        self.rec = rec

    def readable(self):
        return True

    def readinto(self, buf):
        n = self.rec.sock.recv_into(buf)
        self.rec.received += memoryview(buf)[:n]
        self.rec.note("s2c", n)
        return n


class RecordingSocket:
    """Wraps the (TLS) socket http.client uses and keeps every byte written and read."""

    def __init__(self, sock):
        self.sock = sock
        self.sent = bytearray()
        self.received = bytearray()
        self.exchange = []  # [direction, bytes]: runs of consecutive sends or receives

    def note(self, direction, n):
        if n and self.exchange and self.exchange[-1][0] == direction:
            self.exchange[-1][1] += n
        elif n:
            self.exchange.append([direction, n])

    def sendall(self, data):
        self.sock.sendall(data)
        self.sent += data
        self.note("c2s", len(data))

    def makefile(self, mode="rb", buffering=-1):
        assert mode == "rb", mode
        return io.BufferedReader(_RecordingReader(self))

    def __getattr__(self, name):
        return getattr(self.sock, name)


class RecHTTPConnection(http.client.HTTPConnection):
    def connect(self):
        super().connect()
        self.sock = RecordingSocket(self.sock)


class RecHTTPSConnection(http.client.HTTPSConnection):
    def connect(self):
        super().connect()
        self.sock = RecordingSocket(self.sock)


def addr(sockaddr):
    return [sockaddr[0], sockaddr[1]]


class Workload:
    def __init__(self, out, cafile, host, host_no_port, curl_port=0):
        self.out = out
        self.curl_port = curl_port
        self.dir = out + ".d"
        self.cafile = cafile
        self.host = host
        self.host_no_port = host_no_port
        self.lock = threading.Lock()
        self.connections = []  # filled in plan order (index assigned before running)
        self.requests = []
        self.errors = []
        if os.path.isdir(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.dir)

    # --- bookkeeping -----------------------------------------------------------------------
    def new_conn(self, base, tool, label):
        with self.lock:
            cid = "c%d" % len(self.connections)
            conn = {"id": cid, "tool": tool, "label": label, "base": base, "requests": []}
            self.connections.append(conn)
        return conn

    def finish_conn(self, conn, local, peer, sent, received, exchange):
        conn["client"] = addr(local)
        conn["server"] = addr(peer)
        conn["exchange"] = exchange
        for direction, data in (("sent", sent), ("received", received)):
            name = "%s.%s" % (conn["id"], "c2s" if direction == "sent" else "s2c")
            with open(os.path.join(self.dir, name), "wb") as f:
                f.write(data)
            conn[direction + "_file"] = os.path.join(os.path.basename(self.dir), name)
            conn[direction + "_len"] = len(data)
            conn[direction + "_sha256"] = hashlib.sha256(data).hexdigest()

    def add_request(self, conn, method, url, host, status, req_body, resp_body, expect_status):
        req = {"conn": conn["id"], "index_in_conn": len(conn["requests"]), "method": method,
               "url": url, "host": host, "status": status,
               "response_body_len": len(resp_body), "request_body_len": len(req_body or b""),
               "sids": content.tokens_in(url, req_body, resp_body)}
        req["id"] = "%s.%d" % (conn["id"], req["index_in_conn"])
        with self.lock:
            self.requests.append(req)
        conn["requests"].append(req["id"])
        if status != expect_status:
            self.fail("%s %s on %s (%s): status %s, expected %s"
                      % (method, url, conn["id"], conn["base"], status, expect_status))

    def fail(self, msg):
        with self.lock:
            self.errors.append(msg)
        print("workload: " + msg, file=sys.stderr)

    # --- python (http.client) connections --------------------------------------------------
    def host_header(self, base):
        """--host, else what a browser sends: host, plus :port when not the default."""
        if self.host:
            return self.host
        u = urllib.parse.urlsplit(base)
        default = 443 if u.scheme == "https" else 80
        if u.port is None or u.port == default or self.host_no_port:
            return u.netloc.rsplit(":", 1)[0] if u.port else u.netloc
        return u.netloc

    def python_conn(self, base, label, steps, conn=None):
        """steps: [(method, url, body or None, expected status)], all on one connection."""
        conn = conn or self.new_conn(base, "python", label)
        u = urllib.parse.urlsplit(base)
        host = u.hostname
        if u.scheme == "https":
            ctx = ssl.create_default_context(cafile=self.cafile)
            c = RecHTTPSConnection(host, u.port or 443, timeout=TIMEOUT, context=ctx)
        else:
            c = RecHTTPConnection(host, u.port or 80, timeout=TIMEOUT)
        hosthdr = self.host_header(base)
        try:
            c.connect()
            local, peer = c.sock.getsockname(), c.sock.getpeername()
            for method, url, body, expect in steps:
                headers = {"Host": hosthdr}
                if body is not None:
                    headers["Content-Type"] = "application/octet-stream"
                c.request(method, url, body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                self.add_request(conn, method, url, hosthdr, r.status, body, data, expect)
            rec = c.sock
        except Exception as e:  # noqa: BLE001 — report which request failed, keep going
            self.fail("python connection %s (%s, %s) failed: %r" % (conn["id"], base, label, e))
            c.close()
            return
        c.close()
        self.finish_conn(conn, local, peer, bytes(rec.sent), bytes(rec.received), rec.exchange)

    # --- curl connections ------------------------------------------------------------------
    def curl_conn(self, base, label, steps):
        """steps as python_conn; one curl process, transfers separated by --next so the
        connection is reused. Bytes come from curl's --trace (raw header and body data)."""
        conn = self.new_conn(base, "curl", label)
        hosthdr = self.host_header(base)
        tmp = tempfile.mkdtemp(prefix="curl-", dir=self.dir)
        trace = os.path.join(tmp, "trace")
        args = ["curl", "--trace", trace]
        for i, (method, url, body, _) in enumerate(steps):
            if i:
                args.append("--next")  # resets per-transfer options, keeps the connection
            if self.curl_port:
                args += ["--local-port", str(self.curl_port)]
            args += ["-sS", "--http1.1", "-g", "--max-time", str(TIMEOUT),
                     "-H", "Host: " + hosthdr, "-o", os.path.join(tmp, "body%d" % i),
                     "-w", "%{json}\\n"]
            if self.cafile:
                args += ["--cacert", self.cafile]
            if body is not None:
                path = os.path.join(tmp, "req%d" % i)
                with open(path, "wb") as f:
                    f.write(body)
                args += ["-X", method, "-H", "Content-Type: application/octet-stream",
                         "--data-binary", "@" + path]
            args.append(base.rstrip("/") + url)
        p = subprocess.run(args, capture_output=True, timeout=TIMEOUT * 2)
        if p.returncode != 0:
            self.fail("curl connection %s (%s) exited %d: %s"
                      % (conn["id"], base, p.returncode, p.stderr.decode(errors="replace")))
            return
        infos = [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]
        if len(infos) != len(steps):
            self.fail("curl %s: %d transfers reported, %d expected" % (conn["id"], len(infos),
                                                                       len(steps)))
            return
        if [i["num_connects"] for i in infos] != [1] + [0] * (len(steps) - 1):
            self.fail("curl %s did not reuse its connection: num_connects %s"
                      % (conn["id"], [i["num_connects"] for i in infos]))
        sent, received, exchange = parse_curl_trace(trace)
        for i, ((method, url, body, expect), info) in enumerate(zip(steps, infos)):
            with open(os.path.join(tmp, "body%d" % i), "rb") as f:
                data = f.read()
            self.add_request(conn, method, url, hosthdr, info["response_code"], body, data,
                             expect)
        first = infos[0]
        expect_recv = sum(i["size_header"] + i["size_download"] for i in infos)
        if len(received) != expect_recv:
            self.fail("curl %s: trace has %d bytes received, curl counted %d"
                      % (conn["id"], len(received), expect_recv))
        self.finish_conn(conn, (first["local_ip"], first["local_port"]),
                         (first["remote_ip"], first["remote_port"]), sent, received, exchange)
        shutil.rmtree(tmp)

    # --- the mix ---------------------------------------------------------------------------
    def run_base(self, base):
        tok = content.URI_TOKEN
        self.python_conn(base, "keep-alive", [
            ("GET", "/index.html?step=1&tag=" + tok, None, 200),
            ("GET", "/token.html", None, 200),
            ("GET", "/no/such/page-1", None, 404),
            ("POST", "/upload?step=4", content.upload_body("keepalive"), 200),
            ("GET", "/index.html?step=5&q=a%20b&r=%C3%A9", None, 200),
            ("GET", "/missing.html?x=1", None, 404),
        ])
        self.python_conn(base, "download", [("GET", "/big.bin", None, 200)])

        barrier = threading.Barrier(PARALLEL)
        # Connection ids in plan order, whatever order the threads run in.
        conns = [self.new_conn(base, "python", "parallel-%d" % i) for i in range(PARALLEL)]

        def parallel(i):
            try:
                barrier.wait(timeout=TIMEOUT)
            except threading.BrokenBarrierError:
                pass
            second = (("/token.html?par=%d" % i, 200) if i % 4 == 0
                      else ("/no/par-%d" % i, 404))
            self.python_conn(base, "parallel-%d" % i, [
                ("GET", "/index.html?par=%d%s" % (i, "&tag=" + tok if i % 5 == 0 else ""),
                 None, 200),
                ("GET", second[0], None, second[1]),
            ], conns[i])

        threads = [threading.Thread(target=parallel, args=(i,)) for i in range(PARALLEL)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        self.curl_conn(base, "curl keep-alive", [
            ("GET", "/index.html?curl=1&tag=" + tok, None, 200),
            ("GET", "/no/curl", None, 404),
            ("POST", "/upload?curl=3", content.upload_body("curl"), 200),
            ("GET", "/token.html?curl=4", None, 200),
        ])

    def write(self):
        gt = {"version": 1,
              "rules": [{"sid": s, "where": w, "token": t, "msg": m}
                        for s, w, t, m in content.RULES],
              "connections": [c for c in self.connections if "client" in c],
              "requests": sorted(self.requests, key=request_order)}
        # Connections sorted by id number keep plan order; the ids never depend on timing
        # except among the parallel ones, whose labels say which is which.
        tmp = self.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(gt, f, indent=1)
        os.replace(tmp, self.out)


def request_order(req):
    return (int(req["conn"][1:]), req["index_in_conn"])


# "0000: 47 45 54 20 ... GET ..." — the offset grows past 4 digits for large transfers; the
# hex column is always 16 groups of 3 characters, padded with spaces on the last line.
HEXDUMP_LINE = re.compile(r"^[0-9a-f]{4,}: ((?:[0-9a-f]{2} |   ){16})")


def parse_curl_trace(path):
    """Bytes curl sent and received, from a --trace file (hex dumps of 'Send header', 'Send
    data', 'Recv header', 'Recv data'; the 'SSL data' records are TLS, not HTTP)."""
    sent, received = bytearray(), bytearray()
    rec = RecordingSocket(None)  # only for its exchange log
    target = None
    with open(path, "r", errors="replace") as f:
        for line in f:
            if line.startswith(("=>", "<=", "==")):
                kind = line[3:].split(",")[0].strip()
                target = {"=> Send header": sent, "=> Send data": sent,
                          "<= Recv header": received, "<= Recv data": received}.get(
                              line[:2] + " " + kind)
                continue
            m = HEXDUMP_LINE.match(line)
            if target is None or not m:
                continue
            data = bytes.fromhex(m.group(1).replace(" ", ""))
            target += data
            rec.note("c2s" if target is sent else "s2c", len(data))
    return bytes(sent), bytes(received), rec.exchange


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="ground truth JSON to write")
    ap.add_argument("--cafile", help="CA certificate for https:// base URLs")
    ap.add_argument("--host", help="Host header for every request")
    ap.add_argument("--host-no-port", action="store_true",
                    help="Host header without the port, as https:// on 443 sends it")
    ap.add_argument("--curl-local-port", type=int, default=0, metavar="PORT",
                    help="the curl connection's client port (two namespaces' runs can then "
                    "have the same 5-tuple)")
    ap.add_argument("base", nargs="+", help="base URL, e.g. https://[fd77::2]/")
    a = ap.parse_args()
    w = Workload(os.path.abspath(a.out), a.cafile, a.host, a.host_no_port,
                 a.curl_local_port)
    for base in a.base:
        w.run_base(base)
    w.write()
    n = len(w.requests)
    print("workload: %d requests on %d connections, ground truth in %s"
          % (n, len(w.connections), a.out), file=sys.stderr)
    if w.errors:
        print("workload: %d errors" % len(w.errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
