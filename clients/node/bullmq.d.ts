// Type definitions for retryd/bullmq: BullMQ driven by retryd.

import type { Client, Decision } from './index';

/** The minimum of a BullMQ Job this module reads. */
export interface JobLike {
  id?: string;
  name: string;
  queueName: string;
  attemptsMade: number;
}

export interface RetrydJobSettings<J extends JobLike = JobLike> {
  /** The job id retryd knows the job by; default `${job.queueName}:${job.id}`. */
  jobId?: (job: J) => string;
  /** Default: the job's name. */
  jobType?: (job: J) => string;
  target?: string;
  policy?: string;
  priority?: number;
  /** Told of a success that could not be reported (the job still completes). */
  onError?: (error: unknown) => void;
}

/** Job options that hand retry decisions to retryd: `{ attempts: ATTEMPTS, backoff: { type: 'retryd' } }`. */
export const retrydJobOptions: { readonly attempts: number; readonly backoff: { readonly type: 'retryd' } };

/** A number of attempts large enough that retryd's policy, not BullMQ, is the limit. */
export const ATTEMPTS: number;

/** retryd gave up: BullMQ fails the job at once (an UnrecoverableError). */
export class GaveUp extends Error {
  name: 'UnrecoverableError';
  /** retryd's decision; null when retryd could not be asked. */
  decision: Decision | null;
}

/**
 * Wraps a processor: on an exception retryd is asked (attempt =
 * job.attemptsMade + 1); a retry rethrows for BullMQ to retry after
 * retryd's delay (with retrydBackoff as the worker's backoffStrategy), a
 * give-up throws GaveUp with retryd's reason and explanation; a success is
 * reported.
 */
export function withRetryd<J extends JobLike, R>(
  processor: (job: J, token?: string, signal?: AbortSignal) => Promise<R> | R,
  client: Client,
  settings?: RetrydJobSettings<J>,
): (job: J, token?: string, signal?: AbortSignal) => Promise<R>;

/**
 * retryd's decision on the failed attempt that threw `err` (e.g. in a
 * worker's 'failed' listener); null if withRetryd did not ask retryd.
 */
export function decisionFor(err: unknown): Decision | null;

/**
 * BullMQ's `settings.backoffStrategy` for backoff type 'retryd': the delay
 * retryd gave (ms). Errors withRetryd did not see are asked of retryd here
 * (-1, no retry, on give-up); other backoff types go to `otherwise`.
 */
export function retrydBackoff(
  client?: Client | null,
  settings?: RetrydJobSettings<JobLike> & {
    otherwise?: (attemptsMade: number, type?: string, err?: Error, job?: JobLike) => number | Promise<number>;
  },
): (attemptsMade: number, type?: string, err?: Error, job?: JobLike) => Promise<number>;
