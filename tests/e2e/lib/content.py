"""What the end-to-end tests serve and look for: the content tokens, the Suricata rules that
match them, and nginx's document root. One source of truth shared by the docroot generator,
the workload (which records which request should trigger which rule) and the eve checks.

    /usr/bin/python3 content.py docroot DIR     # write index.html, token.html, big.bin
    /usr/bin/python3 content.py rules           # print the Suricata rules
"""
import hashlib
import os
import sys

# Tokens that only ever travel inside the HTTP messages (inside TLS in the mirror tests).
URI_TOKEN = "sslcE2eUriTok3n"
REQUEST_BODY_TOKEN = "sslcE2eReqBodyTok3n"
RESPONSE_BODY_TOKEN = "sslcE2eRespBodyTok3n"
TAIL_TOKEN = "sslcE2eTailTok3n"

# (sid, where, token, message). "where" names the part of the transaction the rule inspects.
RULES = [
    (9000001, "uri", URI_TOKEN, "e2e URI token"),
    (9000002, "request_body", REQUEST_BODY_TOKEN, "e2e request body token"),
    (9000003, "response_body", RESPONSE_BODY_TOKEN, "e2e response body token"),
    (9000004, "response_body", TAIL_TOKEN, "e2e token in the last bytes of the 5 MiB body"),
]

BIG_SIZE = 5 * 1024 * 1024
UPLOAD_SIZE = 300 * 1024
UPLOAD_REPLY = b"upload ok\n"  # nginx's /upload answer (see nginx.sh)

INDEX_HTML = (b"<!DOCTYPE html>\n<html><head><title>sslcollector e2e</title></head>\n"
              b"<body><p>A small page for the sslcollector end-to-end tests.</p></body></html>\n")
TOKEN_HTML = (b"<!DOCTYPE html>\n<html><head><title>token</title></head>\n<body><p>"
              + RESPONSE_BODY_TOKEN.encode() + b"</p></body></html>\n")


def rules_text():
    """The Suricata rules file. One alert per transaction and rule is what Suricata does for
    stateful http rules, so the expected number of alerts is the number of matching requests."""
    keyword = {"uri": "http.uri", "request_body": "http.request_body",
               "response_body": "file.data"}
    direction = {"uri": "to_server", "request_body": "to_server", "response_body": "to_client"}
    lines = []
    for sid, where, token, msg in RULES:
        lines.append(f'alert http any any -> any any (msg:"{msg}"; '
                     f'flow:established,{direction[where]}; {keyword[where]}; '
                     f'content:"{token}"; sid:{sid}; rev:1;)')
    return "\n".join(lines) + "\n"


def deterministic_bytes(size, seed):
    """size bytes of SHA-256 counter output: incompressible, reproducible, position-dependent
    (a reordered or shifted segment never compares equal)."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(b"%s:%d" % (seed, i)).digest()
        i += 1
    return out[:size]


def big_body():
    """The 5 MiB file: deterministic bytes with TAIL_TOKEN in its last 64 bytes."""
    data = deterministic_bytes(BIG_SIZE, b"big")
    tok = TAIL_TOKEN.encode()
    at = BIG_SIZE - 64
    data[at:at + len(tok)] = tok
    return bytes(data)


def upload_body(tag, with_token=True):
    """A 300 KiB POST body (printable: hex of SHA-256 output) with REQUEST_BODY_TOKEN about
    1000 bytes before its end, past libhtp's default 100 KiB request-body-limit."""
    data = bytearray(deterministic_bytes(UPLOAD_SIZE // 2, b"upload:" + tag.encode()).hex(),
                     "ascii")
    if with_token:
        tok = REQUEST_BODY_TOKEN.encode()
        at = UPLOAD_SIZE - 1000
        data[at:at + len(tok)] = tok
    return bytes(data)


def tokens_in(uri, request_body, response_body):
    """The sids a transaction should trigger, from its actual bytes."""
    parts = {"uri": uri.encode() if isinstance(uri, str) else uri,
             "request_body": request_body or b"", "response_body": response_body or b""}
    return [sid for sid, where, token, _ in RULES if token.encode() in parts[where]]


def write_docroot(root):
    os.makedirs(root, exist_ok=True)
    for name, data in (("index.html", INDEX_HTML), ("token.html", TOKEN_HTML),
                       ("big.bin", big_body())):
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    for sid, where, token, _ in RULES:  # the tokens must appear only where intended
        if where != "response_body":
            for name in ("index.html", "token.html", "big.bin"):
                with open(os.path.join(root, name), "rb") as f:
                    assert token.encode() not in f.read(), (token, name)


def main(argv):
    if len(argv) == 3 and argv[1] == "docroot":
        write_docroot(argv[2])
    elif len(argv) == 2 and argv[1] == "rules":
        sys.stdout.write(rules_text())
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
