'use strict';

// Client of the retryd sidecar: ask whether and when to retry a failed job.
// Types and documentation: index.d.ts.

const path = require('path');

/**
 * A dependency of this package. npm installs a local folder that lies outside
 * the project (`npm install ../retryd/clients/node`) as a bare link, without
 * its dependencies: then they are looked for in the application's own
 * node_modules, and failing that the error says what to do.
 */
function dependency(name) {
  try {
    return require(name);
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND' || !String(e.message).includes(`'${name}'`)) throw e;
  }
  const from = [process.cwd(), require.main && require.main.path].filter(Boolean);
  try {
    return require(require.resolve(name, { paths: from }));
  } catch (_) {
    throw new Error(
      `retryd cannot find ${name}: npm links a local folder outside the project without installing its ` +
        `dependencies; install a packed copy instead (\`npm pack <path to clients/node>\`, then ` +
        `\`npm install ./retryd-<version>.tgz\`), or add ${name} to the application`,
    );
  }
}

const grpc = dependency('@grpc/grpc-js');
const protoLoader = dependency('@grpc/proto-loader');

const {
  cutUtf8, errorInfo, isErrorInfo, parseRetryAfter, pushbackMsOf, retryAfterMsOf,
} = require('./lib/errors');
const fallback = require('./lib/fallback');
const args = require('./lib/args');

const PROTO = path.join(__dirname, 'proto', 'retryd', 'v1', 'retryd.proto');
const DEFAULT_ADDRESS = '127.0.0.1:50051';
const MAX_JOB_TYPE = 128;
// A job a closed stream received and never handed over is due again after
// this long (see DueStream.cancel).
const RELEASE_AFTER_CANCEL_MS = 200;

let loaded;
/** The generated service definition, loaded once (the package's own options). */
function definition() {
  if (!loaded) {
    const def = protoLoader.loadSync(PROTO, {
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
      includeDirs: [path.join(__dirname, 'proto')],
    });
    loaded = grpc.loadPackageDefinition(def).retryd.v1;
  }
  return loaded;
}

// Status codes that mean "retryd did not answer", not "retryd said no".
const UNAVAILABLE_CODES = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.CANCELLED,
]);

/** retryd answered with an error (e.g. INVALID_ARGUMENT for an empty job id). */
class RetrydError extends Error {
  constructor(message, code, details) {
    super(message);
    this.name = 'RetrydError';
    this.code = code;
    this.details = details || '';
  }
}

/** retryd could not be reached, or did not answer within the client's timeout. */
class Unavailable extends RetrydError {
  constructor(message, code, details) {
    super(message, code, details);
    this.name = 'Unavailable';
  }
}

/**
 * Delivery's fencing: the lease a report, an extension or a release carried is
 * not the job's current one (it ran out and the job went to another claimer,
 * or the job was settled). The job is no longer this caller's: drop it, do not
 * retry the call.
 */
class LeaseLost extends RetrydError {
  constructor(message, details, jobId, leaseId) {
    super(message, 'FAILED_PRECONDITION', details);
    this.name = 'LeaseLost';
    this.jobId = jobId;
    this.leaseId = leaseId;
  }
}

function codeName(code) {
  return Object.keys(grpc.status).find((k) => grpc.status[k] === code) || String(code);
}

function durationMs(d) {
  return d ? Number(d.seconds) * 1000 + Math.round(Number(d.nanos) / 1e6) : 0;
}

function timeOf(t) {
  return t ? new Date(Number(t.seconds) * 1000 + Math.floor(Number(t.nanos) / 1e6)) : null;
}

function enumName(value, prefix) {
  if (typeof value !== 'string') return null;
  const name = value.startsWith(prefix) ? value.slice(prefix.length) : value;
  return name === 'UNSPECIFIED' ? null : name.toLowerCase();
}

function decisionOf(d) {
  const retry = d.action === 'ACTION_RETRY';
  return {
    retry,
    retryAfterMs: durationMs(d.retry_after),
    retryAt: timeOf(d.retry_at),
    reason: retry ? null : enumName(d.reason, 'GIVE_UP_REASON_'),
    failureCount: d.failure_count,
    maxAttempts: d.max_attempts,
    errorClass: enumName(d.error_class, 'ERROR_CLASS_'),
    category: d.category,
    policy: d.policy,
    explanation: d.explanation,
    local: false,
  };
}

function jobOf(j) {
  const e = j.last_error || {};
  return {
    jobId: j.job_id,
    jobType: j.job_type,
    policy: j.policy,
    state: enumName(j.state, 'JOB_STATE_'),
    failureCount: j.failure_count,
    firstFailureAt: timeOf(j.first_failure_at),
    lastFailureAt: timeOf(j.last_failure_at),
    nextRetryAt: timeOf(j.next_retry_at),
    lastError: errorInfoOf(e),
    lastDecision: j.last_decision ? decisionOf(j.last_decision) : null,
    queue: j.queue || '',
    payloadBytes: j.payload_bytes || 0,
    deliveries: j.deliveries || 0,
    leaseUntil: timeOf(j.lease_until),
  };
}

function errorInfoOf(e = {}) {
  e = e || {};
  return {
    type: e.type || '',
    message: e.message || '',
    httpStatus: e.http_status || 0,
    grpcCode: e.grpc_code || 0,
    retryable: e.retryable === undefined || e.retryable === null ? undefined : e.retryable,
  };
}

/** A DueJob as the client hands it over. */
function dueJobOf(j) {
  return {
    jobId: j.job_id,
    jobType: j.job_type,
    queue: j.queue,
    payload: Buffer.isBuffer(j.payload) ? j.payload : Buffer.from(j.payload || []),
    attempt: j.attempt,
    lastError: errorInfoOf(j.last_error),
    dueAt: timeOf(j.due_at),
    leaseId: j.lease_id,
    leaseUntil: timeOf(j.lease_until),
    deliveries: j.deliveries,
  };
}

function queueStatsOf(q) {
  return {
    queue: q.queue,
    parked: Number(q.parked),
    due: Number(q.due),
    leased: Number(q.leased),
    parkedBytes: Number(q.parked_bytes),
    oldestDueAt: timeOf(q.oldest_due_at),
  };
}

function failureRequest(jobId, error, options = {}) {
  const info = errorInfo(error);
  const e = {
    type: info.type,
    message: info.message,
    http_status: info.httpStatus,
    grpc_code: info.grpcCode,
  };
  if (typeof info.retryable === 'boolean') e.retryable = info.retryable;
  const req = {
    job_id: jobId,
    job_type: options.jobType || '',
    policy: options.policy || '',
    target: options.target || '',
    attempt: options.attempt || 0,
    error: e,
  };
  if (options.priority !== undefined && options.priority !== null) req.priority = options.priority;
  const pushback = isErrorInfo(error) ? undefined : pushbackMsOf(error);
  // The server said not to retry: retryd gives up (reason 'pushback').
  if (pushback !== undefined && pushback < 0) req.retry_pushback_ms = pushback;
  let hint = options.retryAfterMs;
  if (hint === undefined || hint === null) {
    hint = isErrorInfo(error) ? undefined : retryAfterMsOf(error);
  }
  if (hint !== undefined && hint !== null) {
    const ms = Math.max(0, Math.round(hint));
    req.retry_after_hint = { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
  }
  return req;
}

/**
 * A client of the retryd sidecar. See index.d.ts.
 */
class Client {
  constructor(options = {}) {
    const { address, timeoutMs = 500, fallback: fb = null, credentials, channelOptions, logger = null } = options;
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${timeoutMs}`);
    if (fb !== null && typeof fb !== 'function') throw new TypeError('fallback must be a function');
    this.address = address || process.env.RETRYD_ADDR || DEFAULT_ADDRESS;
    this.timeoutMs = timeoutMs;
    this.fallback = fb;
    this.logger = logger;
    this._counts = new Map();
    const Service = definition().RetryCoordinator;
    this.stub = new Service(this.address, credentials || grpc.credentials.createInsecure(), {
      // A sidecar that restarts is found again within a second, not after
      // gRPC's default reconnect backoff (up to two minutes).
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      ...channelOptions,
    });
  }

  /** Closes the channel; the client cannot be used after. */
  close() {
    this.stub.close();
  }

  _call(method, request) {
    return new Promise((resolve, reject) => {
      let done = false;
      const deadline = new Date(Date.now() + this.timeoutMs);
      // The deadline ends the call; this timer makes sure, whatever the
      // channel does, that no caller waits much longer than timeoutMs.
      const guard = setTimeout(() => {
        if (done) return;
        done = true;
        call.cancel();
        reject(new Unavailable(`retryd at ${this.address} did not answer within ${this.timeoutMs}ms`, 'DEADLINE_EXCEEDED'));
      }, this.timeoutMs + 250);
      if (typeof guard.unref === 'function') guard.unref();
      const call = this.stub[method](request, { deadline }, (err, response) => {
        if (done) return;
        done = true;
        clearTimeout(guard);
        if (!err) {
          resolve(response);
          return;
        }
        reject(this._error(err, request));
      });
    });
  }

  /** The client's error for a gRPC error of a call made with `request`. */
  _error(err, request = {}) {
    const name = codeName(err.code);
    const details = err.details || '';
    if (err.code === grpc.status.FAILED_PRECONDITION && details.startsWith('lease_id:')) {
      return new LeaseLost(`retryd: lease lost: ${details}`, details, request.job_id || '', request.lease_id || '');
    }
    // A payload over retryd's bounds: retrying the same report cannot help.
    if (err.code === grpc.status.RESOURCE_EXHAUSTED && details.startsWith('payload')) {
      return new RetrydError(`retryd: ${name}: ${details}`, name, details);
    }
    if (err.code === grpc.status.DEADLINE_EXCEEDED) {
      return new Unavailable(`retryd at ${this.address} did not answer within ${this.timeoutMs}ms`, name, details);
    }
    if (UNAVAILABLE_CODES.has(err.code)) {
      return new Unavailable(`retryd at ${this.address} is unavailable: ${name}: ${details}`, name, details);
    }
    return new RetrydError(`retryd: ${name}: ${details}`, name, details);
  }

  _countFailure(jobId) {
    const n = (this._counts.get(jobId) || 0) + 1;
    this._counts.delete(jobId);
    this._counts.set(jobId, n);
    if (this._counts.size > 10000) this._counts.delete(this._counts.keys().next().value);
    return n;
  }

  async _local(n, jobId, error, why) {
    if (!this.fallback || !(why instanceof Unavailable)) throw why;
    const d = await this.fallback(Math.max(1, n), errorInfo(error));
    if (!d || typeof d.retry !== 'boolean') throw new TypeError('the fallback must return a Decision');
    const local = { ...d, local: true, explanation: `local decision, retryd unavailable (${why.message}): ${d.explanation}` };
    if (this.logger) this.logger.warn(`retryd unavailable, local decision for job ${jobId}: ${local.explanation}`);
    return local;
  }

  /**
   * Records a failed attempt; resolves to retryd's Decision. With `payload`
   * (delivery) retryd holds the job: a retry parks it on `queue`. A report
   * that carries a payload or a lease is never decided by the fallback: a
   * local decision would not hold the job, so it rejects with Unavailable.
   */
  async reportFailure(jobId, error, options = {}) {
    const req = failureRequest(jobId, error, options);
    const body = args.payload('payload', options.payload);
    if (body !== undefined) req.payload = body;
    req.queue = args.optionalString('queue', options.queue);
    req.lease_id = args.optionalString('leaseId', options.leaseId);
    const delivery = body !== undefined || req.lease_id !== '';
    // The failure's number for the fallback: the caller's attempt, else this
    // client's count of the job's failures since its last success.
    const n = options.attempt || (this.fallback && !delivery ? this._countFailure(jobId) : 0);
    let resp;
    try {
      resp = await this._call('ReportFailure', req);
    } catch (why) {
      if (delivery) throw why;
      return this._local(n, jobId, error, why);
    }
    return decisionOf(resp.decision);
  }

  /**
   * The job succeeded: retryd forgets it. With `leaseId`, the run of a claimed
   * job (never answered by the fallback).
   */
  async reportSuccess(jobId, options = {}) {
    this._counts.delete(jobId);
    const leaseId = args.optionalString('leaseId', options.leaseId);
    const req = { job_id: jobId, job_type: options.jobType || '', target: options.target || '', lease_id: leaseId };
    try {
      const r = await this._call('ReportSuccess', req);
      return { failuresBeforeSuccess: r.failures_before_success, known: r.known, local: false };
    } catch (why) {
      if (!this.fallback || !(why instanceof Unavailable) || leaseId) throw why;
      if (this.logger) this.logger.warn(`retryd unavailable, success of job ${jobId} not reported: ${why.message}`);
      return { failuresBeforeSuccess: 0, known: false, local: true };
    }
  }

  /** The decision reportFailure would give, changing nothing (never the fallback's). */
  async explain(jobId, error, options = {}) {
    const resp = await this._call('Explain', failureRequest(jobId, error, options));
    return decisionOf(resp.decision);
  }

  /**
   * Delivery: up to `maxJobs` (1..1000, default 1) due jobs of `queue`, oldest
   * due first, each leased to this caller for `leaseMs` (default retryd's
   * `[delivery] default_lease`).
   */
  async claimDue(queue, options = {}) {
    const req = {
      queue: args.requiredString('queue', queue),
      max_jobs: args.integerIn('maxJobs', options.maxJobs, 1, args.MAX_BATCH, 1),
    };
    const lease = args.leaseMs('leaseMs', options.leaseMs);
    if (lease !== undefined) req.lease = args.duration(lease);
    const resp = await this._call('ClaimDue', req);
    return (resp.jobs || []).map(dueJobOf);
  }

  /**
   * Delivery: the due jobs of `queue` as they fall due, an async iterator
   * (`for await`), never more than `maxInFlight` (1..1000, default 1) handed
   * out and unsettled. Ends on `break`, `cancel()` or `signal`'s abort; jobs
   * received and not yet taken from it are then released.
   */
  watchDue(queue, options = {}) {
    const req = {
      queue: args.requiredString('queue', queue),
      max_in_flight: args.integerIn('maxInFlight', options.maxInFlight, 1, args.MAX_BATCH, 1),
    };
    const lease = args.leaseMs('leaseMs', options.leaseMs);
    if (lease !== undefined) req.lease = args.duration(lease);
    const signal = options.signal;
    if (signal !== undefined && signal !== null && !(typeof signal === 'object' && typeof signal.aborted === 'boolean')) {
      throw new TypeError(`signal must be an AbortSignal, got ${args.describe(signal)}`);
    }
    return new DueStream(this, req, signal || null);
  }

  /** Delivery: the claimed job's lease runs `leaseMs` from now; resolves to the new leaseUntil. */
  async extendLease(jobId, leaseId, options = {}) {
    const req = { job_id: args.requiredString('jobId', jobId), lease_id: args.requiredString('leaseId', leaseId) };
    const lease = args.leaseMs('leaseMs', options.leaseMs);
    if (lease !== undefined) req.lease = args.duration(lease);
    const resp = await this._call('ExtendLease', req);
    return timeOf(resp.lease_until);
  }

  /** Delivery: hands a claimed job back unprocessed, due again after `delayMs` (default 0); no failure counted. */
  async releaseJob(jobId, leaseId, options = {}) {
    const req = { job_id: args.requiredString('jobId', jobId), lease_id: args.requiredString('leaseId', leaseId) };
    const delay = args.delayMs('delayMs', options.delayMs);
    if (delay !== undefined) req.delay = args.duration(delay);
    await this._call('ReleaseJob', req);
  }

  /** Delivery: each queue with a parked or leased job, by name. */
  async listQueues() {
    const resp = await this._call('ListQueues', {});
    return (resp.queues || []).map(queueStatsOf);
  }

  /** The state retryd holds for the job, or null if it holds none. */
  async getJob(jobId) {
    try {
      const resp = await this._call('GetJob', { job_id: jobId });
      return jobOf(resp.job);
    } catch (err) {
      if (err instanceof RetrydError && err.code === 'NOT_FOUND') return null;
      throw err;
    }
  }
}

/**
 * The stream of WatchDue as an async iterator of DueJobs. The call starts
 * with the first `next()`. Jobs arrive at most max_in_flight at a time, so
 * what it buffers is bounded by that.
 */
class DueStream {
  constructor(client, request, signal) {
    this._client = client;
    this._request = request;
    this._signal = signal;
    this._call = null;
    this._buffer = [];
    this._waiting = null; // { resolve, reject } of a pending next()
    this._error = null;
    this._ended = false;
    this._cancelled = false;
    this._onAbort = () => { this.cancel(); };
    if (signal) {
      if (signal.aborted) this._cancelled = this._ended = true;
      else signal.addEventListener('abort', this._onAbort, { once: true });
    }
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  _start() {
    const call = this._client.stub.WatchDue(this._request);
    this._call = call;
    call.on('data', (j) => {
      if (this._ended) {
        // Arrived after cancel(): leased to us, given to nobody.
        this._release([dueJobOf(j)]);
        return;
      }
      this._push({ value: dueJobOf(j), done: false });
    });
    call.on('error', (err) => {
      if (this._ended) return;
      this._ended = true;
      this._error = this._cancelled && err.code === grpc.status.CANCELLED ? null : this._client._error(err, this._request);
      this._flush();
    });
    call.on('end', () => {
      if (this._ended) return;
      this._ended = true;
      this._flush();
    });
  }

  _push(item) {
    if (this._waiting) {
      const { resolve } = this._waiting;
      this._waiting = null;
      resolve(item);
    } else {
      this._buffer.push(item);
    }
  }

  _flush() {
    if (!this._waiting || this._buffer.length) return;
    const { resolve, reject } = this._waiting;
    this._waiting = null;
    if (this._error) {
      const e = this._error;
      this._error = null;
      reject(e);
    } else {
      resolve({ value: undefined, done: true });
    }
  }

  next() {
    if (this._buffer.length) return Promise.resolve(this._buffer.shift());
    if (this._ended) {
      if (this._error) {
        const e = this._error;
        this._error = null;
        return Promise.reject(e);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this._waiting) return Promise.reject(new Error('watchDue: next() called again before the previous one resolved'));
    if (!this._call) this._start();
    return new Promise((resolve, reject) => { this._waiting = { resolve, reject }; });
  }

  async return() {
    await this.cancel();
    return { value: undefined, done: true };
  }

  /** Ends the stream; jobs received and not taken are released (due again at once). */
  async cancel() {
    const was = this._ended;
    this._cancelled = true;
    this._ended = true;
    if (this._signal) this._signal.removeEventListener('abort', this._onAbort);
    if (this._call && !was) this._call.cancel();
    const left = this._buffer.map((item) => item.value);
    this._buffer = [];
    this._error = null;
    this._flush();
    if (left.length) {
      // Released once retryd has seen the stream end: a job due again at
      // once could otherwise be handed to the stream that is going away, and
      // wait there for its lease to run out.
      await new Promise((r) => setTimeout(r, 10));
      await this._release(left);
    }
  }

  _release(jobs) {
    return Promise.all(jobs.map((j) => this._client.releaseJob(j.jobId, j.leaseId, { delayMs: RELEASE_AFTER_CANCEL_MS }).catch(() => {
      // Its lease runs out instead.
    })));
  }
}

module.exports = {
  Client,
  DueStream,
  LeaseLost,
  RetrydError,
  Unavailable,
  errorInfo,
  parseRetryAfter,
  retryAfterMsOf,
  fallback,
  MAX_JOB_TYPE,
  cutUtf8,
};

// After module.exports: lib/worker.js reads the Client from it.
Object.assign(module.exports, require('./lib/worker'));
