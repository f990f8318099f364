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
        `dependencies; install the client with \`npm install --install-links <path to clients/node>\`, ` +
        `or add ${name} to the application`,
    );
  }
}

const grpc = dependency('@grpc/grpc-js');
const protoLoader = dependency('@grpc/proto-loader');

const {
  cutUtf8, errorInfo, isErrorInfo, parseRetryAfter, pushbackMsOf, retryAfterMsOf,
} = require('./lib/errors');
const fallback = require('./lib/fallback');

const PROTO = path.join(__dirname, 'proto', 'retryd', 'v1', 'retryd.proto');
const DEFAULT_ADDRESS = '127.0.0.1:50051';
const MAX_JOB_TYPE = 128;

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
    lastError: {
      type: e.type || '',
      message: e.message || '',
      httpStatus: e.http_status || 0,
      grpcCode: e.grpc_code || 0,
      retryable: e.retryable === undefined || e.retryable === null ? undefined : e.retryable,
    },
    lastDecision: j.last_decision ? decisionOf(j.last_decision) : null,
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
        const name = codeName(err.code);
        if (err.code === grpc.status.DEADLINE_EXCEEDED) {
          reject(new Unavailable(`retryd at ${this.address} did not answer within ${this.timeoutMs}ms`, name, err.details));
        } else if (UNAVAILABLE_CODES.has(err.code)) {
          reject(new Unavailable(`retryd at ${this.address} is unavailable: ${name}: ${err.details}`, name, err.details));
        } else {
          reject(new RetrydError(`retryd: ${name}: ${err.details}`, name, err.details));
        }
      });
    });
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

  /** Records a failed attempt; resolves to retryd's Decision. */
  async reportFailure(jobId, error, options = {}) {
    const req = failureRequest(jobId, error, options);
    // The failure's number for the fallback: the caller's attempt, else this
    // client's count of the job's failures since its last success.
    const n = options.attempt || (this.fallback ? this._countFailure(jobId) : 0);
    let resp;
    try {
      resp = await this._call('ReportFailure', req);
    } catch (why) {
      return this._local(n, jobId, error, why);
    }
    return decisionOf(resp.decision);
  }

  /** The job succeeded: retryd forgets it. */
  async reportSuccess(jobId, options = {}) {
    this._counts.delete(jobId);
    const req = { job_id: jobId, job_type: options.jobType || '', target: options.target || '' };
    try {
      const r = await this._call('ReportSuccess', req);
      return { failuresBeforeSuccess: r.failures_before_success, known: r.known, local: false };
    } catch (why) {
      if (!this.fallback || !(why instanceof Unavailable)) throw why;
      if (this.logger) this.logger.warn(`retryd unavailable, success of job ${jobId} not reported: ${why.message}`);
      return { failuresBeforeSuccess: 0, known: false, local: true };
    }
  }

  /** The decision reportFailure would give, changing nothing (never the fallback's). */
  async explain(jobId, error, options = {}) {
    const resp = await this._call('Explain', failureRequest(jobId, error, options));
    return decisionOf(resp.decision);
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

module.exports = {
  Client,
  RetrydError,
  Unavailable,
  errorInfo,
  parseRetryAfter,
  retryAfterMsOf,
  fallback,
  MAX_JOB_TYPE,
  cutUtf8,
};
