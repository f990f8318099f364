'use strict';

// A real BullMQ Queue and Worker on a real redis-server, with retryd deciding.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Queue, Worker, UnrecoverableError } = require('bullmq');

const { Client } = require('..');
const { retrydBackoff, retrydJobOptions, withRetryd } = require('../bullmq');
const h = require('./helpers');

let sidecar;
let redis;
let client;
const open = [];

before(async () => {
  [sidecar, redis] = await Promise.all([h.startRetryd(), h.startRedis()]);
  client = new Client({ address: sidecar.address, timeoutMs: 2000 });
});

after(async () => {
  for (const c of open.reverse()) await c.close();
  if (client) client.close();
  if (redis) await redis.stop();
  if (sidecar) await sidecar.stop();
});

/** Counts the reports, to check that retryd is asked once per failed attempt. */
class CountingClient extends Client {
  constructor(options) {
    super(options);
    this.attempts = [];
  }

  reportFailure(jobId, error, options) {
    this.attempts.push(options && options.attempt);
    return super.reportFailure(jobId, error, options);
  }
}

class ValidationError extends Error {}
ValidationError.prototype.name = 'ValidationError';

/** The processor: fails as job.data says; records when each run started. */
function makeProcessor(runs) {
  return async (job) => {
    const mine = runs.get(job.id) || [];
    mine.push(Date.now());
    runs.set(job.id, mine);
    if (job.data.kind === 'invalid') throw new ValidationError('amount must be positive');
    if (mine.length <= job.data.failures) {
      const err = new Error('read ECONNRESET');
      err.code = 'ECONNRESET';
      throw err;
    }
    return mine.length;
  };
}

/** A queue and a worker; `wrapped`: the processor goes through withRetryd. */
async function setUp(wrapped) {
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
  const name = h.uniqueId('q');
  const runs = new Map();
  const failures = new Map();
  const queue = new Queue(name, { connection, defaultJobOptions: retrydJobOptions });
  const processor = makeProcessor(runs);
  const counting = new CountingClient({ address: sidecar.address, timeoutMs: 2000 });
  const worker = new Worker(name, wrapped ? withRetryd(processor, counting) : processor, {
    connection,
    concurrency: 4,
    settings: { backoffStrategy: retrydBackoff(counting) },
  });
  worker.on('failed', (job, err) => failures.set(job.id, err));
  worker.on('error', () => {});
  open.push({ close: async () => counting.close() }, queue, worker);
  await worker.waitUntilReady();
  return { name, queue, runs, failures, counting };
}

async function settled(queue, id, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await queue.getJobState(id);
    // Read the job once it has settled, not before (it may settle in between).
    if (state === 'completed' || state === 'failed') return { job: await queue.getJob(id), state };
    if (Date.now() > deadline) throw new Error(`job ${id} still ${state} after ${timeoutMs}ms`);
    await h.sleep(25);
  }
}

function gaps(times) {
  return times.slice(1).map((t, i) => t - times[i]);
}

test('wrapped: transient failures, then success after the retries retryd allowed', async () => {
  const { name, queue, runs, counting } = await setUp(true);
  const added = await queue.add('charge', { failures: 2 });
  const { job, state } = await settled(queue, added.id);
  assert.equal(state, 'completed');
  assert.equal(job.returnvalue, 3);
  assert.equal(runs.get(added.id).length, 3);
  // Asked once per failed attempt, with BullMQ's attempt numbers; the backoff
  // strategy used the decision the wrapper got.
  assert.deepEqual(counting.attempts, [1, 2]);
  // BullMQ waited retryd's delay (100 ms) before each retry.
  for (const g of gaps(runs.get(added.id))) assert.ok(g >= h.DELAY_MS * 0.9 && g < 5000, `gap ${g}ms`);
  // The success was reported: retryd holds nothing for the job.
  assert.equal(await client.getJob(`${name}:${added.id}`), null);
});

test('wrapped: a permanent error fails the job after one attempt, unrecoverable, with the reason', async () => {
  const { name, queue, runs, failures } = await setUp(true);
  const added = await queue.add('charge', { kind: 'invalid' });
  const { job, state } = await settled(queue, added.id);
  assert.equal(state, 'failed');
  assert.equal(runs.get(added.id).length, 1);
  assert.equal(job.attemptsMade, 1);
  assert.match(job.failedReason, /permanent_error/);
  assert.match(job.failedReason, /ValidationError: amount must be positive/);
  assert.ok(failures.get(added.id) instanceof UnrecoverableError);
  const held = await client.getJob(`${name}:${added.id}`);
  assert.equal(held.state, 'dead');
  assert.equal(held.jobType, 'charge');
});

test('wrapped: a job that keeps failing ends after max attempts', async () => {
  const { queue, runs, failures, counting } = await setUp(true);
  const added = await queue.add('charge', { failures: 100 });
  const { job, state } = await settled(queue, added.id);
  assert.equal(state, 'failed');
  assert.equal(runs.get(added.id).length, h.MAX_ATTEMPTS);
  assert.deepEqual(counting.attempts, [1, 2, 3, 4]);
  assert.equal(job.attemptsMade, h.MAX_ATTEMPTS);
  assert.match(job.failedReason, /retries_exhausted/);
  assert.ok(failures.get(added.id) instanceof UnrecoverableError);
  for (const g of gaps(runs.get(added.id))) assert.ok(g >= h.DELAY_MS * 0.9, `gap ${g}ms`);
});

test('backoff strategy alone (processor not wrapped): retries as retryd says, fails on give-up', async () => {
  const { queue, runs, counting } = await setUp(false);
  const flaky = await queue.add('charge', { failures: 1 });
  const invalid = await queue.add('charge', { kind: 'invalid' });
  const ok = await settled(queue, flaky.id);
  assert.equal(ok.state, 'completed');
  assert.equal(runs.get(flaky.id).length, 2);
  assert.ok(gaps(runs.get(flaky.id))[0] >= h.DELAY_MS * 0.9);
  const bad = await settled(queue, invalid.id);
  assert.equal(bad.state, 'failed');
  assert.equal(runs.get(invalid.id).length, 1);
  // The strategy asked retryd itself, with BullMQ's attemptsMade + 1.
  assert.deepEqual(counting.attempts.sort(), [1, 1]);
});
