// Type definitions for retryd, the client of the retryd sidecar.

import { EventEmitter } from 'events';
import type { ChannelCredentials, ChannelOptions, Client as GrpcClient } from '@grpc/grpc-js';

/** What went wrong in a failed attempt, as retryd classifies it. */
export interface ErrorInfo {
  /** The error's type name; a qualified name is matched on its last segment. */
  type: string;
  message?: string;
  /** HTTP status the attempt got; 0 = none. */
  httpStatus?: number;
  /** Numeric gRPC status code the attempt got; 0 = none. */
  grpcCode?: number;
  /** The caller's own verdict; overrides retryd's built-in rules. */
  retryable?: boolean;
}

/**
 * What a job threw: an Error (type = its errno-style `code` such as
 * `ECONNRESET` found on it or its `cause` chain, else its `name`), an axios /
 * ky / got error (status and Retry-After from `err.response`), a fetch
 * `Response` that is not ok, a gRPC ServiceError (its numeric `code`), a
 * string, or an ErrorInfo.
 */
export type ErrorLike = Error | ErrorInfo | ResponseLike | { response?: unknown; status?: number; cause?: unknown } | string;

/** A fetch Response (only what is read of it). */
export interface ResponseLike {
  ok: boolean;
  status: number;
  statusText?: string;
  url?: string;
  headers: { get(name: string): string | null };
}

export type GiveUpReason =
  | 'permanent_error'
  | 'retries_exhausted'
  | 'deadline_exceeded'
  | 'cancelled'
  | 'budget_exhausted'
  | 'pushback'
  /** Delivery: handed out max_deliveries times in a row, each lease run out unsettled (a poison job). */
  | 'delivery_limit';

/** retryd's answer to a failed attempt: retry after a delay, or give up. */
export interface Decision {
  retry: boolean;
  /** How long to wait before the next attempt (0 on give-up). */
  retryAfterMs: number;
  /** When the next attempt is due; null on give-up. */
  retryAt: Date | null;
  /** Why retryd gave up; null on retry. */
  reason: GiveUpReason | string | null;
  /** Failed attempts recorded for the job, this one included. */
  failureCount: number;
  /** Attempts the applied limit allows in all; 0 when unlimited. */
  maxAttempts: number;
  /** 'transient', 'permanent' or 'unknown'. */
  errorClass: string | null;
  /** The classification rule that matched ('network', 'timeout', ...). */
  category: string;
  /** The policy applied. */
  policy: string;
  /** One sentence: which rule and which limit decided. */
  explanation: string;
  /** Made by the client's fallback because retryd was unavailable. */
  local: boolean;
}

export interface Success {
  failuresBeforeSuccess: number;
  /** Whether retryd held state for the job. */
  known: boolean;
  /** retryd was unavailable and the client has a fallback: nothing was reported. */
  local: boolean;
}

export interface Job {
  jobId: string;
  jobType: string;
  policy: string;
  state: 'retrying' | 'dead' | 'cancelled' | null;
  failureCount: number;
  firstFailureAt: Date | null;
  lastFailureAt: Date | null;
  nextRetryAt: Date | null;
  lastError: Required<Omit<ErrorInfo, 'retryable'>> & { retryable?: boolean };
  lastDecision: Decision | null;
  /** Delivery: the queue the job is due on; '' when retryd holds no payload. */
  queue: string;
  /** Delivery: the size of the payload retryd holds. */
  payloadBytes: number;
  /** Delivery: times the job was handed out. */
  deliveries: number;
  /** Delivery: until when its current lease runs; null when not handed out. */
  leaseUntil: Date | null;
}

/** Delivery: a due job handed to one claimer under a lease. */
export interface DueJob {
  jobId: string;
  jobType: string;
  /** The queue it was due on. */
  queue: string;
  /** What its last report parked. */
  payload: Buffer;
  /** The attempt number this run is: report it as `attempt`. */
  attempt: number;
  /** Why its last attempt failed. */
  lastError: Required<Omit<ErrorInfo, 'retryable'>> & { retryable?: boolean };
  /** When it fell due. */
  dueAt: Date | null;
  /** Settle with it: reportSuccess, reportFailure, extendLease, releaseJob. */
  leaseId: string;
  /** Unsettled by then, it is due again (at-least-once). */
  leaseUntil: Date | null;
  /** Times it has been handed out, this time included. */
  deliveries: number;
}

/** Delivery: one queue's jobs. */
export interface QueueStats {
  queue: string;
  /** Waiting on it, due or not yet (handed-out ones not counted). */
  parked: number;
  /** Of those, the ones due now. */
  due: number;
  /** Handed out and not yet settled. */
  leased: number;
  /** Payload bytes of its parked and handed-out jobs. */
  parkedBytes: number;
  /** The oldest unclaimed due job's due time; null when none is due. */
  oldestDueAt: Date | null;
}

/** What a report may carry as the job: its bytes, or a string sent as UTF-8. */
export type Payload = Buffer | Uint8Array | ArrayBuffer | string;

/**
 * A local decision for when retryd is unavailable:
 * `(failureCountOrAttempt, error) => Decision`. The count is the caller's
 * attempt number when it gave one, else the number of failures the client has
 * reported for the job since its last success.
 */
export type Fallback = (failureCountOrAttempt: number, error: ErrorInfo) => Decision | Promise<Decision>;

export interface ClientOptions {
  /** host:port; default `$RETRYD_ADDR`, else `127.0.0.1:50051`. */
  address?: string;
  /** Every call settles within about this long (default 500). */
  timeoutMs?: number;
  /** Decide locally when retryd is unavailable instead of rejecting with Unavailable. */
  fallback?: Fallback | null;
  /** TLS: `grpc.credentials.createSsl(...)`. */
  credentials?: ChannelCredentials;
  channelOptions?: ChannelOptions;
  /** Told (warn) of each local decision. */
  logger?: { warn(message: string): void } | null;
}

export interface FailureOptions {
  jobType?: string;
  /** 1-based attempt number; a report re-sent with the same number counts once. */
  attempt?: number;
  /** The downstream the attempt called (its retry budget). */
  target?: string;
  /** An explicit policy name. */
  policy?: string;
  /** 0..100; selects a policy through the priority bands. */
  priority?: number;
  /** The server's own hint; read from the error's response when not given. */
  retryAfterMs?: number;
  /** Delivery: the job itself; a retry parks it, due on `queue`. Empty keeps the job's. */
  payload?: Payload;
  /** Delivery: the queue it is due on; default the job's, else its job type, else 'default'. */
  queue?: string;
  /** Delivery: the lease the job was claimed under (a claimed job's report must carry it). */
  leaseId?: string;
}

export interface SuccessOptions {
  jobType?: string;
  target?: string;
  /** Delivery: the lease the job was claimed under (required for a claimed job). */
  leaseId?: string;
}

export interface ClaimOptions {
  /** 1..1000 (default 1). */
  maxJobs?: number;
  /** How long the claimer has to settle each job; default retryd's [delivery] default_lease (30 s); at most 12 h. */
  leaseMs?: number;
}

export interface WatchOptions {
  /** Most jobs handed out on this stream and unsettled at once, 1..1000 (default 1). */
  maxInFlight?: number;
  leaseMs?: number;
  /** Ends the stream when aborted. */
  signal?: AbortSignal;
}

/**
 * WatchDue: due jobs as they fall due. Ends on `break`, cancel() or the
 * signal's abort (jobs received and not taken are then released); rejects
 * with Unavailable or RetrydError when the stream breaks.
 */
export interface DueStream extends AsyncIterableIterator<DueJob> {
  cancel(): Promise<void>;
}

/** A client of the retryd sidecar. */
export class Client {
  constructor(options?: ClientOptions);
  readonly address: string;
  readonly timeoutMs: number;
  readonly fallback: Fallback | null;
  /** The raw gRPC client (callback API), for the RPCs this client does not wrap. */
  readonly stub: GrpcClient & Record<string, (...args: any[]) => any>;
  /**
   * Records a failed attempt; resolves to retryd's decision. With a payload
   * (delivery) a retry parks the job. A report with a payload or a lease is
   * never decided by the fallback (it rejects with Unavailable), and one with
   * a lease that is no longer the job's rejects with LeaseLost.
   */
  reportFailure(jobId: string, error: ErrorLike, options?: FailureOptions): Promise<Decision>;
  /** The job succeeded: retryd forgets it. With a lease: as reportFailure, no fallback, LeaseLost. */
  reportSuccess(jobId: string, options?: SuccessOptions): Promise<Success>;
  /** The decision reportFailure would give, changing nothing (never the fallback's). */
  explain(jobId: string, error: ErrorLike, options?: FailureOptions): Promise<Decision>;
  /** The state retryd holds for the job; null if none. */
  getJob(jobId: string): Promise<Job | null>;
  /** Delivery: up to maxJobs due jobs of the queue, oldest due first, each leased to this caller. */
  claimDue(queue: string, options?: ClaimOptions): Promise<DueJob[]>;
  /** Delivery: the due jobs of the queue as they fall due (`for await`). */
  watchDue(queue: string, options?: WatchOptions): DueStream;
  /** Delivery: the lease runs leaseMs from now; resolves to the new leaseUntil. Rejects with LeaseLost. */
  extendLease(jobId: string, leaseId: string, options?: { leaseMs?: number }): Promise<Date | null>;
  /** Delivery: hands a claimed job back unprocessed, due again after delayMs (default 0). Rejects with LeaseLost. */
  releaseJob(jobId: string, leaseId: string, options?: { delayMs?: number }): Promise<void>;
  /** Delivery: each queue with a parked or handed-out job, by name. */
  listQueues(): Promise<QueueStats[]>;
  /** Closes the channel. */
  close(): void;
}

/** retryd answered with an error, e.g. INVALID_ARGUMENT. */
export class RetrydError extends Error {
  /** The gRPC status code's name, e.g. 'INVALID_ARGUMENT'. */
  code: string;
  details: string;
}

/** retryd could not be reached, or did not answer within timeoutMs. */
export class Unavailable extends RetrydError {}

/**
 * Delivery's fencing: the lease is no longer the job's (it ran out and the
 * job went to another claimer, or the job was settled). Drop the job; do not
 * retry the call. `code` is 'FAILED_PRECONDITION'.
 */
export class LeaseLost extends RetrydError {
  jobId: string;
  leaseId: string;
}

/** A due job as a Worker hands it to its handler. */
export interface WorkerJob extends DueJob {
  /** Aborted (with the LeaseLost) when the lease is lost: the job is another worker's now. */
  signal: AbortSignal;
}

export interface DueLoopOptions {
  /** A client to use (not closed by close()); else one of its own from address, timeoutMs, credentials. */
  client?: Client;
  address?: string;
  timeoutMs?: number;
  credentials?: ChannelCredentials;
  channelOptions?: ChannelOptions;
  leaseMs?: number;
  /** Told (warn) of problems nobody listens to as 'error', and of lost leases with no 'leaseLost' listener; null: silent. Default console. */
  logger?: { warn(message: string): void } | null;
}

export interface WorkerOptions extends DueLoopOptions {
  /** Handlers running at once, 1..1000 (default 1): WatchDue's maxInFlight. */
  concurrency?: number;
  /** Default 30000; extended every third of it while a handler runs. */
  leaseMs?: number;
  /** Sent with each report. */
  target?: string;
  policy?: string;
}

/**
 * Runs the due jobs of a queue: success -> reportSuccess with the lease; a
 * throw -> reportFailure (attempt, job type and lease), parked again or dead
 * as retryd decides. Reconnects when the sidecar restarts.
 */
export class Worker<R = unknown> extends EventEmitter {
  constructor(queue: string, handler: (job: WorkerJob) => R | Promise<R>, options?: WorkerOptions);
  readonly queue: string;
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly client: Client;
  /** Stops claiming and resolves once the running handlers finished and were settled. */
  close(): Promise<void>;
  on(event: 'completed', listener: (job: WorkerJob, result: R) => void): this;
  on(event: 'failed', listener: (job: WorkerJob, error: unknown, decision: Decision) => void): this;
  on(event: 'leaseLost', listener: (job: WorkerJob, error: LeaseLost) => void): this;
  on(event: 'error', listener: (error: unknown, job?: WorkerJob) => void): this;
  on(event: 'closed', listener: () => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export interface RelayOptions extends DueLoopOptions {
  /** Jobs handed out to the relay and not yet settled by consumers, 1..1000 (default 100). */
  maxInFlight?: number;
  /** Default 300000 (5 min): the time from the claim to the consumer's report. */
  leaseMs?: number;
  /** A job whose publish failed is due again after this long (default 1000). */
  releaseDelayMs?: number;
}

/** Hands the due jobs of a queue back to the application's broker (see relay()). */
export class Relay extends EventEmitter {
  constructor(queue: string, publish: (job: DueJob) => Promise<unknown>, options?: RelayOptions);
  readonly queue: string;
  readonly client: Client;
  /** Stops claiming and resolves once the publishes under way are done. */
  close(): Promise<void>;
  on(event: 'published', listener: (job: DueJob) => void): this;
  on(event: 'publishFailed', listener: (job: DueJob, error: unknown) => void): this;
  on(event: 'leaseLost', listener: (job: DueJob, error: LeaseLost) => void): this;
  on(event: 'error', listener: (error: unknown, job?: DueJob) => void): this;
  on(event: 'closed', listener: () => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

/**
 * Relays due jobs to a broker: `publish(job)` must resolve only once the
 * broker confirmed the message, and carry the lease with it (retryd/amqplib's
 * confirmPublisher does both). A failed publish releases the job, due again
 * after releaseDelayMs; after a confirmed one nothing more is sent: the
 * consumer reports with the lease.
 */
export function relay(queue: string, publish: (job: DueJob) => Promise<unknown>, options?: RelayOptions): Relay;

/** The ErrorInfo retryd is sent for what a job threw. */
export function errorInfo(error: ErrorLike): Required<Omit<ErrorInfo, 'retryable'>> & { retryable?: boolean };

/** Milliseconds from a Retry-After value (delay-seconds or an HTTP-date). */
export function parseRetryAfter(value: unknown, now?: number): number | undefined;

/** The server's Retry-After (or gRPC's grpc-retry-pushback-ms) an error carries, in ms. */
export function retryAfterMsOf(error: unknown): number | undefined;

export namespace fallback {
  /**
   * Retry after baseMs, 2 * baseMs, ... (at most maxDelayMs) until maxAttempts
   * attempts have failed (defaults 3, 1000, 60000).
   */
  function exponential(options?: { maxAttempts?: number; baseMs?: number; maxDelayMs?: number }): Fallback;
}
