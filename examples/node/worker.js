'use strict';

// A BullMQ worker whose retries retryd decides.
//
// The processor is wrapped by withRetryd: when it throws, retryd is asked
// (with BullMQ's attempt number); BullMQ retries after retryd's delay (the
// worker's backoffStrategy), or the job fails at once when retryd gives up,
// with retryd's reason. On success retryd is told, and forgets the job.
//
//   npm install                 # retryd (../../clients/node), bullmq, ioredis
//   node worker.js --demo       # RETRYD_ADDR and REDIS_URL, or --addr and --redis

const { parseArgs } = require('node:util');
const { Queue, Worker } = require('bullmq');
const { Client } = require('retryd');
const { decisionFor, retrydBackoff, retrydJobOptions, withRetryd } = require('retryd/bullmq');

/** What an HTTP client throws: the status and the server's Retry-After. */
class HTTPError extends Error {
  constructor(status, message, retryAfter) {
    super(message || `HTTP ${status}`);
    this.name = 'HTTPError';
    this.response = { status, headers: retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) } };
  }
}

class ValidationError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ValidationError';
  }
}

function econnreset() {
  const err = new Error('read ECONNRESET');
  err.code = 'ECONNRESET';
  return err;
}

// Each demo job fails by its script, attempt by attempt, then succeeds.
const DEMO = {
  'invoice-1': [],
  'invoice-2': [econnreset, econnreset],
  'invoice-3': [() => new ValidationError('amount must be positive')],
  'invoice-4': Array(10).fill(() => new HTTPError(503, 'service unavailable')),
  'invoice-5': [() => new HTTPError(429, 'slow down', 7)],
};

async function demoProcessor(job) {
  const script = DEMO[job.id];
  const attempt = job.attemptsMade + 1;
  if (attempt <= script.length) throw script[attempt - 1]();
  return { invoice: job.id, attempt };
}

function log(event) {
  console.log(JSON.stringify(event));
}

function redisConnection(url) {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
}

async function main() {
  const { values } = parseArgs({
    options: {
      demo: { type: 'boolean', default: false },
      addr: { type: 'string', default: process.env.RETRYD_ADDR || '127.0.0.1:50051' },
      redis: { type: 'string', default: process.env.REDIS_URL || 'redis://127.0.0.1:6379' },
      queue: { type: 'string', default: `invoices-${Date.now()}` },
      // Multiplies retryd's delays (0 = do not wait; for tests).
      'time-scale': { type: 'string', default: '1' },
    },
  });
  if (!values.demo) {
    console.error('only --demo is built in: see the code for how to wrap your own processor');
    process.exit(2);
  }
  const scale = Number(values['time-scale']);
  const connection = redisConnection(values.redis);
  const retryd = new Client({ address: values.addr, timeoutMs: 2000 });
  const backoff = retrydBackoff(retryd);

  const queue = new Queue(values.queue, { connection, defaultJobOptions: retrydJobOptions });
  const worker = new Worker(values.queue, withRetryd(demoProcessor, retryd), {
    connection,
    settings: { backoffStrategy: async (...args) => Math.round((await backoff(...args)) * scale) },
  });

  const pending = new Set(Object.keys(DEMO));
  const failed = [];
  const finished = new Promise((resolve) => {
    const settle = (id) => {
      pending.delete(id);
      if (pending.size === 0) resolve();
    };
    worker.on('completed', (job) => {
      log({ job_id: job.id, attempt: job.attemptsMade, event: 'success' });
      settle(job.id);
    });
    worker.on('failed', (job, err) => {
      const d = decisionFor(err);
      if (d && d.retry) {
        log({ job_id: job.id, attempt: job.attemptsMade, event: 'retry', delay_ms: d.retryAfterMs, category: d.category, explanation: d.explanation });
        return;
      }
      log({ job_id: job.id, attempt: job.attemptsMade, event: 'give_up', reason: d ? d.reason : null, category: d ? d.category : null, message: err.message });
      failed.push(job.id);
      settle(job.id);
    });
  });
  worker.on('error', (err) => console.error(`worker: ${err.message}`));

  for (const id of Object.keys(DEMO)) await queue.add('invoice', {}, { jobId: id });
  await finished;
  await worker.close();
  await queue.close();
  retryd.close();
  log({ event: 'done', failed: failed.sort() });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
