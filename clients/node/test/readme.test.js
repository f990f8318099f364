'use strict';

// Every ```js block of this package's README and of the repository README's
// Node.js section compiles as the CommonJS file a user would paste it into
// (no top-level await), and the two that are a function of the
// application's own code run as written, against a live sidecar, with that
// code (work, requeue, deadLetter) defined after them; so does the BullMQ
// snippet, on a redis-server of its own, with a charge() that fails twice.
// The Worker and RabbitMQ snippets run whole in example.test.js and
// rabbitmq.test.js.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const { Client } = require('..');
const h = require('./helpers');

const PKG = path.resolve(__dirname, '..');

/** The ```js blocks of `file` (all of them, or those after `from` up to the next `**` paragraph). */
function blocks(file, from) {
  let text = fs.readFileSync(file, 'utf8');
  if (from) {
    const at = text.indexOf(from);
    assert.ok(at >= 0, `${file} has no ${from}`);
    text = text.slice(at);
    const next = text.indexOf('\n**', from.length);
    if (next > 0) text = text.slice(0, next);
  }
  return [...text.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

const own = blocks(path.join(PKG, 'README.md'));
const [top] = blocks(path.join(h.ROOT, 'README.md'), '**Node.js**');

let sidecar;
let dir;

before(async () => {
  sidecar = await h.startRetryd(undefined, '');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'retryd-readme-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(PKG, path.join(dir, 'node_modules', 'retryd'), 'dir');
});

after(async () => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  if (sidecar) await sidecar.stop();
});

/** Runs `code` as app.js in the test's folder; its stdout. */
function run(code, env = {}) {
  const file = path.join(dir, 'app.js');
  fs.writeFileSync(file, code);
  return execFileSync(process.execPath, [file], {
    cwd: dir, env: { ...process.env, RETRYD_ADDR: sidecar.address, ...env }, encoding: 'utf8', timeout: 30000,
  });
}

test('every js block of the READMEs compiles as a CommonJS file', () => {
  assert.ok(own.length >= 5, `only ${own.length} blocks in README.md`);
  assert.ok(top, 'the repository README has a Node.js block');
  for (const [i, code] of [...own, top].entries()) {
    const file = path.join(dir, `block-${i}.js`);
    fs.writeFileSync(file, code);
    try {
      execFileSync(process.execPath, ['--check', file], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      assert.fail(`block ${i} does not compile:\n${code}\n${e.stderr}`);
    }
  }
});

test("the README's first snippet runs as written: two retries, then the success is reported", async () => {
  const [snippet] = own;
  assert.match(snippet, /async function run\(job\)/);
  const out = run(`${snippet}
function work(job) {
  if (job.attempt < 3) throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
}
const seen = [];
function requeue(job, ms) { seen.push(ms > 0 ? 'requeue' : 'requeue now'); }
function deadLetter(job, why) { seen.push(\`dead \${why}\`); }
(async () => {
  for (let attempt = 1; attempt <= 3; attempt++) await run({ id: 'readme-run', attempt });
  console.log(JSON.stringify(seen));
  retryd.close();
})();
`);
  assert.deepEqual(JSON.parse(out), ['requeue', 'requeue']);
  const c = new Client({ address: sidecar.address });
  try {
    assert.equal(await c.getJob('readme-run'), null, 'the success was reported');
  } finally {
    c.close();
  }
});

test("the repository README's Node.js snippet runs as written: a validation error is dead-lettered", async () => {
  assert.match(top, /async function onFailure\(doc, err, attempt\)/);
  const out = run(`${top}
function requeue(doc, ms) { console.log(\`requeue \${doc.id} \${ms}\`); }
function deadLetter(doc, why) { console.log(\`dead \${doc.id} \${why.split(':')[0]}\`); }
const invalid = Object.assign(new Error('amount must be positive'), { name: 'ValidationError' });
onFailure({ id: 'readme-top' }, invalid, 1).then(() => client.close());
`);
  assert.equal(out.trim(), 'dead readme-top permanent_error');
  const c = new Client({ address: sidecar.address });
  try {
    assert.equal((await c.getJob('readme-top')).state, 'dead');
  } finally {
    c.close();
  }
});

test("the BullMQ snippet runs as written: retried as retryd says, then done", async () => {
  const snippet = own.find((b) => b.includes("require('bullmq')"));
  assert.ok(snippet, 'README.md has a BullMQ block');
  // What a user installs beside retryd: bullmq and ioredis.
  for (const dep of ['bullmq', 'ioredis']) {
    const link = path.join(dir, 'node_modules', dep);
    if (!fs.existsSync(link)) fs.symlinkSync(path.join(PKG, 'node_modules', dep), link, 'dir');
  }
  const [fast, redis] = await Promise.all([h.startRetryd(), h.startRedis()]); // 100 ms retries
  try {
    const out = run(`${snippet}
let calls = 0;
function charge(data) {
  calls += 1;
  if (calls < 3) throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  return \`charged \${data.invoice}\`;
}
(async () => {
  const job = await queue.add('invoice', { invoice: 'inv-7' });
  const deadline = Date.now() + 20000;
  while (!(await job.isCompleted()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const done = await queue.getJob(job.id);
  console.log(JSON.stringify({ calls, attemptsMade: done.attemptsMade, returnvalue: done.returnvalue }));
  process.exit(0);
})();
`, { RETRYD_ADDR: fast.address, REDIS_PORT: String(redis.port) });
    assert.deepEqual(JSON.parse(out), { calls: 3, attemptsMade: 3, returnvalue: 'charged inv-7' });
  } finally {
    await Promise.all([fast.stop(), redis.stop()]);
  }
});
