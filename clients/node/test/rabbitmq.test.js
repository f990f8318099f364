'use strict';

// Delivery through a real RabbitMQ (amqplib): consumers report failed runs
// with the message body (retrydamqplib.consume), retryd parks them, and the
// relay publishes them back to the RabbitMQ queue when due, the lease in the
// headers. One broker and one sidecar fixture (helpers.startDeliverySidecars:
// backoff 300 ms, max_deliveries 2) for the file; each test its own queues.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const amqplib = require('amqplib');

const { Client, Unavailable, relay } = require('..');
const { HEADER, confirmPublisher, consume, leaseOf, reportMessage } = require('../amqplib');
const h = require('./helpers');

let rabbit;
let sidecars;
let client;
let connection;
let channel; // consumers
let confirms; // the relays' publisher confirms

before(async () => {
  [rabbit, sidecars] = await Promise.all([h.startRabbitMQ(), h.startDeliverySidecars()]);
  client = new Client({ address: sidecars.address, timeoutMs: 2000 });
  connection = await amqplib.connect(rabbit.url);
  channel = await connection.createChannel();
  await channel.prefetch(10);
  confirms = await connection.createConfirmChannel();
});

after(async () => {
  if (connection) await connection.close().catch(() => {});
  if (client) client.close();
  if (sidecars) await sidecars.stop();
  if (rabbit) await rabbit.stop();
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

async function newQueue(prefix) {
  const queue = h.uniqueId(prefix);
  await channel.assertQueue(queue, { durable: false });
  return queue;
}

/** What a consumer saw of one delivery: its body and the lease it carried. */
function seen(message) {
  const lease = leaseOf(message);
  return { body: message.content.toString(), attempt: lease ? lease.attempt : null, leased: Boolean(lease), jobType: lease && lease.jobType };
}

test('a consumer that fails twice: retryd parks the message, the relay publishes it back when due, it succeeds', async () => {
  const queue = await newQueue('orders');
  const runs = [];
  const reports = [];
  const { consumerTag } = await consume(channel, queue, async (message) => {
    runs.push(seen(message));
    if (runs.length <= 2) throw econnreset();
  }, { client, jobType: 'order', onReport: (r) => reports.push(r) });
  const published = [];
  const relayer = relay(queue, confirmPublisher(confirms), { client, leaseMs: 10000 });
  relayer.on('published', (job) => published.push([job.jobId, job.attempt]));
  try {
    channel.sendToQueue(queue, Buffer.from('{"order":1}'), { messageId: 'order-1' });
    // The first failure: retryd holds the message, parked on the queue of the same name.
    await h.eventually('the first failure reported', () => reports.length >= 1);
    assert.equal(reports[0].decision.retry, true);
    await h.eventually('the job succeeded', () => reports.length === 3, 10000);
    assert.deepEqual(runs, [
      { body: '{"order":1}', attempt: null, leased: false, jobType: null },
      { body: '{"order":1}', attempt: 2, leased: true, jobType: 'order' },
      { body: '{"order":1}', attempt: 3, leased: true, jobType: 'order' },
    ]);
    assert.deepEqual(reports.map((r) => r.outcome), ['failure', 'failure', 'success']);
    assert.deepEqual(reports.map((r) => r.jobId), ['order-1', 'order-1', 'order-1']);
    assert.equal(reports[1].decision.failureCount, 2);
    assert.deepEqual(reports[2].success, { failuresBeforeSuccess: 2, known: true, local: false });
    assert.deepEqual(published, [['order-1', 2], ['order-1', 3]]);
    // retryd forgot the job, and RabbitMQ holds nothing of it.
    assert.equal(await client.getJob('order-1'), null);
    assert.equal((await channel.checkQueue(queue)).messageCount, 0);
  } finally {
    await relayer.close();
    await channel.cancel(consumerTag);
  }
});

test("a permanent error dies at once, its payload kept; an operator's `retryd jobs retry` runs it again", async () => {
  const queue = await newQueue('invoices');
  const runs = [];
  let broken = true;
  const reports = [];
  const { consumerTag } = await consume(channel, queue, async (message) => {
    runs.push(seen(message));
    if (broken) throw new ValidationError('amount must be positive');
  }, { client, jobType: 'invoice', onReport: (r) => reports.push(r) });
  const relayer = relay(queue, confirmPublisher(confirms), { client, leaseMs: 10000 });
  try {
    const id = h.uniqueId('invoice');
    channel.sendToQueue(queue, Buffer.from('{"amount":-5}'), { messageId: id });
    await h.eventually('the failure reported', () => reports.length === 1);
    assert.deepEqual([reports[0].decision.retry, reports[0].decision.reason], [false, 'permanent_error']);
    const dead = await client.getJob(id);
    assert.deepEqual([dead.state, dead.queue, dead.payloadBytes], ['dead', queue, 13]);
    await h.sleep(600); // twice the backoff: nothing comes back by itself
    assert.equal(runs.length, 1);

    broken = false; // the bug is fixed
    const out = await h.retrydCli(['jobs', 'retry', id, '--addr', sidecars.address]);
    assert.match(out, new RegExp(id));
    await h.eventually('the retried job succeeded', () => reports.length === 2, 10000);
    // Its failures were reset; the attempt numbers go on (a report of attempt 1 would be a re-sent one).
    assert.deepEqual(runs[1], { body: '{"amount":-5}', attempt: 2, leased: true, jobType: 'invoice' });
    assert.equal(reports[1].outcome, 'success');
    assert.equal(await client.getJob(id), null);
  } finally {
    await relayer.close();
    await channel.cancel(consumerTag);
  }
});

test('a poison message (its consumer dies without reporting) is dead after max_deliveries: delivery_limit', async () => {
  const queue = await newQueue('poison');
  const id = h.uniqueId('poison');
  const runs = [];
  // The first run fails and is reported; every run of it from retryd then
  // "crashes" its consumer: acked (the broker forgets it), never reported.
  const { consumerTag } = await channel.consume(queue, async (message) => {
    runs.push(seen(message));
    if (!leaseOf(message)) await reportMessage(client, message, econnreset(), { jobType: 'poison', queue });
    channel.ack(message);
  });
  const relayer = relay(queue, confirmPublisher(confirms), { client, leaseMs: 700 });
  try {
    channel.sendToQueue(queue, Buffer.from('boom'), { messageId: id });
    const dead = await h.eventually('the job dead', async () => {
      const j = await client.getJob(id);
      return j && j.state === 'dead' && j;
    }, 15000);
    assert.equal(dead.lastDecision.reason, 'delivery_limit');
    assert.equal(dead.deliveries, h.MAX_DELIVERIES);
    assert.equal(dead.payloadBytes, 4);
    assert.equal(dead.failureCount, 1); // the crashes counted no failure
    assert.deepEqual(runs.map((r) => r.leased), [false, true, true]);
    await h.sleep(1000);
    assert.equal(runs.length, 3); // dead: not handed out again
  } finally {
    await relayer.close();
    await channel.cancel(consumerTag);
  }
});

test('a publish RabbitMQ does not take (no such queue: returned) releases the job, which is not lost', async () => {
  const queue = h.uniqueId('nowhere');
  const id = h.uniqueId('lost');
  await client.reportFailure(id, econnreset(), { jobType: 'x', queue, attempt: 1, payload: 'kept' });
  const failures = [];
  const relayer = relay(queue, confirmPublisher(confirms), { client, leaseMs: 10000, releaseDelayMs: 100 });
  relayer.on('publishFailed', (job, err) => failures.push([job.jobId, err.message]));
  try {
    await h.eventually('three publishes failed', () => failures.length >= 3, 10000);
    assert.equal(failures[0][0], id);
    assert.match(failures[0][1], /RabbitMQ returned the message of job .*: no queue is bound to exchange "" with routing key "nowhere-/);
  } finally {
    await relayer.close();
  }
  // Released each time (more hand-outs than max_deliveries, none a poison
  // run): still retrying, its payload held.
  const job = await client.getJob(id);
  assert.equal(job.state, 'retrying');
  assert.ok(job.deliveries >= 3);
  assert.equal(job.payloadBytes, 4);
  assert.equal(job.leaseUntil, null);
});

test('consume: a success with no retryd headers is reported without lease; the headers the relay sets', async () => {
  const queue = await newQueue('plain');
  const reports = [];
  const { consumerTag } = await consume(channel, queue, async () => {}, { client, onReport: (r) => reports.push(r) });
  try {
    channel.sendToQueue(queue, Buffer.from('x'), { messageId: 'plain-1' });
    await h.eventually('reported', () => reports.length === 1);
    assert.deepEqual(reports[0], { outcome: 'success', jobId: 'plain-1', lease: null, success: { failuresBeforeSuccess: 0, known: false, local: false } });
    assert.equal((await channel.checkQueue(queue)).messageCount, 0);
  } finally {
    await channel.cancel(consumerTag);
  }
  assert.deepEqual(Object.values(HEADER), ['retryd-job-id', 'retryd-lease-id', 'retryd-attempt', 'retryd-job-type']);
  assert.throws(() => confirmPublisher(channel), /^TypeError: channel must be an amqplib ConfirmChannel/);
  assert.throws(() => consume(channel, queue, async () => {}, {}), /options.client must be a retryd Client/);
});

test('consume: a first failure retryd did not record goes back to RabbitMQ (nacked), and comes again', async () => {
  const queue = await newQueue('down');
  const down = new Client({ address: `127.0.0.1:${await h.freePort()}`, timeoutMs: 300 });
  const runs = [];
  const errors = [];
  const { consumerTag } = await consume(channel, queue, async (message) => {
    runs.push(message.fields.redelivered);
    throw econnreset();
  }, { client: down, requeueDelayMs: 100, onError: (err) => errors.push(err) });
  try {
    channel.sendToQueue(queue, Buffer.from('x'), { messageId: h.uniqueId('down') });
    await h.eventually('delivered again', () => runs.length >= 2);
    assert.deepEqual(runs.slice(0, 2), [false, true]);
    assert.ok(errors[0] instanceof Unavailable, String(errors[0]));
  } finally {
    await channel.cancel(consumerTag);
    down.close();
  }
});

test("README's RabbitMQ snippet, as written: a failing order is retried through the relay until it is charged", async () => {
  const [snippet] = h.readmeSnippets('Relay: RabbitMQ (amqplib)');
  assert.match(snippet, /relay\('orders'/);
  const payments = await h.scriptedServer({ '/pay': [503, 503, 200] });
  let app;
  try {
    app = h.runSnippet(snippet, { RETRYD_ADDR: sidecars.address, AMQP_URL: rabbit.url });
    await channel.assertQueue('orders');
    channel.sendToQueue('orders', Buffer.from(JSON.stringify({ id: 7, paymentUrl: `${payments.url}/pay` })), { messageId: 'order-7' });
    await app.waitFor(/order-7: success/);
    await app.stop();
    assert.deepEqual(app.lines, [
      'order-7: failure, retry in 300 ms',
      'order-7: failure, retry in 300 ms',
      'order-7: success',
    ]);
    assert.equal(payments.requests.length, 3);
    assert.equal(await client.getJob('order-7'), null);
    assert.equal((await channel.checkQueue('orders')).messageCount, 0);
  } finally {
    if (app) await app.stop().catch(() => {});
    await payments.close();
  }
});
