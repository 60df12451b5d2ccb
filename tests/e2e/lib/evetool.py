"""Suricata eve.json for the end-to-end tests: extract, check against the workload's ground
truth, compare two runs.

    evetool.py summary EVE
    evetool.py check EVE GT.json [--strict-stream]   # one http record per request, alerts
    evetool.py compare EVE_A EVE_B [--names A B]       # parity of http records and alerts

check: for each connection of the ground truth (matched by client and server address and
port), Suricata's http records in transaction order must be exactly its requests: method, URL
(path+query), status and response length (eve "length"), and hostname; no http record on any
other connection; each rule of the ground truth alerts exactly on the requests whose bytes hold
its token (one alert per transaction, matched by connection and tx_id); every TCP flow to a
server port of the ground truth was detected as http (port 443 included); no capture drops,
reassembly gaps, invalid checksums, midstream pick-ups or memcap drops in the final stats;
with --strict-stream, no stream or app-layer anomaly either.

compare: the runs' http records and alerts, reduced to what does not depend on the run
(ephemeral ports, times, flow ids), must be equal as multisets (set equality with counts).

Canary requests of the harness (URLs starting with /__e2e_) and the drain marker alert are
ignored everywhere. Exit status 1 with a readable list of differences on failure.
"""
import argparse
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from groundtruth import CANARY_PREFIX, GroundTruth, conn_key, fmt_key, norm_ip  # noqa: E402

DRAIN_MARKER_SID = 9000999  # see suricata.sh: a UDP frame injected after the traffic
MAX_LISTED = 25


class Eve:
    def __init__(self, path):
        self.path = path
        self.http, self.alerts, self.flows, self.anomalies, self.stats = [], [], [], [], None
        self.markers = []
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    e = json.loads(line)
                except ValueError as err:
                    raise SystemExit("%s:%d: not JSON (%s): %.200s" % (path, n, err, line))
                t = e.get("event_type")
                if t == "http":
                    if not e["http"].get("url", "").startswith(CANARY_PREFIX):
                        self.http.append(e)
                elif t == "alert":
                    if e["alert"]["signature_id"] == DRAIN_MARKER_SID:
                        self.markers.append(e)
                    elif not e.get("http", {}).get("url", "").startswith(CANARY_PREFIX):
                        self.alerts.append(e)
                elif t == "flow":
                    self.flows.append(e)
                elif t == "anomaly":
                    self.anomalies.append(e)
                elif t == "stats":
                    self.stats = e["stats"]

    @staticmethod
    def flow_key(e):
        """(client ip, client port, server ip, server port) of a record's flow."""
        f = e.get("flow")
        if f and "src_ip" in f:  # alerts carry the flow's own direction
            return conn_key(f["src_ip"], f["src_port"], f["dest_ip"], f["dest_port"])
        return conn_key(e["src_ip"], e["src_port"], e["dest_ip"], e["dest_port"])

    def stat(self, dotted, default=0):
        v = self.stats or {}
        for part in dotted.split("."):
            if not isinstance(v, dict) or part not in v:
                return default
            v = v[part]
        return v


def http_fields(e):
    h = e["http"]
    return {"method": h.get("http_method"), "url": h.get("url"), "status": h.get("status"),
            "length": h.get("length"), "hostname": h.get("hostname")}


def expected_fields(req):
    host = req["host"]
    if not host.startswith("[") and host.count(":") == 1:
        host = host.split(":")[0]  # Suricata logs the port separately (http_port)
    elif host.startswith("[") and "]:" in host:
        host = host[:host.index("]") + 1]
    return {"method": req["method"], "url": req["url"], "status": req["status"],
            "length": req["response_body_len"], "hostname": host}


def summary(eve):
    lines = ["%s: %d http records, %d alerts, %d flows, %d anomalies"
             % (eve.path, len(eve.http), len(eve.alerts), len(eve.flows), len(eve.anomalies))]
    by_sid = collections.Counter(a["alert"]["signature_id"] for a in eve.alerts)
    if by_sid:
        lines.append("  alerts by sid: " + ", ".join("%d x%d" % kv for kv in sorted(by_sid.items())))
    protos = collections.Counter((f.get("dest_port"), f.get("app_proto", "-"))
                                 for f in eve.flows if f.get("proto") == "TCP")
    if protos:
        lines.append("  tcp flows (port, app_proto): " + ", ".join(
            "%s/%s x%d" % (p, a, n) for (p, a), n in sorted(protos.items(), key=str)))
    an = collections.Counter("%s:%s" % (a["anomaly"].get("type"), a["anomaly"].get("event"))
                             for a in eve.anomalies)
    if an:
        lines.append("  anomalies: " + ", ".join("%s x%d" % kv for kv in sorted(an.items())))
    if eve.stats:
        lines.append("  stats: decoded %s, kernel packets %s drops %s, invalid tcp checksums %s, "
                     "reassembly gaps %s, midstream pickups %s"
                     % (eve.stat("decoder.pkts"), eve.stat("capture.kernel_packets"),
                        eve.stat("capture.kernel_drops"), eve.stat("tcp.invalid_checksum"),
                        eve.stat("tcp.reassembly_gap"), eve.stat("tcp.midstream_pickups")))
    return "\n".join(lines)


def check(eve, gt, strict_stream=False):
    errors = []
    # --- http records, per connection, in transaction order --------------------------------
    by_conn = collections.defaultdict(list)
    for e in eve.http:
        by_conn[Eve.flow_key(e)].append(e)
    for recs in by_conn.values():
        recs.sort(key=lambda e: e.get("tx_id", 0))
    checked = 0
    for conn in gt.connections:
        key = gt.key(conn)
        reqs = gt.requests_of[conn["id"]]
        recs = by_conn.pop(key, [])
        if not recs:
            errors.append("%s: no http record for its %d requests (first: %s %s)"
                          % (gt.describe(conn), len(reqs), reqs[0]["method"], reqs[0]["url"]))
            continue
        for i in range(max(len(reqs), len(recs))):
            if i >= len(recs):
                errors.append("%s request %s %s %s: no http record"
                              % (gt.describe(conn), reqs[i]["id"], reqs[i]["method"], reqs[i]["url"]))
                continue
            if i >= len(reqs):
                errors.append("%s: extra http record tx_id %s %s" % (
                    gt.describe(conn), recs[i].get("tx_id"), http_fields(recs[i])))
                continue
            want, got = expected_fields(reqs[i]), http_fields(recs[i])
            if recs[i].get("tx_id") != i:
                errors.append("%s request %s: http record has tx_id %s, expected %d"
                              % (gt.describe(conn), reqs[i]["id"], recs[i].get("tx_id"), i))
            for field in want:
                if want[field] != got[field]:
                    errors.append("%s request %s (%s %s): %s expected %r, got %r"
                                  % (gt.describe(conn), reqs[i]["id"], reqs[i]["method"],
                                     reqs[i]["url"], field, want[field], got[field]))
            checked += 1
    for key, recs in by_conn.items():
        errors.append("%d http records on %s, a connection the workload did not make: %s"
                      % (len(recs), fmt_key(key), [http_fields(r)["url"] for r in recs[:5]]))

    # --- alerts: (connection, tx_id, sid) multisets ---------------------------------------
    want_alerts = collections.Counter()
    where = {}
    for conn in gt.connections:
        for r in gt.requests_of[conn["id"]]:
            for sid in r["sids"]:
                k = (gt.key(conn), r["index_in_conn"], sid)
                want_alerts[k] += 1
                where[k] = "%s %s %s" % (r["id"], r["method"], r["url"])
    got_alerts = collections.Counter()
    for a in eve.alerts:
        k = (Eve.flow_key(a), a.get("tx_id"), a["alert"]["signature_id"])
        got_alerts[k] += 1
        where.setdefault(k, "tx_id %s %s" % (a.get("tx_id"), a.get("http", {}).get("url")))
    sids = sorted({s for _, _, s in want_alerts} | {s for _, _, s in got_alerts}
                  | {r["sid"] for r in gt.rules})
    msg = {r["sid"]: r["msg"] for r in gt.rules}
    for sid in sids:
        w = sum(n for (c, t, s), n in want_alerts.items() if s == sid)
        g = sum(n for (c, t, s), n in got_alerts.items() if s == sid)
        missing = [k for k in want_alerts if k[2] == sid and got_alerts[k] < want_alerts[k]]
        extra = [k for k in got_alerts if k[2] == sid and got_alerts[k] > want_alerts[k]]
        if missing or extra or w != g:
            errors.append("rule %d (%s): %d alerts expected, %d raised" % (sid, msg.get(sid, "?"), w, g))
            for k in missing[:MAX_LISTED]:
                errors.append("  missing on %s: %s" % (fmt_key(k[0]), where[k]))
            for k in extra[:MAX_LISTED]:
                errors.append("  unexpected (x%d) on %s: %s" % (got_alerts[k], fmt_key(k[0]), where[k]))

    # --- flows: every TCP connection to a server port was recognised --------------------
    server_ports = {c["server"][1] for c in gt.connections}
    for f in eve.flows:
        if f.get("proto") != "TCP" or f.get("dest_port") not in server_ports:
            continue
        if f.get("app_proto") != "http":
            errors.append("flow %s: app_proto %r, expected 'http'" % (
                fmt_key(Eve.flow_key(f)), f.get("app_proto")))

    # --- anomalies --------------------------------------------------------------------------
    if strict_stream:
        bad = collections.Counter("%s:%s" % (a["anomaly"].get("type"), a["anomaly"].get("event"))
                                  for a in eve.anomalies
                                  if a["anomaly"].get("type") in ("stream", "applayer"))
        for name, n in sorted(bad.items()):
            errors.append("anomaly %s x%d (a forged stream should have none)" % (name, n))

    # --- counters -------------------------------------------------------------------------
    if eve.stats is None:
        errors.append("no stats record in %s" % eve.path)
    else:
        for name in ("capture.kernel_drops", "tcp.invalid_checksum", "tcp.reassembly_gap",
                     "tcp.midstream_pickups", "tcp.segment_memcap_drop", "tcp.ssn_memcap_drop"):
            v = eve.stat(name)
            if v:
                errors.append("Suricata counter %s is %s, expected 0" % (name, v))
    return errors, checked


def projection(eve):
    """Run-independent views of the http records and alerts (no ports, times, flow ids)."""
    http = collections.Counter()
    for e in eve.http:
        h = e["http"]
        http[(norm_ip(e["src_ip"]), norm_ip(e["dest_ip"]), e["dest_port"], h.get("http_method"),
              h.get("hostname"), h.get("http_port"), h.get("url"), h.get("protocol"),
              h.get("status"), h.get("length"), h.get("http_user_agent"),
              h.get("http_content_type"))] += 1
    alerts = collections.Counter()
    for a in eve.alerts:
        k = Eve.flow_key(a)
        h = a.get("http", {})
        alerts[(a["alert"]["signature_id"], k[0], k[2], k[3], a.get("direction"),
                h.get("http_method"), h.get("url"))] += 1
    return http, alerts


HTTP_FIELDS = ("client", "server", "port", "method", "hostname", "http_port", "url", "protocol",
               "status", "length", "user_agent", "content_type")
ALERT_FIELDS = ("sid", "client", "server", "port", "direction", "method", "url")


def compare(a, b, names):
    errors = []
    (http_a, alerts_a), (http_b, alerts_b) = projection(a), projection(b)
    for what, fields, pa, pb in (("http records", HTTP_FIELDS, http_a, http_b),
                                 ("alerts", ALERT_FIELDS, alerts_a, alerts_b)):
        only_a, only_b = pa - pb, pb - pa
        if only_a or only_b:
            errors.append("%s differ: %d in %s, %d in %s; %d only in %s, %d only in %s"
                          % (what, sum(pa.values()), names[0], sum(pb.values()), names[1],
                             sum(only_a.values()), names[0], sum(only_b.values()), names[1]))
            for label, diff in ((names[0], only_a), (names[1], only_b)):
                for k, n in sorted(diff.items(), key=str)[:MAX_LISTED]:
                    errors.append("  only in %s (x%d): %s" % (
                        label, n, ", ".join("%s=%s" % fv for fv in zip(fields, k) if fv[1] is not None)))
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("summary")
    p.add_argument("eve")
    p = sub.add_parser("check")
    p.add_argument("eve")
    p.add_argument("gt")
    p.add_argument("--strict-stream", action="store_true",
                   help="fail on any stream or app-layer anomaly (for forged mirrors: no "
                        "loss, no reordering, so nothing to excuse them)")
    p = sub.add_parser("compare")
    p.add_argument("eve_a")
    p.add_argument("eve_b")
    p.add_argument("--names", nargs=2, default=["A", "B"])
    a = ap.parse_args()

    if a.cmd == "summary":
        print(summary(Eve(a.eve)))
        return 0
    if a.cmd == "check":
        eve, gt = Eve(a.eve), GroundTruth(a.gt)
        errors, checked = check(eve, gt, a.strict_stream)
        print(summary(eve), file=sys.stderr)
        for e in errors[:200]:
            print("eve check: " + e, file=sys.stderr)
        if errors:
            print("eve check: %d problems (%s vs %s)" % (len(errors), a.eve, a.gt), file=sys.stderr)
            return 1
        print("eve check: %d http records match the ground truth exactly; %d alerts as expected"
              % (checked, len(eve.alerts)), file=sys.stderr)
        return 0
    ea, eb = Eve(a.eve_a), Eve(a.eve_b)
    errors = compare(ea, eb, a.names)
    for e in errors:
        print("eve compare: " + e, file=sys.stderr)
    if errors:
        return 1
    print("eve compare: %s and %s have the same %d http records and %d alerts"
          % (a.names[0], a.names[1], len(ea.http), len(ea.alerts)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
