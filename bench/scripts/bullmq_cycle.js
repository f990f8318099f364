// BullMQ's delayed-job cycle, the peer of `retryd-bench delivery`: producers
// add delayed jobs with 1 KiB of data (delay 1 ms, as retryd's policy), a
// Worker runs them (doing nothing) and completes them; the completions per
// second over the measured window, and each job's lag from its due time to
// the moment its processor ran. Same Redis, same counts as retryd's run.
//
//   NODE_PATH=clients/node/node_modules node bench/scripts/bullmq_cycle.js \
//     --port 6379 --concurrency 64 --payload 1024 --duration 8 --warmup 2
//
// Prints one JSON object.
'use strict';
const { Queue, Worker } = require('bullmq');

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const port = arg('port', 6379);
const concurrency = arg('concurrency', 64);
const payloadBytes = arg('payload', 1024);
const duration = arg('duration', 8) * 1000;
const warmup = arg('warmup', 2) * 1000;
const backlog = arg('backlog', 10000);

async function main() {
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
  const name = `bench-${process.pid}`;
  const queue = new Queue(name, { connection });
  const data = { p: 'x'.repeat(payloadBytes) };
  let produced = 0;
  let done = 0;
  let measuring = false;
  let counted = 0;
  const lags = [];
  const worker = new Worker(
    name,
    async (job) => {
      if (measuring) {
        const due = job.timestamp + (job.opts.delay || 0);
        lags.push(Date.now() - due);
      }
    },
    { connection, concurrency, removeOnComplete: { count: 0 }, removeOnFail: { count: 0 } },
  );
  worker.on('completed', () => {
    done += 1;
    if (measuring) counted += 1;
  });
  await worker.waitUntilReady();
  let stop = false;
  const producers = [];
  for (let i = 0; i < concurrency; i += 1) {
    producers.push((async () => {
      while (!stop) {
        if (produced - done > backlog) {
          await new Promise((r) => setTimeout(r, 1));
          continue;
        }
        produced += 1;
        await queue.add('j', data, { delay: 1, removeOnComplete: true, removeOnFail: true });
      }
    })());
  }
  await new Promise((r) => setTimeout(r, warmup));
  measuring = true;
  const started = Date.now();
  await new Promise((r) => setTimeout(r, duration));
  measuring = false;
  const secs = (Date.now() - started) / 1000;
  stop = true;
  await Promise.all(producers);
  lags.sort((a, b) => a - b);
  const q = (f) => (lags.length ? lags[Math.min(lags.length - 1, Math.floor(f * lags.length))] : 0);
  console.log(JSON.stringify({
    target: 'bullmq',
    cycles_per_second: Math.round(counted / secs),
    lag_p50_ms: q(0.5),
    lag_p99_ms: q(0.99),
  }));
  await worker.close();
  await queue.obliterate({ force: true }).catch(() => {});
  await queue.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
