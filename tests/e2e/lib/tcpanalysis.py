"""A second, independent reader of the mirror's pcaps: tshark's TCP sequence analysis (issue 19:
"every e2e pcap passes tshark's TCP analysis with no 'ACKed unseen segment', 'previous segment
not captured', 'out-of-order' or 'window full' except where the agent reported a gap").

    tcpanalysis.py check PCAP... [--allow-gaps-on SPEC]... [--require-gaps]

Several files are read as one capture, in the order given (mergecap -a: a rotated set, oldest
first), by one tshark run printing a few fields per frame (-T fields). Frame numbers are those
of that capture; with several files each is also named FILE#N.

check fails (exit 1), naming frame, stream (addresses:ports), relative seq/ack and flag, when
a frame carries one of the FORBIDDEN flags:
  tcp.analysis.lost_segment      "previous segment not captured": a segment starts past the
                                 end of what its direction sent so far
  tcp.analysis.ack_lost_segment  "ACKed unseen segment": an ACK past tshark's "max seq to be
                                 acked", the end of the data contiguous from the stream's start
  tcp.analysis.out_of_order      a segment below its direction's end, soon after it, and not a
                                 retransmission
  tcp.analysis.window_full       a segment that ends exactly at the receiver's window edge
unless --allow-gaps-on covers it. lost_segment and ack_lost_segment are what a reported gap
looks like (forge skips the hole's sequence space and the receiver acknowledges past it);
out_of_order and window_full are never allowed. The other analysis flags (retransmission,
fast/spurious retransmission, duplicate ACK, zero window and its probes, keep-alive, window
update, reused ports) are counted and listed, never errors. A capture without TCP fails.

SPEC (repeatable), where gaps were reported:
  dump:DIR        the agent's --dump-dir (conn-*.json: local, remote, gaps_send/gaps_recv as
                  [stream offset, length]); a hole is a run of adjacent gaps. On those
                  connections lost_segment is allowed only on the segment that starts exactly
                  where a hole ends, and ack_lost_segment only on an ACK that covers a hole
                  (acks past its start) and acknowledges nothing its peer neither sent before
                  nor reported lost. tshark's "max seq to be acked" never passes a hole (no
                  segment starts at its first byte), so any later ACK may be flagged; tshark
                  suppresses most repeats with a duplicate-ACK heuristic. Offsets are tshark's
                  relative numbers - 1 (the SYN's byte).
  conn:A:P,B:P    one connection (either order; IPv6 as [addr]:port): both flags anywhere on it
  not-in:GT.json  every connection the ground truth does not list (e.g. downloads made while
                  a collector was down, counted only as dropped frames): anywhere
--require-gaps: fail unless some allowed gap was flagged (the test exercises the allowance),
and, with dump:, unless every hole of the capture's connections that has a later segment was
flagged lost_segment at its end (tshark and the agent agree on every hole).

tshark's settings are explicit (-o ...; an empty configuration directory, so no personal
preference applies): sequence analysis on, relative sequence numbers, no reassembly,
checksums not checked (pcaptool.py does that), fast retransmission before out-of-order, and no
guessed window scale when a connection's SYN is not in the capture (no window_full there).
Only frame/eth/vlan/ip/ipv6/tcp are dissected.
"""
import argparse
import bisect
import collections
import glob
import ipaddress
import json
import os
import struct
import subprocess
import sys
import tempfile

FORBIDDEN = ("lost_segment", "ack_lost_segment", "out_of_order", "window_full")
REPORTED = ("retransmission", "fast_retransmission", "spurious_retransmission",
            "duplicate_ack", "zero_window", "zero_window_probe", "zero_window_probe_ack",
            "keep_alive", "keep_alive_ack", "window_update", "reused_ports")
FLAGS = FORBIDDEN + REPORTED
BASE_FIELDS = ("frame.number", "tcp.stream", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
               "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.seq", "tcp.ack", "tcp.len")
PREFS = (
    "tcp.analyze_sequence_numbers:TRUE",
    "tcp.relative_sequence_numbers:TRUE",
    "tcp.desegment_tcp_streams:FALSE",
    "tcp.reassemble_out_of_order:FALSE",
    "tcp.check_checksum:FALSE",
    "tcp.fastrt_supersedes_ooo:TRUE",
    "tcp.default_window_scaling:Not known",
    "tcp.read_seq_as_syn_cookie:FALSE",
)
PROTOCOLS = "frame,eth,ethertype,vlan,ip,ipv6,tcp"
MAX_LISTED = 40
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


def norm_ep(ip, port):
    return ipaddress.ip_address(ip).compressed, int(port)


def endpoint(text):
    """'10.0.0.1:443' or '[fd00::1]:443' -> (canonical ip, port)"""
    if text.startswith("["):
        ip, port = text[1:].split("]:")
    else:
        ip, port = text.rsplit(":", 1)
    return norm_ep(ip, port)


def fmt_ep(ep):
    return ("[%s]:%d" if ":" in ep[0] else "%s:%d") % ep


def pair(a, b):
    return (a, b) if a <= b else (b, a)


# --- where gaps were reported ------------------------------------------------------------------
class Allowances:
    def __init__(self):
        self.anywhere = {}  # unordered endpoint pair -> the spec that allows it
        self.not_in = []  # (GT path, unordered pairs it lists)
        self.holes = {}  # (src, dst) -> sorted [(start, end)] of src's stream, adjacent gaps merged
        self.gap_ends = {}  # (src, dst) -> {end of each reported gap}, merged or not

    def add(self, spec):
        kind, _, arg = spec.partition(":")
        if kind == "dump":
            if not os.path.isdir(arg):
                raise ValueError("--allow-gaps-on %s: no directory %s" % (spec, arg))
            gaps = collections.defaultdict(list)
            for path in glob.glob(os.path.join(arg, "conn-*.json")):
                with open(path) as f:
                    m = json.load(f)
                local, remote = endpoint(m["local"]), endpoint(m["remote"])
                gaps[(local, remote)] += m["gaps_send"]
                gaps[(remote, local)] += m["gaps_recv"]
            for d, lst in gaps.items():
                self.gap_ends.setdefault(d, set()).update(int(at) + int(n) for at, n in lst)
                holes = self.holes.setdefault(d, [])
                for at, n in sorted((int(at), int(n)) for at, n in lst if int(n)):
                    if holes and at <= holes[-1][1]:
                        holes[-1] = (holes[-1][0], max(holes[-1][1], at + n))
                    else:
                        holes.append((at, at + n))
        elif kind == "conn":
            try:
                a, b = arg.split(",")
                self.anywhere[pair(endpoint(a), endpoint(b))] = spec
            except ValueError:
                raise ValueError("--allow-gaps-on %s: expected conn:ADDR:PORT,ADDR:PORT "
                                 "(IPv6 as [ADDR]:PORT)" % spec) from None
        elif kind == "not-in":
            with open(arg) as f:
                gt = json.load(f)
            self.not_in.append((arg, {pair(norm_ep(*c["client"]), norm_ep(*c["server"]))
                                      for c in gt["connections"]}))
        else:
            raise ValueError("--allow-gaps-on %s: expected dump:DIR, conn:A:P,B:P or "
                             "not-in:GT.json" % spec)

    def has_holes(self, key):
        return any(self.holes.get(d) for d in (key, key[::-1]))

    def why(self, fr, flag, sent_end):
        """The reason lost_segment / ack_lost_segment on frame fr is allowed, else None.
        sent_end: (src, dst) -> end offset of what src has sent so far."""
        key = pair(fr.src, fr.dst)
        if key in self.anywhere:
            return self.anywhere[key]
        for path, keys in self.not_in:
            if key not in keys:
                return "not in " + os.path.basename(path)
        if flag == "lost_segment":
            for start, end in self.holes.get((fr.src, fr.dst), ()):
                if fr.seq - 1 == end:
                    return "at the end of the reported gap [%d, %d)" % (start, end)
                # a pure ACK between two adjacent gap events: its sequence number is where
                # the first one ends (no data segment can start inside a hole)
                if (not fr.len and start < fr.seq - 1 < end and
                        fr.seq - 1 in self.gap_ends.get((fr.src, fr.dst), ())):
                    return "a pure ACK between adjacent reported gaps in [%d, %d)" % (start, end)
            return None
        holes = self.holes.get((fr.dst, fr.src), [])
        off = fr.ack - 1
        i = bisect.bisect_left(holes, (off, off)) - 1  # the last hole starting before off
        if i < 0:
            return None
        reach = sent_end.get((fr.dst, fr.src), 0)  # what the peer sent, then its holes
        for start, end in holes:
            if start <= reach:
                reach = max(reach, end)
        if off > reach:
            return None
        return "covers the reported gap [%d, %d)" % holes[i]


# --- tshark ------------------------------------------------------------------------------------
class Frame:
    __slots__ = ("number", "stream", "src", "dst", "tcp_flags", "seq", "ack", "len", "flags")


def count_records(path):
    """Records in a pcap or pcapng file (to name a frame of a set by its file)."""
    with open(path, "rb") as f:
        data = f.read()
    n, magic = 0, data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end, off = "<" if magic[0] in (0xD4, 0x4D) else ">", 24
        while off + 16 <= len(data):
            off += 16 + struct.unpack_from(end + "I", data, off + 8)[0]
            n += 1
        return n
    off, end = 0, "<"
    while off + 12 <= len(data):
        btype = struct.unpack_from(end + "I", data, off)[0]
        if btype == 0x0A0D0D0A:  # section header: its byte-order magic gives the endianness
            end = "<" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        blen = struct.unpack_from(end + "I", data, off + 4)[0]
        n += btype in (2, 3, 6)  # (obsolete) packet, simple packet, enhanced packet block
        if blen < 12:
            break
        off += blen
    return n


def run_tshark(paths):
    """tshark's fields for every frame of paths read as one capture: (stdout, errors)."""
    args = ["tshark", "-n", "-r", "-" if len(paths) > 1 else paths[0], "-T", "fields",
            "-E", "separator=\t", "-E", "occurrence=f", "-E", "header=n",
            "--disable-protocol", "ALL", "--enable-protocol", PROTOCOLS]
    for p in PREFS:
        args += ["-o", p]
    for f in BASE_FIELDS + tuple("tcp.analysis." + f for f in FLAGS):
        args += ["-e", f]
    errors = []
    with tempfile.TemporaryDirectory(prefix="tcpanalysis-") as conf:
        env = dict(os.environ, WIRESHARK_CONFIG_DIR=conf)
        try:
            merge = None
            if len(paths) > 1:
                merge = subprocess.Popen(["mergecap", "-a", "-w", "-"] + list(paths), env=env,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            ts = subprocess.run(args, stdin=merge.stdout if merge else None, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except FileNotFoundError as e:
            return "", ["%s not found (install tshark: scripts/install-deps.sh test)" % e.filename]
        if merge:
            merge.stdout.close()
            merr = merge.stderr.read().decode(errors="replace").strip()
            if merge.wait() != 0:
                errors.append("mergecap -a failed (status %d): %s" % (merge.returncode, merr))
    err = "\n".join(l for l in ts.stderr.splitlines() if "could be dangerous" not in l).strip()
    if ts.returncode != 0:
        errors.append("tshark failed (status %d): %s" % (ts.returncode, err))
    elif err:
        print("tcp analysis: tshark said: %s" % err, file=sys.stderr)
    return ts.stdout, errors


def parse(out):
    frames, n_frames, nb = [], 0, len(BASE_FIELDS)
    for line in out.splitlines():
        n_frames += 1
        v = line.split("\t")
        if len(v) < nb or not v[1]:
            continue  # not TCP (drain markers, ARP, ...)
        fr = Frame()
        fr.number, fr.stream = int(v[0]), int(v[1])
        src, dst = (v[2], v[3]) if v[2] else (v[4], v[5])
        fr.src, fr.dst = norm_ep(src, v[6]), norm_ep(dst, v[7])
        fr.tcp_flags = int(v[8], 16)
        fr.seq, fr.ack, fr.len = int(v[9] or 0), int(v[10] or 0), int(v[11] or 0)
        fr.flags = [f for f, x in zip(FLAGS, v[nb:]) if x]
        frames.append(fr)
    return frames, n_frames


def flag_names(bits):
    return ",".join(n for b, n in ((SYN, "SYN"), (ACK, "ACK"), (0x08, "PSH"), (FIN, "FIN"),
                                   (RST, "RST")) if bits & b) or "none"


# --- check -------------------------------------------------------------------------------------
class Check:
    def __init__(self, paths, allow):
        self.paths, self.allow = paths, allow
        self.starts = []  # (first frame number, path) of each file of a set
        if len(paths) > 1:
            first = 1
            for p in paths:
                self.starts.append((first, p))
                first += count_records(p)
        self.streams = {}  # stream index -> (client, server) as far as known
        self.counts, self.allowed = collections.Counter(), collections.Counter()
        self.by_stream = collections.defaultdict(collections.Counter)
        self.problems, self.reported = [], collections.defaultdict(list)
        self.lost_at = set()  # (src, dst, offset) of the allowed lost_segment flags
        self.sent_end = {}  # (src, dst) -> end offset of what src sent so far

    def where(self, number):
        if not self.starts:
            return "frame %d" % number
        first, path = [s for s in self.starts if s[0] <= number][-1]
        return "frame %d (%s#%d)" % (number, os.path.basename(path), number - first + 1)

    def frame(self, fr):
        if fr.stream not in self.streams or (fr.tcp_flags & (SYN | ACK)) == SYN:
            self.streams[fr.stream] = (fr.src, fr.dst)
        for flag in fr.flags:
            self.counts[flag] += 1
            self.by_stream[fr.stream][flag] += 1
            line = "%s: %s -> %s (stream %d) seq %d ack %d len %d [%s]: %s" % (
                self.where(fr.number), fmt_ep(fr.src), fmt_ep(fr.dst), fr.stream, fr.seq,
                fr.ack, fr.len, flag_names(fr.tcp_flags), flag)
            if flag not in FORBIDDEN:
                self.reported[flag].append(line)
                continue
            why = None
            if flag in ("lost_segment", "ack_lost_segment"):
                why = self.allow.why(fr, flag, self.sent_end)
            if why:
                self.allowed[flag] += 1
                if flag == "lost_segment":
                    self.lost_at.add((fr.src, fr.dst, fr.seq - 1))
                continue
            if flag in ("lost_segment", "ack_lost_segment"):
                line += (" (not at a gap the agent reported)"
                         if self.allow.has_holes(pair(fr.src, fr.dst)) else
                         " (no gap reported on this connection)")
            self.problems.append((fr.stream, line))
        if fr.len or fr.tcp_flags & (SYN | FIN):
            d = (fr.src, fr.dst)
            end = fr.seq - 1 + fr.len + (1 if fr.tcp_flags & FIN else 0) + (1 if fr.tcp_flags & SYN else 0)
            self.sent_end[d] = max(self.sent_end.get(d, 0), end)

    def unflagged_holes(self):
        """Holes of this capture's connections with a later segment but no lost_segment."""
        out, total = [], 0
        for (src, dst), holes in self.allow.holes.items():
            for start, end in holes:
                if self.sent_end.get((src, dst), -1) <= end:
                    continue  # nothing after it (or not in this capture)
                total += 1
                if (src, dst, end) not in self.lost_at:
                    out.append("%s -> %s: [%d, %d)" % (fmt_ep(src), fmt_ep(dst), start, end))
        return out, total


def cmd_check(a):
    allow = Allowances()
    try:
        for spec in a.allow_gaps_on:
            allow.add(spec)
    except (OSError, ValueError, KeyError) as e:
        print("tcp analysis: %s" % e, file=sys.stderr)
        return 2
    missing = [p for p in a.pcap if not os.path.isfile(p)]
    if missing:
        print("tcp analysis: no file %s" % ", ".join(missing), file=sys.stderr)
        return 1
    out, errors = run_tshark(a.pcap)
    for e in errors:
        print("tcp analysis: " + e, file=sys.stderr)
    if errors:
        return 1
    frames, n_frames = parse(out)
    c = Check(a.pcap, allow)
    for fr in frames:
        c.frame(fr)

    name = a.pcap[0] if len(a.pcap) == 1 else "%s ... %s (%d files)" % (
        a.pcap[0], os.path.basename(a.pcap[-1]), len(a.pcap))
    summary = ", ".join("%s %d%s" % (f, c.counts[f], " (%d at reported gaps)" % c.allowed[f]
                                     if c.allowed[f] else "")
                        for f in FLAGS if c.counts[f]) or "none"
    print("tcp analysis %s: %d frames, %d TCP in %d streams; tshark flags: %s"
          % (name, n_frames, len(frames), len(c.streams), summary), file=sys.stderr)
    for flag in REPORTED:
        lines = c.reported.get(flag, [])
        for line in lines[:5]:
            print("tcp analysis: reported, not an error: " + line, file=sys.stderr)
        if len(lines) > 5:
            print("tcp analysis: reported, not an error: ... %d more %s" % (len(lines) - 5, flag),
                  file=sys.stderr)
    fail = False
    if c.problems:
        fail = True
        for _, p in c.problems[:MAX_LISTED]:
            print("tcp analysis: FORBIDDEN " + p, file=sys.stderr)
        if len(c.problems) > MAX_LISTED:
            print("tcp analysis: ... %d more" % (len(c.problems) - MAX_LISTED), file=sys.stderr)
        bad = sorted({s for s, _ in c.problems})
        for s in bad[:MAX_LISTED]:
            cl, sv = c.streams[s]
            print("tcp analysis: stream %d %s -> %s: %s" % (s, fmt_ep(cl), fmt_ep(sv), ", ".join(
                "%s %d" % kv for kv in sorted(c.by_stream[s].items()))), file=sys.stderr)
        print("tcp analysis: %d forbidden flags on %d streams of %s"
              % (len(c.problems), len(bad), name), file=sys.stderr)
    if not frames:
        fail = True
        print("tcp analysis: no TCP segment in %s" % name, file=sys.stderr)
    if allow.holes:
        unflagged, total = c.unflagged_holes()
        print("tcp analysis: %d reported holes (runs of adjacent gaps) with a later segment in "
              "this capture, %d flagged lost_segment at their end"
              % (total, total - len(unflagged)), file=sys.stderr)
        if a.require_gaps and unflagged:
            fail = True
            for h in unflagged[:MAX_LISTED]:
                print("tcp analysis: a reported gap tshark did not see: " + h, file=sys.stderr)
    if a.require_gaps and not sum(c.allowed.values()):
        fail = True
        print("tcp analysis: --require-gaps: no gap was flagged: the test did not exercise the "
              "allowance", file=sys.stderr)
    if fail:
        return 1
    n_allowed = sum(c.allowed.values())
    print("tcp analysis: no forbidden flag%s" % (
        " but the %d at reported gaps" % n_allowed if n_allowed else ""), file=sys.stderr)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check", help="tshark's TCP analysis of PCAP... read as one capture")
    p.add_argument("pcap", nargs="+")
    p.add_argument("--allow-gaps-on", action="append", default=[], metavar="SPEC",
                   help="dump:DIR | conn:A:P,B:P | not-in:GT.json (repeatable)")
    p.add_argument("--require-gaps", action="store_true",
                   help="fail unless allowed gaps were flagged (and, with dump:, every hole)")
    return cmd_check(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
