"""A TLS-terminating relay for controls: clients speak TLS (ALPN h2 or http/1.1) to it, and it
passes their plaintext on, byte for byte, over plain TCP to an upstream (nginx h2c). The wire
between the relay and the upstream then carries what the client said in the clear, for tc to
copy to the IDS (test_mirror_http2.sh: curl --parallel, which fails with
--http2-prior-knowledge against nginx 1.22's h2c).

    tlsrelay.py LISTEN_HOST LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT CERT KEY

Prints "relay listening" once it accepts connections. Run with Debian's /usr/bin/python3.
"""
import asyncio
import socket
import ssl
import sys


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    finally:
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            writer.close()


async def main():
    host, port, up_host, up_port, cert, key = sys.argv[1:7]

    async def handle(creader, cwriter):
        ureader, uwriter = await asyncio.open_connection(up_host, int(up_port))
        uwriter.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(pipe(creader, uwriter), pipe(ureader, cwriter),
                             return_exceptions=True)
        uwriter.close()
        cwriter.close()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    server = await asyncio.start_server(handle, host, int(port), ssl=ctx)
    print("relay listening", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    asyncio.run(main())
