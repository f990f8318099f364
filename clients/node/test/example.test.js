'use strict';

// examples/node/worker.js, a BullMQ worker on the package, against a live
// sidecar with the built-in policies and a real redis-server: every decision
// it logs is the one retryd gives. And README.md's Worker snippet, as
// written, against a sidecar with delivery's short backoff (its RabbitMQ
// snippet runs in rabbitmq.test.js, on that file's broker).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');

const { Client } = require('..');
const h = require('./helpers');

let sidecar;
let redis;
let modules;

before(async () => {
  [sidecar, redis] = await Promise.all([h.startRetryd(undefined, ''), h.startRedis()]);
  // The example requires 'retryd' and 'bullmq' as an installed application
  // would: the package by its name, its dependencies from its node_modules.
  modules = fs.mkdtempSync(path.join(os.tmpdir(), 'retryd-example-'));
  fs.symlinkSync(path.resolve(__dirname, '..'), path.join(modules, 'retryd'), 'dir');
});

after(async () => {
  if (modules) fs.rmSync(modules, { recursive: true, force: true });
  if (redis) await redis.stop();
  if (sidecar) await sidecar.stop();
});

test('the example worker follows the decisions', async () => {
  const script = path.join(h.ROOT, 'examples', 'node', 'worker.js');
  const stdout = await new Promise((resolve, reject) => {
    execFile(process.execPath, [script, '--demo', '--time-scale', '0', '--addr', sidecar.address,
      '--redis', `redis://127.0.0.1:${redis.port}`, '--queue', 'invoices-test'], {
      env: { ...process.env, NODE_PATH: [modules, path.resolve(__dirname, '..', 'node_modules')].join(path.delimiter) },
      timeout: 60000,
    }, (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)));
  });
  const events = stdout.trim().split('\n').map((l) => JSON.parse(l));
  const of = (id) => events.filter((e) => e.job_id === id).map((e) => {
    if (e.event === 'retry') return `retry ${e.delay_ms}`;
    if (e.event === 'give_up') return `give_up ${e.reason}`;
    return `${e.event} at ${e.attempt}`;
  });
  assert.deepEqual(of('invoice-1'), ['success at 1']);
  assert.deepEqual(of('invoice-2'), ['retry 2000', 'retry 4000', 'success at 3']);
  assert.deepEqual(of('invoice-3'), ['give_up permanent_error']);
  assert.deepEqual(of('invoice-4'), ['retry 2000', 'retry 4000', 'give_up retries_exhausted']);
  assert.deepEqual(of('invoice-5'), ['retry 7000', 'success at 2']);
  assert.deepEqual(events.at(-1), { event: 'done', failed: ['invoice-3', 'invoice-4'] });

  // retryd holds exactly the dead letters; the succeeded jobs are forgotten.
  const c = new Client({ address: sidecar.address });
  try {
    for (const id of ['invoice-1', 'invoice-2', 'invoice-5']) assert.equal(await c.getJob(`invoices-test:${id}`), null);
    for (const id of ['invoice-3', 'invoice-4']) assert.equal((await c.getJob(`invoices-test:${id}`)).state, 'dead');
  } finally {
    c.close();
  }
});

test("README's Worker snippet: the first attempt parks the webhook, the worker retries it until it is delivered", async () => {
  const [snippet] = h.readmeSnippets('Worker: retryd as the retry queue');
  assert.match(snippet, /new Worker\('webhook'/);
  const sidecars = await h.startDeliverySidecars();
  const hooks = await h.scriptedServer({ '/hook': [503, 503, 200] });
  let app;
  try {
    app = h.runSnippet(snippet, { RETRYD_ADDR: sidecars.address, HOOK_URL: `${hooks.url}/hook` });
    await app.waitFor(/delivered/);
    await app.stop();
    assert.deepEqual(app.lines, [
      'hook-1: attempt 1 failed, retry in 300 ms',
      'hook-1: attempt 2 failed, retry in 300 ms',
      'hook-1: delivered at attempt 3',
    ]);
    assert.deepEqual(hooks.requests.map((r) => [r.method, r.body]), Array(3).fill(['POST', '{"type":"invoice.paid"}']));
    const c = new Client({ address: sidecars.address });
    try {
      assert.equal(await c.getJob('hook-1'), null);
    } finally {
      c.close();
    }
  } finally {
    if (app) await app.stop().catch(() => {});
    await hooks.close();
    await sidecars.stop();
  }
});
