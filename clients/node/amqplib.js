'use strict';

// RabbitMQ (amqplib) with retryd's delivery: the relay's publish function on
// a ConfirmChannel, the lease in the message headers, and the consumer's side
// that reports each run with that lease. It takes the application's own
// amqplib channel and requires nothing of amqplib itself. See amqplib.d.ts.

const { randomUUID } = require('crypto');

const { LeaseLost, cutUtf8, MAX_JOB_TYPE } = require('./index');
const args = require('./lib/args');

const HEADER = Object.freeze({
  jobId: 'retryd-job-id',
  leaseId: 'retryd-lease-id',
  attempt: 'retryd-attempt',
  jobType: 'retryd-job-type',
});

/** The headers that carry a due job's lease with its message. */
function retrydHeaders(job) {
  return {
    [HEADER.jobId]: job.jobId,
    [HEADER.leaseId]: job.leaseId,
    [HEADER.attempt]: job.attempt,
    [HEADER.jobType]: job.jobType || '',
  };
}

function text(v) {
  if (v === undefined || v === null) return '';
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return String(v);
}

/**
 * The lease a message carries from the relay, `{ jobId, leaseId, attempt,
 * jobType }`, or null for a message that did not come from retryd.
 */
function leaseOf(message) {
  const headers = message && message.properties && message.properties.headers;
  if (!headers) return null;
  const jobId = text(headers[HEADER.jobId]);
  const leaseId = text(headers[HEADER.leaseId]);
  if (!jobId || !leaseId) return null;
  const attempt = Number(text(headers[HEADER.attempt]));
  return {
    jobId,
    leaseId,
    attempt: Number.isInteger(attempt) && attempt > 0 ? attempt : 0,
    jobType: text(headers[HEADER.jobType]),
  };
}

function isConfirmChannel(channel) {
  return channel !== null && typeof channel === 'object' && typeof channel.publish === 'function' &&
    typeof channel.waitForConfirms === 'function';
}

/**
 * A publish function for relay(): publishes the job's payload on a
 * ConfirmChannel (exchange '' and the job's queue as routing key by default),
 * persistent and mandatory, the lease in its headers, and resolves once
 * RabbitMQ confirmed it. A nack, a closed channel or a message returned
 * unroutable rejects (the relay then releases the job).
 */
function confirmPublisher(channel, options = {}) {
  if (!isConfirmChannel(channel)) {
    throw new TypeError('channel must be an amqplib ConfirmChannel (await connection.createConfirmChannel())');
  }
  const exchange = args.optionalString('exchange', options.exchange);
  const routingKey = options.routingKey === undefined ? (job) => job.queue : options.routingKey;
  if (typeof routingKey !== 'string' && typeof routingKey !== 'function') {
    throw new TypeError(`routingKey must be a string or a function of the job, got ${args.describe(routingKey)}`);
  }
  const persistent = options.persistent === undefined ? true : Boolean(options.persistent);
  const extra = options.properties || {};
  // RabbitMQ sends basic.return before the basic.ack of the same message.
  const returned = new Set();
  channel.on('return', (message) => {
    const lease = leaseOf(message);
    if (lease) returned.add(lease.leaseId);
  });
  return function publish(job) {
    return new Promise((resolve, reject) => {
      const key = typeof routingKey === 'function' ? routingKey(job) : routingKey;
      const done = (err) => {
        const bounced = returned.delete(job.leaseId);
        if (err) reject(err instanceof Error ? err : new Error(`RabbitMQ did not confirm the message of job ${job.jobId}: ${err}`));
        else if (bounced) reject(new Error(`RabbitMQ returned the message of job ${job.jobId}: no queue is bound to exchange "${exchange}" with routing key "${key}"`));
        else resolve();
      };
      try {
        channel.publish(exchange, key, job.payload, {
          ...extra,
          persistent,
          mandatory: true,
          messageId: job.jobId,
          headers: { ...(extra.headers || {}), ...retrydHeaders(job) },
        }, done);
      } catch (e) {
        reject(e);
      }
    });
  };
}

function settingsOf(options = {}) {
  if (options === null || typeof options !== 'object') throw new TypeError(`options must be an object, got ${args.describe(options)}`);
  for (const name of ['jobId', 'jobType']) {
    const v = options[name];
    if (v !== undefined && typeof v !== 'string' && typeof v !== 'function') {
      throw new TypeError(`${name} must be a string or a function of the message, got ${args.describe(v)}`);
    }
  }
  return {
    jobId: options.jobId,
    jobType: options.jobType,
    queue: args.optionalString('queue', options.queue),
    target: args.optionalString('target', options.target) || undefined,
    policy: args.optionalString('policy', options.policy) || undefined,
  };
}

function valueOf(option, message) {
  return typeof option === 'function' ? option(message) : option;
}

/**
 * Reports what became of a message's run: `error` null or undefined is a
 * success, anything else a failure. A message from the relay is reported
 * with its lease and attempt (a failure with its body as the payload: retryd
 * parks it again, or it dies); one without retryd's headers is a first
 * failure, reported with its body as the payload and no lease (its job id
 * from `jobId`, else its messageId, else a new UUID). Resolves to
 * `{ outcome: 'success' | 'failure', jobId, lease, decision?, success? }`;
 * rejects with LeaseLost when the lease is no longer the job's.
 */
async function reportMessage(client, message, error, options = {}) {
  if (!client || typeof client.reportFailure !== 'function') throw new TypeError('client must be a retryd Client');
  if (!message || !Buffer.isBuffer(message.content)) throw new TypeError('message must be an amqplib message (with a Buffer content)');
  const s = settingsOf(options);
  const lease = leaseOf(message);
  const properties = message.properties || {};
  const jobId = (lease && lease.jobId) || text(valueOf(s.jobId, message)) || text(properties.messageId) || randomUUID();
  const jobType = cutUtf8((lease && lease.jobType) || text(valueOf(s.jobType, message)), MAX_JOB_TYPE);
  const leaseId = lease ? lease.leaseId : undefined;
  if (error === undefined || error === null) {
    const success = await client.reportSuccess(jobId, { jobType, leaseId, target: s.target });
    return { outcome: 'success', jobId, lease, success };
  }
  const decision = await client.reportFailure(jobId, error, {
    jobType,
    attempt: lease ? lease.attempt : 1,
    leaseId,
    payload: message.content,
    queue: s.queue || undefined,
    target: s.target,
    policy: s.policy,
  });
  return { outcome: 'failure', jobId, lease, decision };
}

/**
 * Consumes `queue` on `channel` (acks by hand): each message runs in
 * `handler(message)`, then is reported (reportMessage) and acked. retryd
 * holds a failed job from then on and the relay publishes it again when it
 * is due. A failure retryd did not record — it did not answer — is nacked
 * back to RabbitMQ after `requeueDelayMs` when the message came without a
 * lease (retryd does not hold it), and acked when it came with one (retryd
 * does: the lease runs out and it is due again). Resolves to amqplib's
 * `{ consumerTag }`.
 */
function consume(channel, queue, handler, options = {}) {
  if (!channel || typeof channel.consume !== 'function' || typeof channel.ack !== 'function') {
    throw new TypeError('channel must be an amqplib Channel');
  }
  args.requiredString('queue', queue);
  args.fn('handler', handler);
  const client = options.client;
  if (!client || typeof client.reportFailure !== 'function') throw new TypeError('options.client must be a retryd Client');
  const settings = { ...options, queue: options.queue === undefined ? queue : options.queue };
  settingsOf(settings);
  const requeueDelayMs = args.delayMs('requeueDelayMs', options.requeueDelayMs === undefined ? 1000 : options.requeueDelayMs);
  const onReport = options.onReport === undefined ? null : args.fn('onReport', options.onReport);
  const logger = options.logger === undefined ? console : options.logger;
  const onError = options.onError === undefined
    ? (err, message) => {
      if (logger) logger.warn(`retryd consumer (${queue}): message ${text(message.properties && message.properties.messageId)}: ${err.message}`);
    }
    : args.fn('onError', options.onError);
  const consumeOptions = { ...(options.consumeOptions || {}), noAck: false };
  // An ack or nack on a channel that closed throws: RabbitMQ then redelivers
  // the unacked message by itself.
  const settle = (fn) => {
    try {
      const r = fn();
      if (r && typeof r.catch === 'function') r.catch(() => {});
      return true;
    } catch (_) {
      return false;
    }
  };
  // The application's callbacks never throw into amqplib's delivery event.
  const tell = (fn, ...rest) => {
    try {
      fn(...rest);
    } catch (e) {
      if (logger) logger.warn(`retryd consumer (${queue}): a callback threw: ${e && e.stack ? e.stack : e}`);
    }
  };

  return channel.consume(queue, async (message) => {
    if (message === null) return; // the consumer was cancelled by RabbitMQ
    let error = null;
    try {
      await handler(message);
    } catch (thrown) {
      error = thrown === undefined || thrown === null ? new Error(String(thrown)) : thrown;
    }
    let report;
    try {
      report = await reportMessage(client, message, error, settings);
    } catch (err) {
      settle(() => {
        if (err instanceof LeaseLost || error === null || leaseOf(message)) {
          // Lost: another delivery of the job is on its way. A success not
          // reported: the work is done. A failure with a lease: retryd still
          // holds the job and hands it out again when the lease runs out.
          channel.ack(message);
          return undefined;
        }
        // A first failure retryd did not record: RabbitMQ keeps the message.
        return new Promise((r) => setTimeout(r, requeueDelayMs)).then(() => settle(() => channel.nack(message, false, true)));
      });
      tell(onError, err, message);
      return;
    }
    if (settle(() => channel.ack(message)) && onReport) tell(onReport, report, message);
  }, consumeOptions);
}

module.exports = { HEADER, confirmPublisher, consume, leaseOf, reportMessage, retrydHeaders };
