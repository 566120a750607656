// gRPC Node peer of the ztrace end-to-end tests (@grpc/grpc-js). The same service and client
// steps as peers/grpc-go/main.go: ztrace.e2e.Echo with Unary, ServerStream and Bidi. Messages
// are peers/grpc-echo.proto's Msg, encoded by hand (field 1, bytes): no protobuf library.
//
//   node peer.js server ADDR
//   node peer.js client ADDR STEP...   (unary:<req> | stream:<req> | bidi:<k> | wait:<file>)
'use strict';
const fs = require('fs');
const grpc = require('@grpc/grpc-js');

// Msg{data}: key of field 1 (length-delimited), a varint length, the bytes.
function encode(data) {
  const len = [];
  for (let n = data.length; ; n >>>= 7) {
    if (n < 0x80) {
      len.push(n);
      break;
    }
    len.push((n & 0x7f) | 0x80);
  }
  return Buffer.concat([Buffer.from([0x0a, ...len]), data]);
}
function decode(wire) {
  if (wire.length === 0) return Buffer.alloc(0);
  let n = 0;
  let shift = 0;
  let i = 1;
  for (; i < wire.length; i++) {
    n += (wire[i] & 0x7f) * 2 ** shift;
    shift += 7;
    if (wire[i] < 0x80) {
      i++;
      break;
    }
  }
  return wire.subarray(i, i + n);
}
const method = (name, requestStream, responseStream) => ({
  path: `/ztrace.e2e.Echo/${name}`,
  requestStream,
  responseStream,
  requestSerialize: encode,
  requestDeserialize: decode,
  responseSerialize: encode,
  responseDeserialize: decode,
});
const echoService = {
  Unary: method('Unary', false, false),
  ServerStream: method('ServerStream', false, true),
  Bidi: method('Bidi', true, true),
};

function failure(spec) {
  const [code, ...rest] = spec.split(':');
  return { code: Number(code), details: rest.join(':') || 'failed on purpose' };
}

function serve(addr) {
  const server = new grpc.Server();
  server.addService(echoService, {
    Unary(call, callback) {
      const req = call.request.toString();
      if (req.startsWith('fail:')) return callback(failure(req.slice(5)));
      callback(null, Buffer.from('echo ' + req.replace(/^ok:/, '')));
    },
    ServerStream(call) {
      const [count, fail] = call.request.toString().split(':fail:');
      let i = 0;
      const next = () => {
        if (i < Number(count)) {
          call.write(Buffer.from(`item ${i++}`));
          setTimeout(next, 5);
        } else if (fail !== undefined) {
          call.emit('error', failure(fail));
        } else {
          call.end();
        }
      };
      next();
    },
    Bidi(call) {
      call.on('data', (m) => call.write(m));
      call.on('end', () => call.end());
    },
  });
  server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) throw err;
    console.log('listening', addr);
  });
}

async function runStep(client, step) {
  const at = step.indexOf(':');
  const kind = at < 0 ? step : step.slice(0, at);
  const arg = at < 0 ? '' : step.slice(at + 1);
  if (kind === 'wait') {
    console.log('waiting');
    while (!fs.existsSync(arg)) await new Promise((r) => setTimeout(r, 20));
    return;
  }
  const result = await new Promise((resolve) => {
    let msgs = 0;
    if (kind === 'unary') {
      client.Unary(Buffer.from(arg), (err) => resolve({ code: err ? err.code : 0, msgs: err ? 0 : 1 }));
      return;
    }
    const call = kind === 'stream' ? client.ServerStream(Buffer.from(arg)) : client.Bidi();
    call.on('data', () => {
      msgs++;
      if (kind === 'bidi' && msgs < Number(arg)) call.write(Buffer.from(`ping ${msgs}`));
      else if (kind === 'bidi') call.end();
    });
    call.on('error', () => {});
    call.on('status', (s) => resolve({ code: s.code, msgs }));
    if (kind === 'bidi') call.write(Buffer.from('ping 0'));
  });
  console.log(`${kind} code=${result.code} msgs=${result.msgs}`);
}

async function main() {
  const [mode, addr, ...steps] = process.argv.slice(2);
  if (mode === 'server') return serve(addr);
  const Client = grpc.makeGenericClientConstructor(echoService, 'Echo');
  const client = new Client(addr, grpc.credentials.createInsecure());
  for (const step of steps) await runStep(client, step);
  client.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
