"""Checks what sslcollector captured (--dump-dir, --print) against a ground truth.

  dumptool.py check DUMP_DIR GT.json [--side server|client] [--allow-gaps] [--require-gaps]
                    [--exact-gaps] [--reset] [--netns INODE]
      Every connection of GT.json is in DUMP_DIR once, seen from the mirrored side, with the
      right local/remote address and port and role, and its two streams are the bytes the
      client sent and received: exactly (no gaps allowed), or, with --allow-gaps, captured
      bytes + gap bytes == the bytes sent, each captured piece equal to the truth at its
      offset. --require-gaps: fail unless some bytes were lost (the test must exercise loss).
      --exact-gaps: the gaps of each direction are exactly the connection's "gaps_c2s" /
      "gaps_s2c" of the ground truth ([[stream offset, length], ...]; none when absent).
      --reset: every connection must end as a reset. The ground truth's "absent" connections
      ([{"client": [ip, port], "server": [ip, port]}, ...]) must not be in DUMP_DIR at all.
      --netns INODE: only the connections of that network namespace (the agent mirrors
      several; their addresses may be the same).
  dumptool.py bigcall PRINT_LOG SIZE
      --print lines show one call of SIZE bytes delivered completely, in chunks covering every
      byte exactly once.

Run with Debian's /usr/bin/python3.
"""
import argparse
import glob
import json
import os
import re
import sys

from groundtruth import GroundTruth, norm_ip


def parse_endpoint(text):
    """ "10.0.0.1:443" or "[fd00::1]:443" -> (canonical ip, port)"""
    if text.startswith("["):
        ip, port = text[1:].split("]:")
    else:
        ip, port = text.rsplit(":", 1)
    return norm_ip(ip), int(port)


def load_dump(dump_dir, netns=None):
    conns = {}
    for meta_path in glob.glob(os.path.join(dump_dir, "conn-*.json")):
        with open(meta_path) as f:
            meta = json.load(f)
        if netns is not None and meta.get("netns") != netns:
            continue
        base = meta_path[: -len(".json")]
        meta["_base"] = base
        key = (parse_endpoint(meta["local"]), parse_endpoint(meta["remote"]))
        conns.setdefault(key, []).append(meta)
    return conns


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def compare_stream(what, truth, captured, gaps, allow_gaps):
    """captured: the bytes delivered; gaps: [[stream offset, length], ...]"""
    errors = []
    gap_total = sum(g[1] for g in gaps)
    if gaps and not allow_gaps:
        return ["%s: %d bytes lost in %d gaps (none allowed)" % (what, gap_total, len(gaps))], 0
    if len(captured) + gap_total != len(truth):
        return ["%s: captured %d + gaps %d = %d bytes, the peer transferred %d"
                % (what, len(captured), gap_total, len(captured) + gap_total, len(truth))], gap_total
    pos = cpos = 0
    for at, length in sorted(gaps) + [[len(truth), 0]]:
        if at < pos:
            return ["%s: gaps overlap at offset %d" % (what, at)], gap_total
        piece = at - pos
        if captured[cpos:cpos + piece] != truth[pos:at]:
            bad = next(i for i in range(piece) if captured[cpos + i] != truth[pos + i])
            return ["%s: byte %d differs (captured %r, sent %r)"
                    % (what, pos + bad, captured[cpos + bad:cpos + bad + 16],
                       truth[pos + bad:pos + bad + 16])], gap_total
        pos = at + length
        cpos += piece
    return errors, gap_total


def cmd_check(a):
    gt = GroundTruth(a.gt)
    dump = load_dump(a.dump_dir, a.netns)
    errors = ["%s: its writer reported: %s" % (a.gt, e) for e in gt.errors]
    lost = 0
    for conn in gt.connections:
        client = (norm_ip(conn["client"][0]), int(conn["client"][1]))
        server = (norm_ip(conn["server"][0]), int(conn["server"][1]))
        key = (server, client) if a.side == "server" else (client, server)
        metas = dump.get(key, [])
        if len(metas) != 1:
            errors.append("%s: %d captured connections with these addresses, expected 1"
                          % (gt.describe(conn), len(metas)))
            continue
        m = metas[0]
        want_role = "server" if a.side == "server" else "client"
        if m["role"] != want_role:
            errors.append("%s: role %s, expected %s" % (gt.describe(conn), m["role"], want_role))
        # server side: what it received is what the client sent
        c2s_dir, s2c_dir = ("recv", "send") if a.side == "server" else ("send", "recv")
        for direction, truth, way in ((c2s_dir, gt.sent(conn), "c2s"),
                                      (s2c_dir, gt.received(conn), "s2c")):
            if a.exact_gaps:
                want = [list(g) for g in conn.get("gaps_" + way, [])]
                if m["gaps_" + direction] != want:
                    errors.append("%s %s: gaps %s, expected %s" % (
                        gt.describe(conn), direction, m["gaps_" + direction], want))
            errs, gap = compare_stream("%s %s" % (gt.describe(conn), direction), truth,
                                       read(m["_base"] + "." + direction),
                                       m["gaps_" + direction], a.allow_gaps or a.exact_gaps)
            if m["gap_" + direction] != sum(g[1] for g in m["gaps_" + direction]):
                errs.append("%s %s: gap total %d but the listed gaps add up to %d (list cut?)"
                            % (gt.describe(conn), direction, m["gap_" + direction],
                               sum(g[1] for g in m["gaps_" + direction])))
            errors += errs
            lost += gap
        if not m["closed"]:
            errors.append("%s: the capture never saw the connection end" % gt.describe(conn))
        elif a.reset and not m["reset"]:
            errors.append("%s: the capture ended the connection without a reset"
                          % gt.describe(conn))
    for absent in gt.data.get("absent", []):
        client = (norm_ip(absent["client"][0]), int(absent["client"][1]))
        server = (norm_ip(absent["server"][0]), int(absent["server"][1]))
        key = (server, client) if a.side == "server" else (client, server)
        for m in dump.get(key, []):
            errors.append("%s -> %s: captured (%d/%d bytes, gaps %d/%d), expected nothing"
                          % (absent["client"], absent["server"], m["bytes_recv"],
                             m["bytes_send"], m["gap_recv"], m["gap_send"]))
    if a.require_gaps and lost == 0 and not errors:
        errors.append("no byte was lost: the test did not exercise gap accounting")
    for e in errors:
        print("dumptool: " + e, file=sys.stderr)
    if errors:
        return 1
    print("dumptool: %d connections captured exactly%s" % (
        len(gt.connections), (", %d bytes reported as gaps, every one accounted for" % lost)
        if lost else ""), file=sys.stderr)
    return 0


CHUNK_RE = re.compile(r" (send|recv) (\d+) bytes \(bytes (\d+)-(\d+) of a (\d+)-byte call\)")


def cmd_bigcall(a):
    chunks = {}
    with open(a.print_log, errors="replace") as f:
        for line in f:
            m = CHUNK_RE.search(line)
            if not m or int(m.group(5)) != a.size:
                continue
            conn = line.split(" conn ")[1].split()[0]
            chunks.setdefault((conn, m.group(1)), []).append(
                (int(m.group(3)), int(m.group(4)), int(m.group(2))))
    if not chunks:
        print("dumptool: no call of %d bytes in %s" % (a.size, a.print_log), file=sys.stderr)
        return 1
    for (conn, direction), pieces in chunks.items():
        pos = 0
        for first, last, n in sorted(pieces):
            if first != pos or last - first + 1 != n:
                print("dumptool: conn %s %s: chunk %d-%d does not follow byte %d"
                      % (conn, direction, first, last, pos), file=sys.stderr)
                return 1
            pos = last + 1
        if pos != a.size:
            print("dumptool: conn %s %s: chunks end at byte %d of %d" % (conn, direction, pos, a.size),
                  file=sys.stderr)
            return 1
        print("dumptool: conn %s: one %d-byte %s call delivered whole in %d chunks"
              % (conn, a.size, direction, len(pieces)), file=sys.stderr)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("dump_dir")
    c.add_argument("gt")
    c.add_argument("--side", choices=("server", "client"), default="server")
    c.add_argument("--allow-gaps", action="store_true")
    c.add_argument("--require-gaps", action="store_true")
    c.add_argument("--exact-gaps", action="store_true")
    c.add_argument("--reset", action="store_true")
    c.add_argument("--netns", type=int, metavar="INODE")
    b = sub.add_parser("bigcall")
    b.add_argument("print_log")
    b.add_argument("size", type=int)
    a = ap.parse_args()
    return cmd_check(a) if a.cmd == "check" else cmd_bigcall(a)


if __name__ == "__main__":
    sys.exit(main())
