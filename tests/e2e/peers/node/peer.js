// Node.js peer for the ztrace end-to-end tests (core http module only).
//
//   node peer.js server PORT
//   node peer.js client [--method M] [--body B] [--repeat N] [--user-agent UA] URL...
//
// server routes: /ok/... 200, /error/... 500, POST /echo/... 200 echoing the body, anything
// else 404; every response has a Content-Length and X-Client-Port (the client's port as the
// server sees it). The client sends the URLs in order (N rounds) over one keep-alive
// connection and prints "STATUS METHOD URL port=X-Client-Port reused=BOOL".
//
// GET /chain/... is one hop of the chain (the e2e chain tests), set by the environment:
// CHAIN_NEXT (base URL of the next hop; the handler GETs CHAIN_NEXT<same path> through an
// http.Agent({keepAlive: true}); unset: the leaf), CHAIN_NAME (name in the report, default
// "node"). The answer is JSON: {"hop", "pid", "method", "path", "peer_port", "traceparent":
// [received values], "tracestate": [...], "sent_traceparent": "", "next_status", "next": the
// next hop's JSON or null}; 502 when the next hop fails.
'use strict';
const http = require('http');

const chainAgent = new http.Agent({ keepAlive: true });

function chainHop(req, res) {
  const distinct = req.headersDistinct;
  const report = {
    hop: process.env.CHAIN_NAME || 'node',
    pid: process.pid,
    method: req.method,
    path: req.url,
    peer_port: req.socket.remotePort,
    traceparent: distinct.traceparent || [],
    tracestate: distinct.tracestate || [],
    sent_traceparent: '',
    next_status: 0,
    next: null,
  };
  const answer = (code) => {
    const b = Buffer.from(JSON.stringify(report));
    res.writeHead(code, {
      'Content-Type': 'application/json',
      'Content-Length': b.length,
      'X-Client-Port': String(req.socket.remotePort),
    });
    res.end(b);
  };
  const next = process.env.CHAIN_NEXT;
  if (!next) return answer(200);
  const out = http.get(next.replace(/\/+$/, '') + req.url, { agent: chainAgent, timeout: 20000 },
    (up) => {
      const chunks = [];
      up.on('data', (c) => chunks.push(c));
      up.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        report.next_status = up.statusCode;
        try {
          report.next = JSON.parse(body);
        } catch (e) {
          report.next = body;
        }
        answer(up.statusCode === 200 ? 200 : 502);
      });
    });
  out.on('timeout', () => out.destroy(new Error('timeout')));
  out.on('error', (e) => {
    report.next = `error: ${e.message}`;
    answer(502);
  });
}

function serve(port) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const path = new URL(req.url, 'http://x').pathname;
      const reply = (code, body) => {
        const b = Buffer.from(body);
        res.writeHead(code, {
          'Content-Type': 'text/plain',
          'Content-Length': b.length,
          'X-Client-Port': String(req.socket.remotePort),
        });
        res.end(req.method === 'HEAD' ? undefined : b);
      };
      if (req.method === 'GET' && path.startsWith('/chain/')) chainHop(req, res);
      else if (req.method === 'POST' && path.startsWith('/echo/')) reply(200, Buffer.concat(chunks));
      else if (path.startsWith('/ok/')) reply(200, `ok ${path}\n`);
      else if (path.startsWith('/error/')) reply(500, 'error\n');
      else reply(404, 'not found\n');
    });
  });
  server.keepAliveTimeout = 30000;
  server.listen(port, '127.0.0.1', () => console.log(`listening ${port}`));
}

function request(agent, method, url, body, userAgent) {
  return new Promise((resolve, reject) => {
    const headers = {};
    if (userAgent) headers['User-Agent'] = userAgent;
    if (body !== undefined) headers['Content-Length'] = Buffer.byteLength(body);
    const req = http.request(url, { method, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve([res.statusCode, res.headers['x-client-port'], req.reusedSocket]));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function client(args) {
  let method = 'GET';
  let body;
  let repeat = 1;
  let userAgent;
  const urls = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--method') method = args[++i];
    else if (args[i] === '--body') body = args[++i];
    else if (args[i] === '--repeat') repeat = Number(args[++i]);
    else if (args[i] === '--user-agent') userAgent = args[++i];
    else urls.push(args[i]);
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let r = 0; r < repeat; r++) {
    for (const u of urls) {
      const [code, port, reused] = await request(agent, method, u, body, userAgent);
      console.log(`${code} ${method} ${u} port=${port} reused=${reused}`);
    }
  }
  agent.destroy();
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'server' && rest.length === 1) {
  serve(Number(rest[0]));
} else if (mode === 'client') {
  client(rest).catch((e) => {
    console.error(e.message);
    process.exit(1);
  });
} else {
  console.error('usage: peer.js server PORT | client [flags] URL...');
  process.exit(2);
}
