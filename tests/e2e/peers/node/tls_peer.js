// Node.js TLS peer for the ztrace end-to-end tests (core https/http2 modules; Node's OpenSSL is
// linked into the node binary and driven through memory BIOs).
//
//   node tls_peer.js https-server PORT CERT KEY    HTTPS/1.1 server
//   node tls_peer.js h2-server PORT CERT KEY       http2.createSecureServer (h2 by ALPN)
//   node tls_peer.js https-client URL...           https.request over one keep-alive agent
//   node tls_peer.js fetch-client URL...           fetch() (undici), sequential
//   node tls_peer.js h2-client URL...              http2.connect, one session, sequential
//
// Servers: /ok/... 200 "hello tls\n", anything else 404 "missing\n". Clients print
// "STATUS URL" per request and trust any certificate (self-signed test certificates).
'use strict';
const fs = require('fs');
const https = require('https');
const http2 = require('http2');

process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';  // fetch() has no per-call option
const [mode, ...args] = process.argv.slice(2);

function answer(path) {
  return path.startsWith('/ok/') ? [200, 'hello tls\n'] : [404, 'missing\n'];
}

function serve(create) {
  const [port, cert, key] = args;
  const server = create({cert: fs.readFileSync(cert), key: fs.readFileSync(key)}, (req, res) => {
    const [code, body] = answer(req.url);
    res.writeHead(code, {'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body)});
    res.end(body);
  });
  server.listen(Number(port), '127.0.0.1');
}

async function httpsClient(urls) {
  const agent = new https.Agent({keepAlive: true, maxSockets: 1, rejectUnauthorized: false});
  for (const url of urls) {
    const code = await new Promise((resolve, reject) => {
      https
          .get(
              url, {agent},
              (res) => {
                res.resume();
                res.on('end', () => resolve(res.statusCode));
              })
          .on('error', reject);
    });
    console.log(`${code} ${url}`);
  }
  agent.destroy();
}

async function fetchClient(urls) {
  for (const url of urls) {
    const res = await fetch(url);
    await res.text();
    console.log(`${res.status} ${url}`);
  }
}

async function h2Client(urls) {
  const session = http2.connect(new URL(urls[0]).origin, {rejectUnauthorized: false});
  for (const url of urls) {
    const code = await new Promise((resolve, reject) => {
      const req = session.request({':path': new URL(url).pathname});
      let status = 0;
      req.on('response', (headers) => {
        status = headers[':status'];
      });
      req.resume();
      req.on('end', () => resolve(status));
      req.on('error', reject);
      req.end();
    });
    console.log(`${code} ${url}`);
  }
  session.close();
}

const modes = {
  'https-server': () => serve(https.createServer),
  'h2-server': () => serve(http2.createSecureServer),
  'https-client': () => httpsClient(args),
  'fetch-client': () => fetchClient(args),
  'h2-client': () => h2Client(args),
};
Promise.resolve(modes[mode]()).catch((e) => {
  console.error(e);
  process.exit(1);
});
