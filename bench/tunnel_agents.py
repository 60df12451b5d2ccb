#!/usr/bin/python3
"""bench/tunnel_agents.py: N mutually authenticated TLS connections to an sslcollector collector,
each a well-formed PCAP-over-IP stream (the pcap global header, then one small Ethernet frame),
held open (idle) until standard input closes or --hold seconds pass. Stands in for N agents in
bench/scale.sh: N real agents would each load the BPF capture (a 16 MiB ring buffer, the
uprobes on every libssl) and are too heavy for a 2-core machine.

    bench/tunnel_agents.py HOST PORT --ca CA --cert CRT --key KEY -n 100 [--hold 120]

Prints "HELD <n> <failed>" once every connection has finished its handshake and sent its
stream header and frame."""
import argparse
import asyncio
import os
import ssl
import struct
import sys
import time

# A TCP SYN 198.18.0.2:40000 -> 198.18.0.1:443 in an Ethernet frame (checksums left zero; the
# collector checks record framing, not the packet's contents).
FRAME = (bytes.fromhex("020000000001" "020000000002" "0800")
         + bytes.fromhex("45000028000040004006" "0000" "c6120002" "c6120001")
         + struct.pack("!HHIIBBHHH", 40000, 443, 1, 0, 0x50, 0x02, 65535, 0, 0))
GLOBAL_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def record(frame):
    t = time.time()
    return struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(frame), len(frame)) + frame


async def one(host, port, ctx, held, failed):
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx, server_hostname=host), 30)
        writer.write(GLOBAL_HEADER + record(FRAME))
        await writer.drain()
        held.append((reader, writer))
    except (OSError, asyncio.TimeoutError, ssl.SSLError) as e:
        failed.append(repr(e))


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--hold", type=float, default=120)
    a = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(a.ca)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    held, failed = [], []
    # a few at a time, as agents starting on many hosts would
    for i in range(0, a.n, 20):
        await asyncio.gather(*(one(a.host, a.port, ctx, held, failed)
                               for _ in range(min(20, a.n - i))))
    await asyncio.sleep(0.5)
    # a connection the collector dropped (refused, malformed) reads EOF
    alive = [(r, w) for r, w in held if not r.at_eof() and not w.is_closing()]
    print(f"HELD {len(alive)} {len(failed) + len(held) - len(alive)}", flush=True)
    if failed:
        print(f"tunnel_agents.py: {len(failed)} failed, first: {failed[0]}", file=sys.stderr)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.buffer.read), a.hold)
    except asyncio.TimeoutError:
        pass
    for _, w in held:
        w.transport.abort()
    sys.stdout.flush()
    os._exit(0)  # the thread blocked on stdin would keep asyncio.run() waiting


if __name__ == "__main__":
    asyncio.run(main())
