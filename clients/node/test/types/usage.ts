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
