// Type definitions for retryd/amqplib: RabbitMQ (amqplib) with retryd's delivery.
// Structural: amqplib's own ConfirmChannel, Channel and ConsumeMessage fit.

import type { Client, Decision, DueJob, ErrorLike, Success } from './index';

/** The message headers that carry a due job's lease. */
export const HEADER: {
  readonly jobId: 'retryd-job-id';
  readonly leaseId: 'retryd-lease-id';
  readonly attempt: 'retryd-attempt';
  readonly jobType: 'retryd-job-type';
};

/** What this module reads of an amqplib message. */
export interface MessageLike {
  content: Buffer;
  properties: { headers?: Record<string, unknown>; messageId?: string | number | null | undefined };
}

/** The lease a message carries from the relay. */
export interface MessageLease {
  jobId: string;
  leaseId: string;
  attempt: number;
  jobType: string;
}

export interface ConfirmChannelLike {
  publish(exchange: string, routingKey: string, content: Buffer, options: object, callback: (err: any, ok: any) => void): boolean;
  waitForConfirms(): Promise<void>;
  on(event: 'return', listener: (message: any) => void): unknown;
}

export interface ChannelLike {
  consume(queue: string, onMessage: (message: any) => void, options?: object): Promise<{ consumerTag: string }>;
  ack(message: any): void;
  nack(message: any, allUpTo?: boolean, requeue?: boolean): void;
}

export interface PublisherOptions {
  /** Default '' (the default exchange). */
  exchange?: string;
  /** Default: the job's queue. */
  routingKey?: string | ((job: DueJob) => string);
  /** Default true. */
  persistent?: boolean;
  /** More message properties (contentType, ...); their headers are kept, retryd's added. */
  properties?: Record<string, any>;
}

/** The headers confirmPublisher puts on a job's message. */
export function retrydHeaders(job: DueJob): Record<string, string | number>;

/** The lease a message carries, or null for one that did not come from retryd. */
export function leaseOf(message: MessageLike | null | undefined): MessageLease | null;

/**
 * relay()'s publish function on a ConfirmChannel: persistent and mandatory,
 * the lease in the headers; resolves once RabbitMQ confirmed it, rejects on
 * a nack, a closed channel or a message returned unroutable.
 */
export function confirmPublisher(channel: ConfirmChannelLike, options?: PublisherOptions): (job: DueJob) => Promise<void>;

export interface ReportOptions<M extends MessageLike = MessageLike> {
  /** The job id of a message without retryd's headers; default its messageId, else a new UUID. */
  jobId?: string | ((message: M) => string);
  /** The job type of a message without retryd's headers. */
  jobType?: string | ((message: M) => string);
  /** The retryd queue a first failure is parked on (consume: the RabbitMQ queue's name). */
  queue?: string;
  target?: string;
  policy?: string;
}

export interface Report {
  outcome: 'success' | 'failure';
  jobId: string;
  lease: MessageLease | null;
  decision?: Decision;
  success?: Success;
}

/**
 * Reports a message's run (error null or undefined: a success) with the
 * lease from its headers, or, without them, a first failure with its body
 * as the payload. Rejects with LeaseLost when the lease is no longer the job's.
 */
export function reportMessage<M extends MessageLike>(client: Client, message: M, error: ErrorLike | null | undefined, options?: ReportOptions<M>): Promise<Report>;

export interface ConsumeOptions<M extends MessageLike = MessageLike> extends ReportOptions<M> {
  client: Client;
  /** A first failure retryd did not record is nacked back to RabbitMQ after this long (default 1000). */
  requeueDelayMs?: number;
  /** Each message reported (and acked). */
  onReport?: (report: Report, message: M) => void;
  /** A report that failed (LeaseLost among them); default: logger.warn. */
  onError?: (error: unknown, message: M) => void;
  logger?: { warn(message: string): void } | null;
  /** Passed to channel.consume (noAck is always false). */
  consumeOptions?: Record<string, any>;
}

/** Consumes a queue: each message runs in handler, is reported, then acked. */
export function consume<M extends MessageLike = any>(
  channel: ChannelLike,
  queue: string,
  handler: (message: M) => unknown | Promise<unknown>,
  options: ConsumeOptions<M>,
): Promise<{ consumerTag: string }>;
