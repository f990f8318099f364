'use strict';

// The client against a live sidecar (helpers.CONFIG), with errors made by
// Node itself, fetch, axios and gRPC.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const axios = require('axios');

const { Client, RetrydError, Unavailable, errorInfo, fallback, parseRetryAfter } = require('..');
const h = require('./helpers');

let sidecar;
let client;
let web;

before(async () => {
  sidecar = await h.startRetryd();
  client = new Client({ address: sidecar.address, timeoutMs: 2000 });
  web = await h.httpServer();
});

after(async () => {
  if (client) client.close();
  if (web) await web.close();
  if (sidecar) await sidecar.stop();
});

/** The error Node gives for a TCP connection to `port`, where nothing listens. */
function refused(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', resolve);
    s.on('connect', () => { s.destroy(); resolve(null); });
  });
}

test('a transient failure gets a retry, with every field', async () => {
  const before = Date.now();
  const err = new Error('read ECONNRESET');
  err.code = 'ECONNRESET';
  const d = await client.reportFailure(h.uniqueId(), err, { jobType: 'invoice', attempt: 1 });
  assert.equal(d.retry, true);
  assert.equal(d.retryAfterMs, h.DELAY_MS);
  assert.ok(d.retryAt instanceof Date);
  assert.ok(d.retryAt.getTime() >= before && d.retryAt.getTime() < before + 5000);
  assert.equal(d.reason, null);
  assert.equal(d.failureCount, 1);
  assert.equal(d.maxAttempts, h.MAX_ATTEMPTS);
  assert.equal(d.errorClass, 'transient');
  assert.equal(d.category, 'network');
  assert.equal(d.policy, 'default');
  assert.match(d.explanation, /type ECONNRESET/);
  assert.equal(d.local, false);
});

test('a permanent failure gives up at once', async () => {
  class ValidationError extends Error {}
  ValidationError.prototype.name = 'ValidationError';
  const d = await client.reportFailure(h.uniqueId(), new ValidationError('amount must be positive'), { attempt: 1 });
  assert.equal(d.retry, false);
  assert.equal(d.reason, 'permanent_error');
  assert.equal(d.retryAfterMs, 0);
  assert.equal(d.retryAt, null);
  assert.equal(d.errorClass, 'permanent');
  assert.equal(d.category, 'invalid_input');
});

test('retries run out after max attempts; getJob shows the dead job', async () => {
  const id = h.uniqueId();
  const got = [];
  for (let a = 1; a <= h.MAX_ATTEMPTS; a++) {
    got.push(await client.reportFailure(id, new Error('socket hang up'), { attempt: a }));
  }
  assert.deepEqual(got.map((d) => d.retry), [true, true, true, false]);
  assert.equal(got[3].reason, 'retries_exhausted');
  const job = await client.getJob(id);
  assert.equal(job.state, 'dead');
  assert.equal(job.failureCount, h.MAX_ATTEMPTS);
  assert.equal(job.lastError.type, 'Error');
  assert.equal(job.lastError.message, 'socket hang up');
  assert.equal(job.lastDecision.reason, 'retries_exhausted');
});

test('success makes retryd forget the job; explain changes nothing', async () => {
  const id = h.uniqueId();
  const e = await client.explain(id, new Error('context deadline exceeded'), { attempt: 1 });
  assert.equal(e.retry, true);
  assert.equal(e.category, 'timeout');
  assert.equal(await client.getJob(id), null);
  await client.reportFailure(id, new Error('x'), { attempt: 1, jobType: 'invoice' });
  await client.reportFailure(id, new Error('x'), { attempt: 1, jobType: 'invoice' }); // re-sent: counted once
  const held = await client.getJob(id);
  assert.equal(held.failureCount, 1);
  assert.equal(held.state, 'retrying');
  assert.ok(held.nextRetryAt instanceof Date);
  const s = await client.reportSuccess(id, { jobType: 'invoice' });
  assert.deepEqual(s, { failuresBeforeSuccess: 1, known: true, local: false });
  assert.equal(await client.getJob(id), null);
});

test('policy, priority and an ErrorInfo verdict are sent', async () => {
  assert.equal((await client.reportFailure(h.uniqueId(), new Error('x'), { policy: 'aggressive' })).maxAttempts, 5);
  assert.equal((await client.reportFailure(h.uniqueId(), new Error('x'), { priority: 90 })).policy, 'high_priority');
  const d = await client.reportFailure(h.uniqueId(), { type: 'VendorError', message: 'quota', retryable: true });
  assert.equal(d.category, 'caller');
  const p = await client.reportFailure(h.uniqueId(), { type: 'Odd', httpStatus: 404 });
  assert.equal(p.reason, 'permanent_error');
});

test("Node's own connection error is sent by its code", async () => {
  const err = await refused(await h.freePort());
  assert.equal(err.code, 'ECONNREFUSED');
  assert.equal(errorInfo(err).type, 'ECONNREFUSED');
  const d = await client.reportFailure(h.uniqueId(), err);
  assert.equal(d.category, 'network');
  assert.match(d.explanation, /type ECONNREFUSED/);
  // Sent as a raw caller would (type Error), the message still classifies.
  const raw = await client.reportFailure(h.uniqueId(), { type: 'Error', message: err.message });
  assert.equal(raw.category, 'network');
  assert.match(raw.explanation, /econnrefused/);
});

test('fetch: a failed connection (cause chain), a Response not ok, a timeout', async () => {
  const port = await h.freePort();
  const failed = await fetch(`http://127.0.0.1:${port}/`).catch((e) => e);
  assert.equal(failed.name, 'TypeError'); // "fetch failed", the cause has the code
  const info = errorInfo(failed);
  assert.equal(info.type, 'ECONNREFUSED');
  assert.match(info.message, /^fetch failed: .*ECONNREFUSED/);
  assert.equal((await client.reportFailure(h.uniqueId(), failed)).category, 'network');

  const res = await fetch(`${web.url}/503?retry_after=3`);
  assert.equal(res.ok, false);
  const d = await client.reportFailure(h.uniqueId(), res, { attempt: 1 });
  assert.equal(d.category, 'server_error');
  assert.equal(d.retryAfterMs, 3000); // the server's Retry-After beats the policy's 100 ms

  const hole = await h.blackHole();
  try {
    const timedOut = await fetch(`http://${hole.address}/`, { signal: AbortSignal.timeout(100) }).catch((e) => e);
    assert.equal(timedOut.name, 'TimeoutError');
    assert.equal((await client.reportFailure(h.uniqueId(), timedOut)).category, 'timeout');
    const ac = new AbortController();
    const pending = fetch(`http://${hole.address}/`, { signal: ac.signal }).catch((e) => e);
    ac.abort();
    const aborted = await pending;
    assert.equal(aborted.name, 'AbortError');
    assert.equal((await client.reportFailure(h.uniqueId(), aborted)).category, 'timeout');
  } finally {
    await hole.close();
  }
});

test('axios: status and an HTTP-date Retry-After; a refused connection', async () => {
  const when = new Date(Date.now() + 30000).toUTCString();
  const err = await axios.get(`${web.url}/429`, { params: { retry_after: when } }).catch((e) => e);
  assert.equal(err.name, 'AxiosError');
  const d = await client.reportFailure(h.uniqueId(), err, { attempt: 1 });
  assert.equal(d.category, 'rate_limit');
  assert.ok(d.retryAfterMs > 26000 && d.retryAfterMs <= 30000, String(d.retryAfterMs));
  const notFound = await axios.get(`${web.url}/404`).catch((e) => e);
  assert.equal((await client.reportFailure(h.uniqueId(), notFound)).reason, 'permanent_error');
  const down = await axios.get(`http://127.0.0.1:${await h.freePort()}/`).catch((e) => e);
  assert.equal(errorInfo(down).type, 'ECONNREFUSED');
  assert.equal((await client.reportFailure(h.uniqueId(), down)).category, 'network');
});

test('a gRPC error is sent with its code', async () => {
  const err = await new Promise((resolve) => client.stub.GetJob({ job_id: h.uniqueId() }, (e) => resolve(e)));
  assert.equal(err.code, 5);
  assert.equal(errorInfo(err).grpcCode, 5);
  const d = await client.reportFailure(h.uniqueId(), err);
  assert.equal(d.category, 'client_error');
  assert.match(d.explanation, /gRPC NOT_FOUND/);
});

test('gRPC pushback from a real server: a delay is a floor, a negative one gives up', async () => {
  const grpc = require('@grpc/grpc-js');
  const path = '/downstream.v1.Orders/Place';
  const same = (b) => b;
  let pushback = '-1';
  const server = new grpc.Server();
  server.register(path, (call, callback) => {
    const trailers = new grpc.Metadata();
    trailers.set('grpc-retry-pushback-ms', pushback);
    callback({ code: grpc.status.UNAVAILABLE, details: 'overloaded', metadata: trailers });
  }, same, same, 'unary');
  const port = await new Promise((resolve, reject) => server.bindAsync(
    '127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const Orders = grpc.makeGenericClientConstructor({
    Place: {
      path, requestStream: false, responseStream: false,
      requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same,
    },
  }, 'Orders');
  const orders = new Orders(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const failedCall = () => new Promise((resolve) => orders.Place(Buffer.alloc(0), (e) => resolve(e)));
  try {
    let d = await client.reportFailure(h.uniqueId(), await failedCall());
    assert.equal(d.retry, false);
    assert.equal(d.reason, 'pushback');
    assert.match(d.explanation, /not to retry/);
    pushback = '3000';
    d = await client.reportFailure(h.uniqueId(), await failedCall());
    assert.equal(d.retry, true);
    assert.equal(d.retryAfterMs, 3000);
  } finally {
    orders.close();
    server.forceShutdown();
  }
});

test('bad input is a RetrydError, not Unavailable, even with a fallback', async () => {
  const c = new Client({ address: sidecar.address, fallback: fallback.exponential() });
  try {
    const err = await c.reportFailure('', new Error('x')).catch((e) => e);
    assert.ok(err instanceof RetrydError);
    assert.ok(!(err instanceof Unavailable));
    assert.equal(err.code, 'INVALID_ARGUMENT');
    assert.match(err.message, /job_id/);
  } finally {
    c.close();
  }
});

test('long messages are cut to what retryd accepts', async () => {
  const d = await client.reportFailure(h.uniqueId(), new Error('é'.repeat(100000)));
  assert.equal(d.category, 'unknown');
  assert.ok(Buffer.byteLength(errorInfo(new Error('é'.repeat(100000))).message) <= 65536);
});

test('Retry-After values', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('120'), 120000);
  assert.equal(parseRetryAfter('1.5'), 1500);
  assert.equal(parseRetryAfter('-3'), 0);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(String(10 ** 9)), undefined);
  assert.equal(parseRetryAfter(new Date(now + 90000).toUTCString(), now), 90000);
  assert.equal(parseRetryAfter(new Date(now - 90000).toUTCString(), now), 0);
});

// --- when retryd does not answer -------------------------------------------

async function unreachable(kind) {
  if (kind === 'closed port') return { address: `127.0.0.1:${await h.freePort()}`, close: async () => {} };
  return h.blackHole();
}

for (const kind of ['closed port', 'black hole']) {
  test(`${kind}: every call rejects with Unavailable within the timeout`, async () => {
    const where = await unreachable(kind);
    const c = new Client({ address: where.address, timeoutMs: 500 });
    try {
      for (const call of [
        () => c.reportFailure('j', new Error('x'), { attempt: 1 }),
        () => c.reportSuccess('j'),
        () => c.getJob('j'),
        () => c.explain('j', new Error('x')),
      ]) {
        const start = Date.now();
        const err = await call().catch((e) => e);
        assert.ok(err instanceof Unavailable, String(err));
        assert.ok(Date.now() - start < 2000, `${Date.now() - start}ms`);
      }
    } finally {
      c.close();
      await where.close();
    }
  });

  test(`${kind}: the fallback decides, locally and in time`, async () => {
    const where = await unreachable(kind);
    const c = new Client({ address: where.address, timeoutMs: 500, fallback: fallback.exponential({ maxAttempts: 3 }) });
    try {
      const start = Date.now();
      const d = await c.reportFailure('j', new Error('x'), { attempt: 1 });
      assert.ok(Date.now() - start < 2000);
      assert.equal(d.local, true);
      assert.equal(d.retry, true);
      assert.equal(d.retryAfterMs, 1000);
      assert.match(d.explanation, /^local decision, retryd unavailable/);
      // No attempt given: the client counts the job's failures itself.
      const counts = [];
      for (let i = 0; i < 3; i++) counts.push((await c.reportFailure('k', new Error('x'))).failureCount);
      assert.deepEqual(counts, [1, 2, 3]);
      const last = await c.reportFailure('j', new Error('x'), { attempt: 3 });
      assert.equal(last.reason, 'retries_exhausted');
      assert.deepEqual(await c.reportSuccess('k'), { failuresBeforeSuccess: 0, known: false, local: true });
    } finally {
      c.close();
      await where.close();
    }
  });
}

test("the fallback counts the failures retryd answered too", async () => {
  const port = await h.freePort();
  const c = new Client({ address: `127.0.0.1:${port}`, timeoutMs: 500, fallback: fallback.exponential({ maxAttempts: 5 }) });
  const up = await h.startRetryd(`127.0.0.1:${port}`);
  try {
    assert.equal((await c.reportFailure('k', new Error('x'))).local, false);
    assert.equal((await c.reportFailure('k', new Error('x'))).local, false);
    await up.stop();
    // The sidecar is gone: the fallback decides on the job's third failure.
    const d = await c.reportFailure('k', new Error('x'));
    assert.deepEqual([d.local, d.failureCount, d.retryAfterMs], [true, 3, 4000]);
    assert.equal((await c.reportSuccess('k')).local, true);
    assert.equal((await c.reportFailure('k', new Error('x'))).failureCount, 1);
  } finally {
    c.close();
    await up.stop();
  }
});

test('fallback.exponential alone', () => {
  const fb = fallback.exponential({ maxAttempts: 5, baseMs: 1000, maxDelayMs: 3000 });
  assert.deepEqual([1, 2, 3, 4].map((n) => fb(n, { type: 'X' }).retryAfterMs), [1000, 2000, 3000, 3000]);
  assert.equal(fb(5, { type: 'X' }).reason, 'retries_exhausted');
  assert.equal(fb(1, { type: 'X', retryable: false }).reason, 'permanent_error');
  assert.throws(() => fallback.exponential({ maxAttempts: 0 }), RangeError);
});

test('a sidecar that comes back is found again at once', async () => {
  // grpc-js's own reconnect backoff grows 1 s, 1.6 s, 2.56 s, 4.1 s, ...: after
  // six seconds of a missing sidecar it would wait seconds more. The client's
  // channel retries at most a second apart.
  const port = await h.freePort();
  const c = new Client({ address: `127.0.0.1:${port}`, timeoutMs: 500 });
  let restarted;
  try {
    const downSince = Date.now();
    while (Date.now() - downSince < 6500) {
      assert.ok((await c.reportFailure('j', new Error('x')).catch((e) => e)) instanceof Unavailable);
      await h.sleep(300);
    }
    restarted = await h.startRetryd(`127.0.0.1:${port}`);
    const upAt = Date.now();
    let d;
    while (!d) {
      d = await c.reportFailure('j', new Error('x'), { attempt: 1 }).catch((e) => {
        assert.ok(e instanceof Unavailable);
        assert.ok(Date.now() - upAt < 1500, 'the client did not reconnect within 1.5 s');
        return h.sleep(50).then(() => undefined);
      });
    }
    assert.equal(d.local, false);
  } finally {
    c.close();
    if (restarted) await restarted.stop();
  }
});
