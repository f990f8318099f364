'use strict';

// Delivery with no broker: the client's calls (claimDue, watchDue,
// extendLease, releaseJob, listQueues, reports with a payload and a lease),
// fencing, and the Worker as the only retry queue, against a live sidecar
// (helpers.startDeliverySidecars: backoff 300 ms, max_deliveries 2).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');

const { Client, LeaseLost, RetrydError, Unavailable, Worker, fallback, relay } = require('..');
const h = require('./helpers');

let sidecars;
let client;

before(async () => {
  sidecars = await h.startDeliverySidecars();
  client = new Client({ address: sidecars.address, timeoutMs: 2000 });
});

after(async () => {
  if (client) client.close();
  if (sidecars) await sidecars.stop();
});

function econnreset() {
  const err = new Error('read ECONNRESET');
  err.code = 'ECONNRESET';
  return err;
}

class ValidationError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ValidationError';
  }
}

/** Parks a job on `queue`, as the place where it first failed would: its first failure with the payload. */
async function park(queue, payload = '{"n":1}', jobId = h.uniqueId(queue)) {
  const d = await client.reportFailure(jobId, econnreset(), { jobType: 'mail', queue, attempt: 1, payload });
  assert.equal(d.retry, true);
  return { jobId, decision: d };
}

async function queueStats(queue) {
  return (await client.listQueues()).find((q) => q.queue === queue) || null;
}

/** Claims one job of `queue` as soon as it is due. */
function claimOne(queue, options = {}) {
  return h.eventually(`a due job on ${queue}`, async () => (await client.claimDue(queue, options))[0], 5000, 25);
}

test('a parked job is claimed with every field, and settled with its lease', async () => {
  const queue = h.uniqueId('q');
  const { jobId, decision } = await park(queue, Buffer.from([0, 1, 2, 255]));
  assert.deepEqual(await client.claimDue(queue, { maxJobs: 10 }), []); // not due for 300 ms
  const parked = await queueStats(queue);
  assert.deepEqual({ ...parked, oldestDueAt: null }, { queue, parked: 1, due: 0, leased: 0, parkedBytes: 4, oldestDueAt: null });

  const job = await claimOne(queue, { maxJobs: 10, leaseMs: 5000 });
  const claimedAt = Date.now();
  assert.ok(Date.now() >= decision.retryAt.getTime() - 50, 'claimed before it was due');
  assert.equal(job.jobId, jobId);
  assert.equal(job.jobType, 'mail');
  assert.equal(job.queue, queue);
  assert.ok(Buffer.isBuffer(job.payload));
  assert.deepEqual([...job.payload], [0, 1, 2, 255]);
  assert.equal(job.attempt, 2);
  assert.equal(job.lastError.type, 'ECONNRESET');
  assert.equal(job.lastError.message, 'read ECONNRESET');
  assert.ok(job.dueAt instanceof Date);
  assert.equal(job.dueAt.getTime(), decision.retryAt.getTime());
  assert.equal(typeof job.leaseId, 'string');
  assert.ok(job.leaseId.length > 0);
  assert.ok(job.leaseUntil instanceof Date);
  const left = job.leaseUntil.getTime() - claimedAt;
  assert.ok(left > 4500 && left <= 5000, `lease ends in ${left} ms`);
  assert.equal(job.deliveries, 1);

  const held = await client.getJob(jobId);
  assert.deepEqual([held.queue, held.payloadBytes, held.deliveries], [queue, 4, 1]);
  assert.equal(held.leaseUntil.getTime(), job.leaseUntil.getTime());
  assert.deepEqual({ ...(await queueStats(queue)), oldestDueAt: null }, { queue, parked: 0, due: 0, leased: 1, parkedBytes: 4, oldestDueAt: null });

  const s = await client.reportSuccess(jobId, { jobType: 'mail', leaseId: job.leaseId });
  assert.deepEqual(s, { failuresBeforeSuccess: 1, known: true, local: false });
  assert.equal(await client.getJob(jobId), null);
  assert.equal(await queueStats(queue), null);
});

test('fencing: an old lease is LeaseLost on every call, and changes nothing', async () => {
  const queue = h.uniqueId('q');
  const { jobId } = await park(queue);
  const first = await claimOne(queue, { leaseMs: 300 });
  // Its lease runs out; the job goes to the next claimer.
  const second = await claimOne(queue, { leaseMs: 5000 });
  assert.equal(second.jobId, jobId);
  assert.notEqual(second.leaseId, first.leaseId);
  assert.equal(second.deliveries, 2);
  assert.equal(second.attempt, first.attempt); // a lease run out is no failure

  const withFallback = new Client({ address: sidecars.address, timeoutMs: 2000, fallback: fallback.exponential() });
  try {
    const stale = [
      () => client.reportSuccess(jobId, { leaseId: first.leaseId }),
      () => client.reportFailure(jobId, econnreset(), { leaseId: first.leaseId, attempt: first.attempt }),
      () => withFallback.reportFailure(jobId, econnreset(), { leaseId: first.leaseId, attempt: first.attempt }),
      () => client.extendLease(jobId, first.leaseId, { leaseMs: 1000 }),
      () => client.releaseJob(jobId, first.leaseId),
      // A report without a lease, for a job handed out under one.
      () => client.reportSuccess(jobId),
      () => client.reportFailure(jobId, econnreset()),
    ];
    for (const call of stale) {
      const err = await call().then(() => assert.fail('no LeaseLost'), (e) => e);
      assert.ok(err instanceof LeaseLost, String(err));
      assert.ok(err instanceof RetrydError);
      assert.ok(!(err instanceof Unavailable));
      assert.equal(err.name, 'LeaseLost');
      assert.equal(err.code, 'FAILED_PRECONDITION');
      assert.equal(err.jobId, jobId);
      assert.match(err.details, /^lease_id: /);
    }
  } finally {
    withFallback.close();
  }
  const held = await client.getJob(jobId);
  assert.deepEqual([held.state, held.failureCount, held.deliveries], ['retrying', 1, 2]);

  // The current lease still works: released, due again after the delay, no failure counted.
  await client.releaseJob(jobId, second.leaseId, { delayMs: 400 });
  const releasedAt = Date.now();
  assert.deepEqual(await client.claimDue(queue), []);
  const third = await claimOne(queue);
  assert.ok(Date.now() - releasedAt >= 350, `due again after ${Date.now() - releasedAt} ms`);
  assert.equal(third.attempt, 2);
  assert.equal((await client.getJob(jobId)).failureCount, 1);

  // A permanent error on the current lease: dead, its payload kept.
  const d = await client.reportFailure(jobId, new ValidationError('no such mailbox'), { leaseId: third.leaseId, attempt: third.attempt });
  assert.deepEqual([d.retry, d.reason], [false, 'permanent_error']);
  const dead = await client.getJob(jobId);
  assert.deepEqual([dead.state, dead.payloadBytes, dead.leaseUntil], ['dead', 7, null]);
});

test('extendLease keeps a claimed job past its first lease', async () => {
  const queue = h.uniqueId('q');
  const { jobId } = await park(queue);
  const job = await claimOne(queue, { leaseMs: 500 });
  await h.sleep(300);
  const until = await client.extendLease(jobId, job.leaseId, { leaseMs: 1500 });
  assert.ok(until instanceof Date);
  assert.ok(until.getTime() > job.leaseUntil.getTime() + 900, `${until.getTime() - job.leaseUntil.getTime()} ms later`);
  await h.sleep(600); // past the first lease's end
  assert.deepEqual(await client.claimDue(queue), []);
  assert.equal((await client.getJob(jobId)).deliveries, 1);
  await client.reportSuccess(jobId, { leaseId: job.leaseId });
  assert.equal(await client.getJob(jobId), null);
});

test('watchDue streams due jobs, never more than maxInFlight unsettled; ending it releases what it held back', async () => {
  const queue = h.uniqueId('q');
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await park(queue, `{"n":${i}}`)).jobId);
  const ac = new AbortController();
  const stream = client.watchDue(queue, { maxInFlight: 2, leaseMs: 10000, signal: ac.signal });
  const it = stream[Symbol.asyncIterator]();
  const a = (await it.next()).value;
  // The second is handed out too (and held by the stream), the third not:
  // two are unsettled.
  await h.eventually('two handed out', async () => (await queueStats(queue)).leased === 2);
  await h.sleep(300);
  assert.deepEqual([(await queueStats(queue)).leased, (await queueStats(queue)).due], [2, 1]);
  const b = (await it.next()).value;
  // Settling one frees its slot at once.
  await client.reportSuccess(a.jobId, { leaseId: a.leaseId });
  const c = (await it.next()).value;
  assert.deepEqual([a.jobId, b.jobId, c.jobId].sort(), [...ids].sort());
  await client.reportSuccess(b.jobId, { leaseId: b.leaseId });
  // One more parked: the stream hands it over (held, not taken) before the abort.
  const { jobId: d } = await park(queue);
  await h.eventually('the fourth handed out', async () => (await queueStats(queue)).leased === 2);
  ac.abort();
  assert.deepEqual(await it.next(), { value: undefined, done: true });
  // c is ours to settle; d, never taken from the stream, is due again (after 200 ms).
  await h.eventually('the held-back job released', async () => {
    const q = await queueStats(queue);
    return q.leased === 1 && q.due === 1;
  });
  await client.releaseJob(c.jobId, c.leaseId);
  const again = await client.claimDue(queue, { maxJobs: 10 });
  assert.deepEqual(again.map((j) => j.jobId).sort(), [c.jobId, d].sort());
  for (const j of again) await client.reportSuccess(j.jobId, { leaseId: j.leaseId });

  // break in a for-await ends it too.
  const { jobId: e } = await park(queue);
  for await (const job of client.watchDue(queue)) {
    assert.equal(job.jobId, e);
    await client.reportSuccess(job.jobId, { leaseId: job.leaseId });
    break;
  }
  assert.equal(await queueStats(queue), null);
});

test('arguments are checked before anything is sent, each error naming its argument', async () => {
  const bad = [
    [() => client.claimDue(''), TypeError, /^queue must be a non-empty string, got ""/],
    [() => client.claimDue(7), TypeError, /^queue must be a non-empty string, got 7/],
    [() => client.claimDue('q', { maxJobs: 0 }), RangeError, /^maxJobs must be from 1 to 1000, got 0/],
    [() => client.claimDue('q', { maxJobs: 1.5 }), TypeError, /^maxJobs must be an integer/],
    [() => client.claimDue('q', { leaseMs: 0 }), RangeError, /^leaseMs must be more than 0 and at most 43200000/],
    [() => client.claimDue('q', { leaseMs: 13 * 3600 * 1000 }), RangeError, /^leaseMs must be more than 0/],
    [() => client.claimDue('q', { leaseMs: '5s' }), TypeError, /^leaseMs must be a number of milliseconds/],
    [() => client.watchDue('q', { maxInFlight: 1001 }), RangeError, /^maxInFlight must be from 1 to 1000, got 1001/],
    [() => client.watchDue(''), TypeError, /^queue must be/],
    [() => client.watchDue('q', { signal: 'stop' }), TypeError, /^signal must be an AbortSignal/],
    [() => client.extendLease('', 'l'), TypeError, /^jobId must be a non-empty string/],
    [() => client.extendLease('j', undefined), TypeError, /^leaseId must be a non-empty string, got undefined/],
    [() => client.extendLease('j', 'l', { leaseMs: -1 }), RangeError, /^leaseMs must be more than 0/],
    [() => client.releaseJob('j', ''), TypeError, /^leaseId must be a non-empty string/],
    [() => client.releaseJob('j', 'l', { delayMs: -5 }), RangeError, /^delayMs must be a finite number of milliseconds, not negative/],
    [() => client.reportFailure('j', new Error('x'), { payload: { a: 1 } }), TypeError, /^payload must be a Buffer, a Uint8Array, an ArrayBuffer or a string, got a Object/],
    [() => client.reportFailure('j', new Error('x'), { queue: 5 }), TypeError, /^queue must be a string, got 5/],
    [() => client.reportFailure('j', new Error('x'), { leaseId: 5 }), TypeError, /^leaseId must be a string/],
    [() => client.reportSuccess('j', { leaseId: ['l'] }), TypeError, /^leaseId must be a string, got an array/],
    [() => new Worker('', async () => {}, { client }), TypeError, /^queue must be a non-empty string/],
    [() => new Worker('q', 'handler', { client }), TypeError, /^handler must be a function/],
    [() => new Worker('q', async () => {}, { client, concurrency: 0 }), RangeError, /^concurrency must be from 1 to 1000/],
    [() => new Worker('q', async () => {}, { client, leaseMs: 0 }), RangeError, /^leaseMs must be more than 0/],
    [() => new Worker('q', async () => {}, { client: {} }), TypeError, /^client must be a retryd Client/],
    [() => new Worker('q', async () => {}, { client, address: '127.0.0.1:1' }), TypeError, /client or address, not both/],
    [() => relay('q', null, { client }), TypeError, /^publish must be a function/],
    [() => relay('q', async () => {}, { client, maxInFlight: -1 }), RangeError, /^maxInFlight must be from 1 to 1000/],
    [() => relay('q', async () => {}, { client, releaseDelayMs: -1 }), RangeError, /^releaseDelayMs must be/],
  ];
  for (const [call, type, message] of bad) {
    let err;
    try {
      await call();
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof type, `${call}: ${err}`);
    assert.match(err.message, message, String(call));
  }
  // Nothing reached retryd: no job 'j' exists.
  assert.equal(await client.getJob('j'), null);
});

test('payloads: over the bound is RESOURCE_EXHAUSTED naming payload; a report with one is never decided locally', async () => {
  const id = h.uniqueId();
  const err = await client.reportFailure(id, econnreset(), { payload: Buffer.alloc(300 * 1024) }).catch((e) => e);
  assert.ok(err instanceof RetrydError, String(err));
  assert.ok(!(err instanceof Unavailable), 'a payload too large is no outage');
  assert.equal(err.code, 'RESOURCE_EXHAUSTED');
  assert.match(err.details, /^payload: /);
  assert.equal(await client.getJob(id), null);
  // A string and a Uint8Array are sent as their bytes.
  await client.reportFailure(id, econnreset(), { payload: 'é' });
  assert.equal((await client.getJob(id)).payloadBytes, 2);
  await client.reportFailure(id, econnreset(), { payload: new Uint8Array([1, 2, 3]), attempt: 2 });
  assert.equal((await client.getJob(id)).payloadBytes, 3);

  const down = new Client({ address: `127.0.0.1:${await h.freePort()}`, timeoutMs: 300, fallback: fallback.exponential() });
  try {
    assert.equal((await down.reportFailure('x', econnreset(), { attempt: 1 })).local, true);
    assert.ok((await down.reportFailure('x', econnreset(), { attempt: 1, payload: 'p' }).catch((e) => e)) instanceof Unavailable);
    assert.ok((await down.reportSuccess('x', { leaseId: 'l' }).catch((e) => e)) instanceof Unavailable);
  } finally {
    down.close();
  }
});

// --- Worker ------------------------------------------------------------------

/** Resolves with the arguments of the next `event` of `emitter`. */
function next(emitter, event, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (...a) => { clearTimeout(t); resolve(a); });
  });
}

test('Worker: a job that fails transiently is parked again, then succeeds; a permanent error dies at once', async () => {
  const queue = h.uniqueId('q');
  const runs = [];
  const failures = [];
  const worker = new Worker(queue, async (job) => {
    const body = JSON.parse(job.payload);
    runs.push([job.jobId, job.attempt, body.to]);
    if (body.to === 'nobody') throw new ValidationError('no such mailbox');
    if (job.attempt < 3) throw econnreset();
    return `sent to ${body.to}`;
  }, { client, concurrency: 2, leaseMs: 5000 });
  worker.on('failed', (job, err, d) => failures.push([job.jobId, job.attempt, err.code || err.name, d.retry, d.reason]));
  const problems = [];
  worker.on('error', (e) => problems.push(e));
  try {
    const completed = next(worker, 'completed');
    const { jobId: ok } = await park(queue, '{"to":"a@b"}');
    const [job, result] = await completed;
    assert.equal(job.jobId, ok);
    assert.equal(result, 'sent to a@b');
    assert.deepEqual(runs, [[ok, 2, 'a@b'], [ok, 3, 'a@b']]);
    assert.deepEqual(failures, [[ok, 2, 'ECONNRESET', true, null]]);
    assert.equal(await client.getJob(ok), null);

    const failed = next(worker, 'failed');
    const { jobId: bad } = await park(queue, '{"to":"nobody"}');
    const [, err, d] = await failed;
    assert.equal(err.name, 'ValidationError');
    assert.deepEqual([d.retry, d.reason], [false, 'permanent_error']);
    const dead = await client.getJob(bad);
    assert.deepEqual([dead.state, dead.failureCount, dead.payloadBytes], ['dead', 2, 15]);
    await h.sleep(500);
    assert.equal(runs.filter(([id]) => id === bad).length, 1);
    assert.deepEqual(problems, []);
  } finally {
    await worker.close();
  }
});

test('Worker: a run longer than its lease keeps the job (the lease is extended)', async () => {
  const queue = h.uniqueId('q');
  let started;
  const worker = new Worker(queue, async (job) => {
    started = job;
    await h.sleep(2000); // more than three leases
    return job.leaseUntil;
  }, { client, leaseMs: 600 });
  try {
    const completed = next(worker, 'completed');
    const { jobId } = await park(queue);
    await h.eventually('the run started', () => started);
    const firstUntil = started.leaseUntil.getTime();
    await h.sleep(1000);
    // Another claimer gets nothing, the job is still on its first hand-out.
    assert.deepEqual(await client.claimDue(queue), []);
    const held = await client.getJob(jobId);
    assert.equal(held.deliveries, 1);
    assert.ok(held.leaseUntil.getTime() > firstUntil + 500, 'the lease was not extended');
    const [, lastUntil] = await completed;
    assert.ok(lastUntil.getTime() > firstUntil + 1500);
    assert.equal(await client.getJob(jobId), null);
  } finally {
    await worker.close();
  }
});

test('Worker: a lease lost while settling is a leaseLost event, not a throw', async () => {
  const queue = h.uniqueId('q');
  // A client that never extends: the lease runs out under the handler.
  const lazy = Object.create(client);
  lazy.extendLease = async () => null;
  let release;
  const worker = new Worker(queue, () => new Promise((r) => { release = r; }), { client: lazy, leaseMs: 400 });
  const problems = [];
  worker.on('error', (e) => problems.push(e));
  try {
    const lost = next(worker, 'leaseLost');
    const { jobId } = await park(queue);
    await h.eventually('the run started', () => release);
    // After the lease ran out (the worker's own stream may have been handed
    // the job again meanwhile, and handed it back: its only slot is busy).
    const other = await claimOne(queue, { leaseMs: 10000 });
    assert.ok(other.deliveries >= 2);
    release('done');
    const [job, err] = await lost;
    assert.equal(job.jobId, jobId);
    assert.ok(err instanceof LeaseLost);
    assert.equal(job.signal.aborted, true);
    assert.equal(job.signal.reason, err);
    // The other claimer still holds the job and settles it.
    await client.reportSuccess(jobId, { leaseId: other.leaseId });
    assert.deepEqual(problems, []);
  } finally {
    await worker.close();
  }
});

test('Worker: a worker SIGKILLed mid-job loses it to another worker after its lease', async () => {
  const queue = h.uniqueId('q');
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'hanging-worker.js'), sidecars.address, queue, '1000'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((r) => child.once('exit', (code, signal) => r(signal)));
  let worker;
  try {
    const started = new Promise((resolve) => {
      let buf = '';
      child.stdout.on('data', (d) => {
        buf += d;
        if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0]));
      });
    });
    const { jobId } = await park(queue);
    const first = await Promise.race([started, h.sleep(10000).then(() => { throw new Error('the child never started the job'); })]);
    assert.deepEqual([first.jobId, first.attempt, first.deliveries], [jobId, 2, 1]);
    await h.sleep(500); // the child has extended its lease at least once
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    const killedAt = Date.now();
    const runs = [];
    worker = new Worker(queue, async (job) => { runs.push(job); }, { client, leaseMs: 5000 });
    const [job] = await next(worker, 'completed');
    const waited = Date.now() - killedAt;
    assert.equal(job.jobId, jobId);
    assert.notEqual(job.leaseId, first.leaseId);
    assert.equal(job.deliveries, 2);
    assert.equal(job.attempt, 2); // the run that died counts as no failure
    assert.ok(waited >= 200 && waited < 3000, `came back ${waited} ms after the kill`);
    assert.equal(runs.length, 1);
    assert.equal(await client.getJob(jobId), null);
  } finally {
    child.kill('SIGKILL');
    if (worker) await worker.close();
  }
});

test('Worker.close(): stops claiming, waits for the running handler and its report', async () => {
  const queue = h.uniqueId('q');
  let finished = false;
  const worker = new Worker(queue, async () => {
    await h.sleep(600);
    finished = true;
  }, { client, leaseMs: 5000 });
  const { jobId } = await park(queue);
  await h.eventually('the run started', async () => (await client.getJob(jobId)).deliveries === 1);
  const closedEvent = next(worker, 'closed');
  const closing = worker.close();
  assert.equal(worker.close(), closing);
  await closing;
  assert.equal(finished, true);
  await closedEvent;
  assert.equal(await client.getJob(jobId), null); // its success was reported before close() resolved
  // Nothing is claimed any more.
  const { jobId: later } = await park(queue);
  await h.sleep(800);
  const q = await queueStats(queue);
  assert.deepEqual([q.due, q.leased], [1, 0]);
  assert.equal((await client.getJob(later)).deliveries, 0);
});

test('Worker: reconnects when the sidecar restarts', async () => {
  const own = await h.startDeliverySidecars();
  const c = new Client({ address: own.address, timeoutMs: 1000 });
  const queue = h.uniqueId('q');
  const done = [];
  const worker = new Worker(queue, async (job) => { done.push(job.jobId); }, { address: own.address, leaseMs: 5000, logger: null });
  worker.on('error', () => {}); // the stream breaking while the sidecar is down
  try {
    await c.reportFailure('before', econnreset(), { queue, payload: 'x' });
    await h.eventually('the job before the restart ran', () => done.includes('before'));
    await own.restart();
    // The client's channel finds the sidecar again at once.
    await h.eventually('the sidecar answers', () => c.reportFailure('after', econnreset(), { queue, payload: 'y' }).then(() => true, () => false));
    await h.eventually('the job after the restart ran', () => done.includes('after'), 8000);
    await h.eventually('settled', async () => (await c.getJob('after')) === null);
  } finally {
    await worker.close();
    c.close();
    await own.stop();
  }
});
