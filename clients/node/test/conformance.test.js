'use strict';

// clients/conformance/cases.json: every case the Node.js way, against a live
// retryd started with the table's configuration.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const dns = require('node:dns');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const grpc = require('@grpc/grpc-js');

const { Client, errorInfo, retryAfterMsOf } = require('..');
const { pushbackMsOf } = require('../lib/errors');
const h = require('./helpers');

const TABLE_PATH = path.join(h.ROOT, 'clients', 'conformance', 'cases.json');
const TABLE = JSON.parse(fs.readFileSync(TABLE_PATH, 'utf8'));

/** The application's own validation error (as joi, yup and mongoose name theirs). */
class ValidationError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ValidationError';
  }
}

let sidecar;
let client;

before(async () => {
  sidecar = await h.startRetryd(undefined, TABLE.config);
  client = new Client({ address: sidecar.address, timeoutMs: 5000 });
});

after(async () => {
  if (client) client.close();
  if (sidecar) await sidecar.stop();
});

/** A TCP server running `handle(socket)` for each connection; `{ port, close }`. */
async function tcpServer(handle) {
  const sockets = new Set();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    handle(s);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }),
  };
}

async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error('no error was raised');
}

function connectError(port, host = '127.0.0.1', send) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host);
    s.on('connect', () => { if (send) s.write(send); });
    s.on('error', resolve);
    s.on('close', () => reject(new Error('closed without an error')));
  });
}

async function provoke(p, via) {
  switch (p.kind) {
    case 'refused': {
      const port = await h.freePort();
      if (via === 'net') return connectError(port);
      if (via === 'fetch') return rejection(fetch(`http://127.0.0.1:${port}/`));
      break;
    }
    case 'reset':
      if (via === 'net') {
        const server = await tcpServer((s) => s.once('data', () => s.resetAndDestroy()));
        try {
          return await connectError(server.port, '127.0.0.1', 'hello\n');
        } finally {
          await server.close();
        }
      }
      break;
    case 'dns':
      if (via === 'dns') return rejection(dns.promises.lookup(p.host));
      break;
    case 'timeout':
      if (via === 'fetch') {
        const server = await tcpServer(() => {});
        try {
          return await rejection(fetch(`http://127.0.0.1:${server.port}/`, { signal: AbortSignal.timeout(p.after_ms) }));
        } finally {
          await server.close();
        }
      }
      break;
    case 'tls_untrusted':
      if (via === 'tls') {
        const dir = path.join(path.dirname(TABLE_PATH), 'tls');
        const server = tls.createServer({ cert: fs.readFileSync(path.join(dir, 'cert.pem')), key: fs.readFileSync(path.join(dir, 'key.pem')) });
        server.on('tlsClientError', () => {});
        await new Promise((r) => server.listen(0, '127.0.0.1', r));
        try {
          return await new Promise((resolve, reject) => {
            const s = tls.connect({ port: server.address().port, host: '127.0.0.1', servername: 'localhost' });
            s.on('error', resolve);
            s.on('secureConnect', () => { s.destroy(); reject(new Error('the handshake succeeded')); });
          });
        } finally {
          await new Promise((r) => server.close(r));
        }
      }
      break;
    case 'http':
      if (via === 'fetch') {
        const server = http.createServer((req, res) => {
          res.writeHead(p.status, { ...p.headers, 'content-length': '0' });
          res.end();
        });
        await new Promise((r) => server.listen(0, '127.0.0.1', r));
        try {
          const res = await fetch(`http://127.0.0.1:${server.address().port}/`);
          assert.equal(res.ok, false);
          return res;
        } finally {
          server.closeAllConnections();
          await new Promise((r) => server.close(r));
        }
      }
      break;
    case 'grpc':
      if (via === 'grpc-js') {
        const server = new grpc.Server();
        const identity = (b) => b;
        server.addService({
          Place: {
            path: '/downstream.v1.Orders/Place', requestStream: false, responseStream: false,
            requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
          },
        }, {
          Place: (call, callback) => {
            const trailers = new grpc.Metadata();
            for (const [k, v] of Object.entries(p.trailers)) trailers.set(k, v);
            callback({ code: grpc.status[p.code], details: p.message, metadata: trailers });
          },
        });
        const port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(),
          (err, n) => (err ? reject(err) : resolve(n))));
        const channel = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
        try {
          return await new Promise((resolve, reject) => {
            channel.makeUnaryRequest('/downstream.v1.Orders/Place', identity, identity, Buffer.alloc(0),
              { deadline: new Date(Date.now() + 5000) }, (err) => (err ? resolve(err) : reject(new Error('the call succeeded'))));
          });
        } finally {
          channel.close();
          server.forceShutdown();
        }
      }
      break;
    case 'exec_denied':
      if (via === 'child_process') {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'retryd-conformance-'));
        try {
          const script = path.join(dir, 'job.sh');
          fs.writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o600 });
          const r = childProcess.spawnSync(script);
          assert.ok(r.error, 'the program ran');
          return r.error;
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
      break;
    case 'validation':
      if (via === 'class') return new ValidationError(p.message);
      break;
    case 'bad_value':
      if (via === 'BigInt') {
        try {
          BigInt(p.value);
        } catch (e) {
          return e;
        }
        throw new Error('no error was raised');
      }
      break;
    default:
  }
  throw new Error(`provoke kind ${p.kind} via ${via}: the Node.js conformance test has no code for it`);
}

function fullMatch(pattern, s) {
  return new RegExp(`^(?:${pattern})$`, 's').test(s);
}

let n = 0;
for (const c of TABLE.cases) {
  const ways = c.node && c.node.length ? c.node : [null];
  for (const way of ways) {
    test(`${c.id}/${way ? way.via : 'none'}`, async () => {
      assert.ok(way, `case ${c.id} has no Node.js raising`);
      const err = await provoke(c.provoke, way.via);
      const want = way.expect || c.expect;

      // What the client sends.
      const info = errorInfo(err);
      assert.equal(info.type, way.type);
      assert.ok(fullMatch(way.message, info.message), `message ${JSON.stringify(info.message)} does not match /${way.message}/`);
      assert.deepEqual([info.httpStatus, info.grpcCode], [way.http_status || 0, way.grpc_code || 0]);
      const hint = retryAfterMsOf(err);
      assert.equal(hint === undefined ? null : hint, way.retry_after_ms === undefined ? null : way.retry_after_ms);
      const pushback = pushbackMsOf(err);
      assert.equal(pushback !== undefined && pushback < 0 ? pushback : null,
        way.retry_pushback_ms === undefined ? null : way.retry_pushback_ms);

      // What retryd decides: Explain changes nothing, reportFailure the same.
      n += 1;
      const job = `conformance-${c.id}-${process.pid}-${n}`;
      for (const d of [await client.explain(job, err, { attempt: 1 }), await client.reportFailure(job, err, { attempt: 1 })]) {
        assert.deepEqual([d.retry, d.errorClass, d.category, d.reason], [want.retry, want.error_class, want.category, want.reason], d.explanation);
        if (want.retry_after_ms !== null) assert.equal(d.retryAfterMs, want.retry_after_ms, d.explanation);
      }

      // What arrived.
      const held = await client.getJob(job);
      assert.equal(held.lastError.type, way.type);
      assert.ok(fullMatch(way.message, held.lastError.message), held.lastError.message);
      assert.deepEqual([held.lastError.httpStatus, held.lastError.grpcCode], [way.http_status || 0, way.grpc_code || 0]);
    });
  }
}
