'use strict';

// BullMQ driven by retryd: the processor wrapper asks retryd when a job
// fails, the backoff strategy returns retryd's delay, and a give-up fails
// the job at once through BullMQ's unrecoverable path. See bullmq.d.ts.

const { MAX_JOB_TYPE, Unavailable, cutUtf8, errorInfo } = require('./index');

/** Job options that hand the retry decisions to retryd. */
const ATTEMPTS = 1000000;
const retrydJobOptions = Object.freeze({ attempts: ATTEMPTS, backoff: Object.freeze({ type: 'retryd' }) });

// BullMQ fails a job at once, whatever its attempts, on an UnrecoverableError
// (checked by class, or by name). Its own class when bullmq can be found
// from here; else an Error of that name, which BullMQ 5 and 6 honour alike.
function unrecoverableBase() {
  try {
    const { UnrecoverableError } = require('bullmq');
    if (typeof UnrecoverableError === 'function') return UnrecoverableError;
  } catch (_) {
    // bullmq is not resolvable from this package (e.g. a linked install)
  }
  return Error;
}

/** retryd gave up on the job; BullMQ fails it without further attempts. */
class GaveUp extends unrecoverableBase() {
  constructor(message, decision) {
    super(message);
    this.name = 'UnrecoverableError';
    this.decision = decision;
  }
}

// BullMQ's own control-flow errors pass through untouched.
const BULLMQ_ERRORS = new Set([
  'UnrecoverableError',
  'DelayedError',
  'WaitingError',
  'WaitingChildrenError',
  'RateLimitError',
]);

// The decision on each failed attempt, for the backoff strategy and the
// worker's 'failed' listeners, keyed by the very error object BullMQ hands
// them (and forgotten with it).
const decisions = new WeakMap();

function defaultJobId(job) {
  return `${job.queueName}:${job.id}`;
}

function defaultJobType(job) {
  return cutUtf8(job.name || job.queueName || '', MAX_JOB_TYPE);
}

function settingsOf(options = {}) {
  return {
    jobId: options.jobId || defaultJobId,
    jobType: options.jobType || defaultJobType,
    target: options.target,
    policy: options.policy,
    priority: options.priority,
    onError: options.onError || null,
  };
}

function asError(thrown) {
  if (thrown instanceof Error) return thrown;
  if (thrown !== null && typeof thrown === 'object') return thrown;
  return new Error(String(thrown));
}

/**
 * Wraps a BullMQ processor: when it throws, retryd is asked (attempt =
 * job.attemptsMade + 1); a retry rethrows the error for BullMQ to retry after
 * retryd's delay (see retrydBackoff), a give-up throws GaveUp (an
 * UnrecoverableError) with retryd's reason and explanation. When it returns,
 * retryd is told of the success.
 */
function withRetryd(processor, client, options) {
  if (typeof processor !== 'function') throw new TypeError('processor must be a function');
  if (!client || typeof client.reportFailure !== 'function') throw new TypeError('client must be a retryd Client');
  const s = settingsOf(options);
  return async function retrydProcessor(job, token, signal) {
    let result;
    try {
      result = await processor(job, token, signal);
    } catch (thrown) {
      const err = asError(thrown);
      if (BULLMQ_ERRORS.has(err.name)) throw err;
      const attempt = (job.attemptsMade || 0) + 1;
      const info = errorInfo(err);
      let d;
      try {
        d = await client.reportFailure(s.jobId(job), err, {
          jobType: s.jobType(job), attempt, target: s.target, policy: s.policy, priority: s.priority,
        });
      } catch (why) {
        // No decision (and no fallback in the client): the job fails, saying why.
        if (why instanceof Unavailable) {
          throw new GaveUp(`${why.message}, and the client has no fallback (last error ${info.type}: ${info.message})`, null);
        }
        throw why;
      }
      if (!d.retry) {
        const gaveUp = new GaveUp(
          `retryd gave up after attempt ${attempt}: ${d.reason}: ${d.explanation} (last error ${info.type}: ${info.message})`,
          d,
        );
        decisions.set(gaveUp, d);
        throw gaveUp;
      }
      decisions.set(err, d);
      throw err;
    }
    try {
      await client.reportSuccess(s.jobId(job), { jobType: s.jobType(job), target: s.target });
    } catch (e) {
      // The job succeeded; retryd forgets it after its idle TTL.
      if (s.onError) s.onError(e);
    }
    return result;
  };
}

/**
 * retryd's decision on the failed attempt that threw `err` (as a worker's
 * 'failed' event hands it over), or null if withRetryd did not ask.
 */
function decisionFor(err) {
  if (err === null || (typeof err !== 'object' && typeof err !== 'function')) return null;
  return decisions.get(err) || null;
}

/**
 * BullMQ's settings.backoffStrategy for jobs with backoff { type: 'retryd' }:
 * the delay retryd gave for this attempt. For an error withRetryd did not see
 * (a sandboxed processor, or none wrapped) it asks retryd itself, and returns
 * -1 (no retry) when retryd gives up. Other backoff types go to `otherwise`.
 */
function retrydBackoff(client, options = {}) {
  const s = settingsOf(options);
  const otherwise = options.otherwise || null;
  return async function backoffStrategy(attemptsMade, type, err, job) {
    if (type !== 'retryd') {
      if (otherwise) return otherwise(attemptsMade, type, err, job);
      throw new Error(`retryd's backoff strategy was asked for backoff type "${type}"`);
    }
    const known = decisionFor(err);
    if (known) return known.retry ? known.retryAfterMs : -1;
    if (!client) return 0;
    try {
      const d = await client.reportFailure(s.jobId(job), asError(err), {
        jobType: s.jobType(job), attempt: attemptsMade, target: s.target, policy: s.policy, priority: s.priority,
      });
      return d.retry ? d.retryAfterMs : -1;
    } catch (e) {
      // No decision: the job fails rather than retry blindly.
      if (s.onError) s.onError(e);
      return -1;
    }
  };
}

module.exports = { ATTEMPTS, GaveUp, decisionFor, retrydBackoff, retrydJobOptions, withRetryd };
