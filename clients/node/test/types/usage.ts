// Compiled (not run) by types.test.js: the published types fit the way the
// package is meant to be used, BullMQ's own types included.
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Client, Decision, ErrorInfo, RetrydError, Unavailable, errorInfo, fallback } from '../..';
import { ATTEMPTS, GaveUp, retrydBackoff, retrydJobOptions, withRetryd } from '../../bullmq';

async function main(): Promise<void> {
  const client = new Client({ address: '127.0.0.1:50051', timeoutMs: 500, fallback: fallback.exponential({ maxAttempts: 3 }) });
  const d: Decision = await client.reportFailure('job-1', new Error('read ECONNRESET'), {
    jobType: 'invoice', attempt: 1, target: 's3', policy: 'default', priority: 50, retryAfterMs: 1000,
  });
  const delay: number = d.retryAfterMs;
  const when: Date | null = d.retryAt;
  const reason: string | null = d.reason;
  const info: ErrorInfo = { type: 'VendorError', retryable: true };
  await client.reportFailure('job-2', info);
  await client.reportFailure('job-3', 'a string');
  await client.explain('job-1', new Error('x'));
  const s = await client.reportSuccess('job-1', { jobType: 'invoice' });
  const n: number = s.failuresBeforeSuccess;
  const job = await client.getJob('job-1');
  if (job !== null) console.log(job.state, job.lastDecision?.reason);
  console.log(delay, when, reason, n, errorInfo(new Error('x')).type);
  try {
    await client.getJob('');
  } catch (e) {
    if (e instanceof Unavailable) console.log('down');
    else if (e instanceof RetrydError) console.log(e.code);
  }
  client.close();

  const connection = { host: '127.0.0.1', port: 6379 };
  const queue = new Queue<{ invoiceId: string }>('invoices', { connection, defaultJobOptions: retrydJobOptions });
  await queue.add('charge', { invoiceId: 'i-1' }, { attempts: ATTEMPTS, backoff: { type: 'retryd' } });
  const worker = new Worker<{ invoiceId: string }, number>(
    'invoices',
    withRetryd(async (j: Job<{ invoiceId: string }, number>) => j.data.invoiceId.length, client),
    { connection, settings: { backoffStrategy: retrydBackoff(client) } },
  );
  const gaveUp: UnrecoverableError | Error = new GaveUp('retryd gave up');
  console.log(gaveUp.message, worker.name);
}

void main;

// Delivery: the client's calls, Worker, relay and retryd/amqplib (with amqplib's own types).
import * as amqplib from 'amqplib';
import { DueJob, DueStream, LeaseLost, QueueStats, Relay, Worker as RetrydWorker, WorkerJob, relay } from '../..';
import { HEADER, MessageLease, confirmPublisher, consume, leaseOf, reportMessage } from '../../amqplib';

async function delivery(client: Client): Promise<void> {
  const d: Decision = await client.reportFailure('mail-1', new Error('x'), {
    jobType: 'mail', attempt: 1, payload: Buffer.from('{}'), queue: 'mail',
  });
  await client.reportFailure('mail-2', 'x', { payload: '{"to":"a@b"}' });
  const jobs: DueJob[] = await client.claimDue('mail', { maxJobs: 10, leaseMs: 30000 });
  for (const j of jobs) {
    const body: Buffer = j.payload;
    const due: Date | null = j.dueAt;
    const until: Date | null = await client.extendLease(j.jobId, j.leaseId, { leaseMs: 60000 });
    try {
      await client.reportSuccess(j.jobId, { jobType: j.jobType, leaseId: j.leaseId });
    } catch (e) {
      if (e instanceof LeaseLost) console.log(e.jobId, e.leaseId, e.code);
    }
    await client.releaseJob(j.jobId, j.leaseId, { delayMs: 1000 });
    console.log(body.length, due, until, j.attempt, j.deliveries, j.leaseUntil, j.lastError.type);
  }
  const ac = new AbortController();
  const stream: DueStream = client.watchDue('mail', { maxInFlight: 4, leaseMs: 30000, signal: ac.signal });
  for await (const j of stream) {
    await client.reportFailure(j.jobId, new Error('x'), { attempt: j.attempt, leaseId: j.leaseId, jobType: j.jobType });
    break;
  }
  await stream.cancel();
  const queues: QueueStats[] = await client.listQueues();
  console.log(d.reason === 'delivery_limit', queues[0]?.oldestDueAt, (await client.getJob('mail-1'))?.payloadBytes);

  const worker = new RetrydWorker('mail', async (job: WorkerJob) => {
    if (job.signal.aborted) return 0;
    return JSON.parse(job.payload.toString()).n as number;
  }, { client, concurrency: 4, leaseMs: 30000, target: 'smtp' });
  worker.on('completed', (job: WorkerJob, n: number) => console.log(job.jobId, n));
  worker.on('failed', (job, err, decision) => console.log(job.attempt, err, decision.retryAfterMs));
  worker.on('leaseLost', (job, err: LeaseLost) => console.log(job.jobId, err.leaseId));
  worker.on('error', (err) => console.log(err));
  await worker.close();
  new RetrydWorker('other', () => undefined, { address: '127.0.0.1:50051', logger: null });

  const connection = await amqplib.connect('amqp://127.0.0.1');
  const confirms = await connection.createConfirmChannel();
  const channel = await connection.createChannel();
  const r: Relay = relay('orders', confirmPublisher(confirms, { routingKey: (j) => j.queue }), { client, leaseMs: 300000, releaseDelayMs: 500 });
  r.on('publishFailed', (job: DueJob, err) => console.log(job.jobId, err));
  const { consumerTag } = await consume(channel, 'orders', async (msg: amqplib.ConsumeMessage) => {
    const lease: MessageLease | null = leaseOf(msg);
    console.log(lease?.attempt, msg.content.length, HEADER.leaseId);
  }, { client, jobType: 'order', onReport: (report) => console.log(report.outcome, report.decision?.retry) });
  await channel.consume('raw', async (msg) => {
    if (msg) await reportMessage(client, msg, new Error('x'), { jobType: 'order', queue: 'raw' });
  });
  await r.close();
  console.log(consumerTag);
}

void delivery;
