#!/usr/bin/python3
"""bench/idle_conns.py: opens N keep-alive TLS connections to an HTTPS server, sends one GET on
each and reads its response, then holds them all open (idle) until its standard input closes or
--hold seconds pass. Used by bench/scale.sh (benchmark 3).

    bench/idle_conns.py HOST PORT PATH -n 10000 [--parallel 200] [--hold 120]

Prints "HELD <n> <failed>" on stdout once every connection is open and answered. The caller
raises the open-file limit (ulimit -n) above N."""
import argparse
import asyncio
import os
import ssl
import sys


async def one(host, port, path, ctx, sem, held, failed):
    async with sem:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=ctx, server_hostname=None), 30)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await asyncio.wait_for(reader.readexactly(length), 30)
            held.append(writer)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ssl.SSLError) as e:
            failed.append(repr(e))


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("path")
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("--parallel", type=int, default=200, help="handshakes in flight")
    ap.add_argument("--hold", type=float, default=120)
    a = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    sem = asyncio.Semaphore(a.parallel)
    held, failed = [], []
    await asyncio.gather(*(one(a.host, a.port, a.path, ctx, sem, held, failed)
                           for _ in range(a.n)))
    print(f"HELD {len(held)} {len(failed)}", flush=True)
    if failed:
        print(f"idle_conns.py: {len(failed)} failed, first: {failed[0]}", file=sys.stderr)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.buffer.read)
    try:
        await asyncio.wait_for(stdin_closed, a.hold)
    except asyncio.TimeoutError:
        pass
    for w in held:
        w.transport.abort()
    sys.stdout.flush()
    os._exit(0)  # the thread blocked on stdin would keep asyncio.run() waiting


if __name__ == "__main__":
    asyncio.run(main())
