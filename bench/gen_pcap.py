#!/usr/bin/python3
"""Writes the benchmark's pcap: what forge emits for bulk TLS plaintext at MTU 1500, one TCP
connection per 1000 writes; each 16 KiB write becomes 11 full segments (1514-byte frames), a
short last segment with PSH, and the peer's pure ACK.

usage: gen_pcap.py OUT.pcap WRITES
"""
import struct
import sys


def ip_tcp(src, dst, sport, dport, seq, ack, flags, payload):
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, src, dst)
    return ip + tcp + payload


def main():
    out, writes = sys.argv[1], int(sys.argv[2])
    mac_c, mac_s = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
    c_ip, s_ip = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    payload = bytes(range(256)) * 6
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        seq = ack = 1
        for w in range(writes):
            port = 40000 + w // 1000
            frames = []
            left = 16384
            while left:
                n = min(1460, left)
                left -= n
                flags = 0x18 if not left else 0x10
                frames.append(mac_s + mac_c + b"\x08\x00" +
                              ip_tcp(c_ip, s_ip, port, 443, seq, ack, flags, payload[:n]))
                seq = (seq + n) & 0xFFFFFFFF
            ack_frame = mac_c + mac_s + b"\x08\x00" + ip_tcp(s_ip, c_ip, 443, port, ack, seq,
                                                              0x10, b"")
            frames.append(ack_frame + b"\x00" * (60 - len(ack_frame)))
            for fr in frames:
                f.write(struct.pack("<IIII", 1700000000 + w // 10000, w % 10000 * 100,
                                    len(fr), len(fr)) + fr)


if __name__ == "__main__":
    main()
