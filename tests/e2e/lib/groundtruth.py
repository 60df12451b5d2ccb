"""The workload's ground truth (see workload.py): loading it, keys shared by the eve and pcap
checks, and a cross-check against nginx's access log (the server's view of the same bytes).

    /usr/bin/python3 groundtruth.py accesslog GT.json ACCESS.log
    /usr/bin/python3 groundtruth.py merge OUT.json GT.json...   # several workloads as one
"""
import ipaddress
import json
import os
import sys

# Requests the harness itself makes (readiness canaries); never part of a ground truth.
CANARY_PREFIX = "/__e2e_"


def norm_ip(ip):
    return ipaddress.ip_address(ip).compressed


def conn_key(client_ip, client_port, server_ip, server_port):
    """(client ip, client port, server ip, server port) with canonical address spelling."""
    return (norm_ip(client_ip), int(client_port), norm_ip(server_ip), int(server_port))


def fmt_key(key):
    def one(ip, port):
        return ("[%s]:%d" if ":" in ip else "%s:%d") % (ip, port)
    return "%s -> %s" % (one(key[0], key[1]), one(key[2], key[3]))


class GroundTruth:
    def __init__(self, path):
        self.path = path
        with open(path) as f:
            self.data = json.load(f)
        self.base = os.path.dirname(os.path.abspath(path))
        self.connections = self.data["connections"]
        self.requests = self.data["requests"]
        self.rules = self.data["rules"]
        # What the writer found wrong while making it (a peer that did not behave as
        # planned): a check against such a ground truth must fail, naming them.
        self.errors = self.data.get("errors", [])
        self.by_id = {c["id"]: c for c in self.connections}
        self.requests_of = {c["id"]: [] for c in self.connections}
        for r in self.requests:
            self.requests_of[r["conn"]].append(r)
        for lst in self.requests_of.values():
            lst.sort(key=lambda r: r["index_in_conn"])
        self.by_key = {}
        for c in self.connections:
            self.by_key[self.key(c)] = c

    @staticmethod
    def key(conn):
        return conn_key(conn["client"][0], conn["client"][1], conn["server"][0],
                        conn["server"][1])

    def describe(self, conn):
        return "%s (%s, %s, %s)" % (conn["id"], conn["label"], conn["tool"], fmt_key(self.key(conn)))

    def sent(self, conn):
        with open(os.path.join(self.base, conn["sent_file"]), "rb") as f:
            return f.read()

    def received(self, conn):
        with open(os.path.join(self.base, conn["received_file"]), "rb") as f:
            return f.read()


def check_accesslog(gt, log_path):
    """Every request of the ground truth is in nginx's access log with the same connection
    addresses, method, URI and status; per connection nginx's request_length adds up to what
    the client sent and bytes_sent to what it received (plus any 100 Continue)."""
    errors = []
    per_conn = {}
    with open(log_path) as f:
        for line in f:
            e = json.loads(line)
            if e["uri"].startswith(CANARY_PREFIX):
                continue
            k = conn_key(e["client"], e["client_port"], e["server"], e["server_port"])
            per_conn.setdefault(k, []).append(e)
    for conn in gt.connections:
        k = gt.key(conn)
        entries = per_conn.pop(k, [])
        reqs = gt.requests_of[conn["id"]]
        got = [(e["method"], e["uri"], int(e["status"])) for e in entries]
        want = [(r["method"], r["url"], r["status"]) for r in reqs]
        if got != want:
            errors.append("%s: nginx logged %s, the client made %s" % (gt.describe(conn), got, want))
            continue
        sent = sum(int(e["request_length"]) for e in entries)
        if sent != conn["sent_len"]:
            errors.append("%s: nginx counted %d request bytes, the client sent %d"
                          % (gt.describe(conn), sent, conn["sent_len"]))
        received = sum(int(e["bytes_sent"]) for e in entries)
        cont = gt.received(conn).count(b"HTTP/1.1 100 Continue\r\n\r\n") * 25
        if received + cont != conn["received_len"]:
            errors.append("%s: nginx sent %d (+%d of 100 Continue) bytes, the client received %d"
                          % (gt.describe(conn), received, cont, conn["received_len"]))
    for k, entries in per_conn.items():
        errors.append("nginx logged %d requests on %s, a connection the ground truth does not have"
                      % (len(entries), fmt_key(k)))
    return errors


def merge(out, paths):
    """One ground truth from several workloads (e.g. one per host): connection ids get the
    index of their file as a prefix, byte files are referred to by absolute path."""
    merged = {"connections": [], "requests": [], "rules": None}
    for i, path in enumerate(paths):
        gt = GroundTruth(path)
        if merged["rules"] is None:
            merged["rules"] = gt.rules
        elif gt.rules != merged["rules"]:
            raise SystemExit("groundtruth merge: %s has other rules than %s" % (path, paths[0]))
        extra = {k: v for k, v in gt.data.items() if k not in merged}
        merged.update(extra)
        for c in gt.connections:
            c = dict(c, id="%d:%s" % (i, c["id"]))
            for k in ("sent_file", "received_file"):
                c[k] = os.path.join(gt.base, c[k])
            merged["connections"].append(c)
        for r in gt.requests:
            merged["requests"].append(dict(r, conn="%d:%s" % (i, r["conn"])))
    with open(out, "w") as f:
        json.dump(merged, f, indent=1)


def main(argv):
    if len(argv) >= 4 and argv[1] == "merge":
        merge(argv[2], argv[3:])
        return 0
    if len(argv) == 4 and argv[1] == "accesslog":
        gt = GroundTruth(argv[2])
        errors = check_accesslog(gt, argv[3])
        for e in errors:
            print("accesslog: " + e, file=sys.stderr)
        if errors:
            return 1
        print("accesslog: %d requests on %d connections agree with nginx's log"
              % (len(gt.requests), len(gt.connections)), file=sys.stderr)
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
