// Type definitions for retryd, the client of the retryd sidecar.

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
  | 'pushback';

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
}

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
}

export interface SuccessOptions {
  jobType?: string;
  target?: string;
}

/** A client of the retryd sidecar. */
export class Client {
  constructor(options?: ClientOptions);
  readonly address: string;
  readonly timeoutMs: number;
  readonly fallback: Fallback | null;
  /** The raw gRPC client (callback API), for the RPCs this client does not wrap. */
  readonly stub: GrpcClient & Record<string, (...args: any[]) => any>;
  /** Records a failed attempt; resolves to retryd's decision. */
  reportFailure(jobId: string, error: ErrorLike, options?: FailureOptions): Promise<Decision>;
  /** The job succeeded: retryd forgets it. */
  reportSuccess(jobId: string, options?: SuccessOptions): Promise<Success>;
  /** The decision reportFailure would give, changing nothing (never the fallback's). */
  explain(jobId: string, error: ErrorLike, options?: FailureOptions): Promise<Decision>;
  /** The state retryd holds for the job; null if none. */
  getJob(jobId: string): Promise<Job | null>;
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
