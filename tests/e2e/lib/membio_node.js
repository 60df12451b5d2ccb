// Node.js https, a program under test of test_capture_membio.sh: Node's TLSWrap drives
// OpenSSL through a memory BIO and moves the ciphertext itself (libuv). Speaks the HTTP
// exchange of membio_peers.py (request i: POST /membio/<i>?size=<n>, body pattern("c2s-<i>");
// answer: body pattern("s2c-<i>")) and checks every byte it reads.
//
//   node membio_node.js server --cert PEM --key KEY ADDR PORT
//       https.createServer: answers each request, keep-alive; on SIGTERM exits 0 when every
//       request it read was right, 1 otherwise.
//   node membio_node.js client --cafile CA [--exchanges N] [--size BYTES] HOST PORT
//       https.request through a keep-alive agent with one socket: N exchanges on one
//       connection, then the agent closes it; exit 0 when every answer was right.
//
// Runs on Node 18 and 20 (CommonJS, no dependencies).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const https = require('https');

function log(msg) {
  process.stderr.write(`membio_node (node ${process.version}): ${msg}\n`);
}

// The same bytes as membio_peers.py's pattern().
function pattern(label, size) {
  const parts = [];
  let n = 0;
  for (let k = 0; n < size; k++) {
    const d = crypto.createHash('sha256').update(`sslc-membio-${label}-${k}`).digest();
    parts.push(d);
    n += d.length;
  }
  return Buffer.concat(parts).subarray(0, size);
}

function parseArgs(argv) {
  const opts = {};
  const pos = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) opts[argv[i].slice(2)] = argv[++i];
    else pos.push(argv[i]);
  }
  return {opts, pos};
}

function readBody(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function server(opts, [addr, port]) {
  let exchanges = 0;
  let errors = 0;
  const srv = https.createServer(
      {cert: fs.readFileSync(opts.cert), key: fs.readFileSync(opts.key)},
      async (req, res) => {
        let body;
        try {
          body = await readBody(req);
        } catch (e) {
          errors++;
          log(`request from ${req.socket.remoteAddress}:${req.socket.remotePort}: ${e}`);
          return;
        }
        const m = /^\/membio\/(\d+)\?size=(\d+)$/.exec(req.url);
        if (req.method !== 'POST' || !m ||
            !body.equals(pattern(`c2s-${m[1]}`, Number(m[2])))) {
          errors++;
          log(`unexpected request ${req.method} ${req.url} (${body.length} body bytes)`);
          res.writeHead(400, {'Content-Length': 0});
          res.end();
          return;
        }
        const answer = pattern(`s2c-${m[1]}`, Number(m[2]));
        res.writeHead(200, {'Content-Type': 'application/octet-stream',
          'Content-Length': answer.length});
        res.end(answer);
        exchanges++;
      });
  srv.on('tlsClientError', (e) => {
    errors++;
    log(`TLS error: ${e}`);
  });
  srv.on('connection', (sock) => {
    const peer = `${sock.remoteAddress}:${sock.remotePort}`;
    sock.on('close', () => log(`connection from ${peer} closed`));
  });
  process.on('SIGTERM', () => {
    log(`stopped: ${exchanges} exchanges, ${errors} errors`);
    process.exit(errors ? 1 : 0);
  });
  srv.listen(Number(port), addr, () =>
    log(`listening on ${addr}:${port} (https.createServer, OpenSSL ${process.versions.openssl})`));
}

async function client(opts, [host, port]) {
  // --go FILE: start, then connect only once FILE exists (the test lets the agent find us first)
  while (opts.go && !fs.existsSync(opts.go)) await new Promise((r) => setTimeout(r, 20));
  const exchanges = Number(opts.exchanges || 2);
  const size = Number(opts.size || (1 << 20));
  const agent = new https.Agent({keepAlive: true, maxSockets: 1});
  const ca = fs.readFileSync(opts.cafile);
  let errors = 0;
  let local = '?';
  for (let i = 0; i < exchanges; i++) {
    const body = pattern(`c2s-${i}`, size);
    const res = await new Promise((resolve, reject) => {
      const req = https.request({host, port: Number(port), method: 'POST',
        path: `/membio/${i}?size=${size}`, ca, agent,
        headers: {'Content-Type': 'application/octet-stream', 'Content-Length': size}},
      resolve);
      req.on('socket', (s) => s.on('secureConnect', () => {
        local = `${s.localAddress}:${s.localPort}`;
      }));
      req.on('error', reject);
      req.end(body);
    });
    const answer = await readBody(res);
    if (res.statusCode !== 200 || !answer.equals(pattern(`s2c-${i}`, size))) {
      errors++;
      log(`exchange ${i}: status ${res.statusCode}, ${answer.length} body bytes not the expected`);
    }
  }
  agent.destroy(); // closes the kept-alive connection
  log(`client ${local} -> ${host}:${port}: ${exchanges} exchanges, ${errors} errors` +
      ` (OpenSSL ${process.versions.openssl})`);
  process.exitCode = errors ? 1 : 0;
}

const [cmd, ...rest] = process.argv.slice(2);
const {opts, pos} = parseArgs(rest);
if (cmd === 'server') {
  server(opts, pos);
} else if (cmd === 'client') {
  client(opts, pos).catch((e) => {
    log(`client failed: ${e}`);
    process.exitCode = 1;
  });
} else {
  log('usage: membio_node.js server|client ...');
  process.exitCode = 2;
}
