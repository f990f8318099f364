'use strict';

// From whatever a job threw to the ErrorInfo retryd classifies, and the
// server's Retry-After. See index.d.ts for the rules.

const MAX_MESSAGE = 64 * 1024; // bytes; retryd refuses longer messages
const MAX_TYPE = 1024;
// A Retry-After longer than this is a mistake, not advice: retryd refuses it,
// so one read from a response is dropped rather than sent.
const MAX_HINT_MS = 366 * 24 * 3600 * 1000;

// Node's system errors (ECONNRESET, EAI_AGAIN, ...) and undici's
// (UND_ERR_SOCKET, UND_ERR_CONNECT_TIMEOUT) name the failure better than
// their class (`Error`, `TypeError: fetch failed`) does; Node's own ERR_*
// codes name programming errors and are left alone.
const ERRNO = /^(E[A-Z0-9]+(_[A-Z0-9]+)?|UND_ERR_[A-Z_]+)$/;

function cutUtf8(s, limit) {
  s = String(s);
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= limit) return s;
  // Back up to the start of the character the limit falls in.
  let end = limit;
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

function isObject(v) {
  return v !== null && (typeof v === 'object' || typeof v === 'function');
}

function isErrnoCode(code) {
  return typeof code === 'string' && !code.startsWith('ERR_') && ERRNO.test(code);
}

/** A fetch `Response` (or look-alike) that is not ok. */
function isResponse(v) {
  return isObject(v) && typeof v.status === 'number' && typeof v.ok === 'boolean' &&
    isObject(v.headers) && typeof v.headers.get === 'function';
}

function validStatus(n) {
  return Number.isInteger(n) && n >= 100 && n <= 599 ? n : 0;
}

function header(headers, name) {
  if (!isObject(headers)) return undefined;
  if (typeof headers.get === 'function') {
    try {
      const v = headers.get(name);
      if (v !== undefined && v !== null) return v;
    } catch (_) {
      // not a Headers-like get(name)
    }
  }
  const lower = name.toLowerCase();
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === lower) return headers[key];
  }
  return undefined;
}

/** Milliseconds from a Retry-After value (delay-seconds or an HTTP-date); undefined if none. */
function parseRetryAfter(value, now = Date.now()) {
  if (Array.isArray(value)) value = value[0];
  if (value === undefined || value === null) return undefined;
  let ms;
  if (typeof value === 'number') {
    ms = value * 1000;
  } else {
    const text = String(value).trim();
    if (text === '') return undefined;
    if (/^-?\d+(\.\d+)?$/.test(text)) {
      ms = Number(text) * 1000;
    } else {
      const when = Date.parse(text);
      if (Number.isNaN(when)) return undefined;
      ms = when - now;
    }
  }
  if (!Number.isFinite(ms)) return undefined;
  ms = Math.max(0, Math.round(ms));
  return ms <= MAX_HINT_MS ? ms : undefined;
}

/** The errors in `err`'s cause chain, `err` first (at most 8). */
function chain(err) {
  const out = [];
  let e = err;
  while (isObject(e) && out.length < 8 && !out.includes(e)) {
    out.push(e);
    e = e.cause;
  }
  return out;
}

function responseOf(err) {
  if (isResponse(err)) return err;
  if (isObject(err) && isObject(err.response)) return err.response;
  return undefined;
}

function httpStatusOf(err) {
  const response = responseOf(err);
  if (response) {
    const n = validStatus(response.status) || validStatus(response.statusCode);
    if (n) return n;
  }
  if (!isObject(err)) return 0;
  return validStatus(err.status) || validStatus(err.statusCode) || validStatus(err.httpStatus);
}

function isGrpcError(err) {
  return isObject(err) && typeof err.code === 'number' && Number.isInteger(err.code) &&
    err.code >= 0 && err.code <= 16 && ('details' in err || 'metadata' in err);
}

/** The server's Retry-After (or gRPC's grpc-retry-pushback-ms), in ms; undefined if none. */
function retryAfterMsOf(err) {
  const response = responseOf(err);
  if (response) {
    const ms = parseRetryAfter(header(response.headers, 'retry-after'));
    if (ms !== undefined) return ms;
  }
  const ms = pushbackMsOf(err);
  if (ms !== undefined && ms >= 0 && ms <= MAX_HINT_MS) return ms;
  return undefined;
}

/** gRPC's grpc-retry-pushback-ms trailer: a delay in ms, or negative for "do not retry". */
function pushbackMsOf(err) {
  if (isGrpcError(err) && isObject(err.metadata) && typeof err.metadata.get === 'function') {
    const [v] = err.metadata.get('grpc-retry-pushback-ms');
    if (v !== undefined) {
      const ms = Number(String(v));
      if (Number.isFinite(ms)) return Math.round(ms);
    }
  }
  return undefined;
}

function nameOf(err) {
  if (typeof err.name === 'string' && err.name) return err.name;
  const ctor = err.constructor && err.constructor.name;
  return ctor && ctor !== 'Object' ? ctor : 'Error';
}

function messageOf(err) {
  let message = typeof err.message === 'string' ? err.message : '';
  // AggregateError (e.g. Node trying IPv4 and IPv6) has no message of its own.
  if (!message && Array.isArray(err.errors)) {
    message = err.errors.map((e) => (isObject(e) ? e.message : String(e))).filter(Boolean).join('; ');
  }
  return message;
}

/** Is `v` an ErrorInfo the caller made (not an Error)? */
function isErrorInfo(v) {
  return isObject(v) && !(v instanceof Error) && !isResponse(v) && typeof v.type === 'string' &&
    !('stack' in v);
}

/**
 * The ErrorInfo retryd is sent for `err`: an Error (and its cause chain), an
 * axios / ky / got error with a `response`, a fetch Response that is not ok,
 * a gRPC ServiceError, a string, or an ErrorInfo as it is.
 */
function errorInfo(err) {
  if (isErrorInfo(err)) {
    return {
      type: cutUtf8(err.type, MAX_TYPE),
      message: cutUtf8(err.message === undefined ? '' : err.message, MAX_MESSAGE),
      httpStatus: validStatus(err.httpStatus),
      grpcCode: Number.isInteger(err.grpcCode) && err.grpcCode >= 0 && err.grpcCode <= 16 ? err.grpcCode : 0,
      retryable: typeof err.retryable === 'boolean' ? err.retryable : undefined,
    };
  }
  if (isResponse(err)) {
    const where = typeof err.url === 'string' && err.url ? ` from ${err.url}` : '';
    return {
      type: 'HTTPError',
      message: cutUtf8(`HTTP ${err.status}${err.statusText ? ` ${err.statusText}` : ''}${where}`, MAX_MESSAGE),
      httpStatus: validStatus(err.status),
      grpcCode: 0,
      retryable: undefined,
    };
  }
  if (!isObject(err)) {
    return { type: 'Error', message: cutUtf8(String(err), MAX_MESSAGE), httpStatus: 0, grpcCode: 0, retryable: undefined };
  }
  const errno = chain(err).find((e) => isErrnoCode(e.code));
  const type = errno ? errno.code : nameOf(err);
  let message = messageOf(err);
  if (errno && errno !== err) {
    const inner = messageOf(errno);
    if (inner && !message.includes(inner)) message = message ? `${message}: ${inner}` : inner;
  }
  if (isGrpcError(err) && typeof err.details === 'string' && err.details && !message) message = err.details;
  return {
    type: cutUtf8(type, MAX_TYPE),
    message: cutUtf8(message, MAX_MESSAGE),
    httpStatus: httpStatusOf(err),
    grpcCode: isGrpcError(err) ? err.code : 0,
    retryable: undefined,
  };
}

module.exports = {
  MAX_MESSAGE,
  MAX_TYPE,
  cutUtf8,
  errorInfo,
  isErrorInfo,
  parseRetryAfter,
  retryAfterMsOf,
  pushbackMsOf,
};
