"""Python asyncio over TLS, a program under test of test_capture_membio.sh: asyncio's SSL
transport drives OpenSSL through memory BIOs (ssl.SSLObject + ssl.MemoryBIO) and moves the
ciphertext itself with send()/recv() on the non-blocking socket. Speaks the HTTP exchange of
membio_peers.py and checks every byte it reads.

  membio_asyncio.py server --cert PEM --key KEY ADDR PORT
      asyncio.start_server(..., ssl=ctx): answers each request on keep-alive connections until
      its client closes; on SIGTERM exits 0 when every request it read was right, 1 otherwise.
  membio_asyncio.py client --cafile CA [--exchanges N] [--size BYTES] HOST PORT
      asyncio.open_connection(..., ssl=ctx): N exchanges on one connection, then close;
      exit 0 when every answer was right.

Run with Debian's /usr/bin/python3.
"""
import argparse
import asyncio
import os
import signal
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from membio_peers import (check_request, host_header, parse_head, pattern,  # noqa: E402
                          request_bytes, response_bytes)


def log(msg):
    print("membio_asyncio: " + msg, file=sys.stderr, flush=True)


async def read_message(reader):
    """(start line, headers, body), or None when the peer closed between messages."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise EOFError("closed inside a message head: %r" % e.partial[:60]) from e
        return None
    start, headers = parse_head(head)
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return start, headers, body


class Server:
    def __init__(self):
        self.exchanges = 0
        self.connections = 0
        self.errors = 0

    async def handle(self, reader, writer):
        peer = writer.get_extra_info("peername")
        self.connections += 1
        n = 0
        try:
            while True:
                msg = await read_message(reader)
                if msg is None:
                    break
                i, size = check_request(*msg)
                writer.write(response_bytes(i, size))
                await writer.drain()
                n += 1
                self.exchanges += 1
        except (OSError, ssl.SSLError, EOFError, ValueError, asyncio.IncompleteReadError) as e:
            self.errors += 1
            log("connection from %s:%d: %r" % (peer[0], peer[1], e))
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass
        log("connection from %s:%d: %d exchanges, closed" % (peer[0], peer[1], n))


async def run_server(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    state = Server()
    server = await asyncio.start_server(state.handle, a.addr, a.port, ssl=ctx)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    log("listening on %s:%d (asyncio.start_server, ssl=ctx)" % (a.addr, a.port))
    async with server:
        await stop.wait()
    log("stopped: %d connections, %d exchanges, %d errors"
        % (state.connections, state.exchanges, state.errors))
    return 1 if state.errors else 0


async def run_client(a):
    ctx = ssl.create_default_context(cafile=a.cafile)
    reader, writer = await asyncio.open_connection(a.host, a.port, ssl=ctx,
                                                   server_hostname=a.host)
    local = writer.get_extra_info("sockname")
    hh = host_header(a.host, a.port)
    errors = 0
    for i in range(a.exchanges):
        writer.write(request_bytes(hh, i, a.size))
        await writer.drain()
        msg = await read_message(reader)
        if msg is None:
            log("exchange %d: the server closed instead of answering" % i)
            errors += 1
            break
        start, _, body = msg
        if not start.startswith("HTTP/1.1 200 ") or body != pattern("s2c-%d" % i, a.size):
            log("exchange %d: unexpected answer %r, %d body bytes" % (i, start, len(body)))
            errors += 1
    writer.close()
    try:
        await writer.wait_closed()
    except (OSError, ssl.SSLError):
        pass
    log("client %s:%d -> %s:%d: %d exchanges, %d errors"
        % (local[0], local[1], a.host, a.port, a.exchanges, errors))
    return 1 if errors else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("server")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p = sub.add_parser("client")
    p.add_argument("--cafile", required=True)
    p.add_argument("--exchanges", type=int, default=2)
    p.add_argument("--size", type=int, default=1 << 20)
    p.add_argument("host")
    p.add_argument("port", type=int)
    a = ap.parse_args()
    return asyncio.run(run_server(a) if a.cmd == "server" else run_client(a))


if __name__ == "__main__":
    sys.exit(main())
