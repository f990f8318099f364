'use strict';

// Checks of the delivery calls' arguments, each error naming the argument,
// before anything is sent. retryd checks the same fields again; these are
// here so that a mistake fails at its call with a message about its own
// name (`leaseMs`, not the wire's `lease`), and never reaches the wire as a
// value protobuf would silently coerce.

const MAX_LEASE_MS = 12 * 3600 * 1000; // retryd's bound on a lease
const MAX_BATCH = 1000; // max_jobs, max_in_flight

function describe(v) {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Buffer.isBuffer(v)) return `a Buffer of ${v.length} bytes`;
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v === 'object' ? (v.constructor && v.constructor.name) || 'object' : typeof v}`;
}

/** A required, non-empty string. */
function requiredString(name, v) {
  if (typeof v !== 'string' || v === '') throw new TypeError(`${name} must be a non-empty string, got ${describe(v)}`);
  return v;
}

/** A string, or nothing ('' when absent). */
function optionalString(name, v) {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new TypeError(`${name} must be a string, got ${describe(v)}`);
  return v;
}

/** An integer in lo..hi; `dflt` when absent. */
function integerIn(name, v, lo, hi, dflt) {
  if ((v === undefined || v === null) && dflt !== undefined) return dflt;
  if (!Number.isInteger(v)) throw new TypeError(`${name} must be an integer from ${lo} to ${hi}, got ${describe(v)}`);
  if (v < lo || v > hi) throw new RangeError(`${name} must be from ${lo} to ${hi}, got ${v}`);
  return v;
}

/** Milliseconds more than 0 and at most 12 h (rounded up to a whole ms); undefined when absent. */
function leaseMs(name, v) {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${name} must be a number of milliseconds, got ${describe(v)}`);
  if (!(v > 0 && v <= MAX_LEASE_MS)) {
    throw new RangeError(`${name} must be more than 0 and at most ${MAX_LEASE_MS} (12 hours), got ${v}`);
  }
  return Math.ceil(v);
}

/** Milliseconds, not negative and finite; undefined when absent. */
function delayMs(name, v) {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${name} must be a number of milliseconds, got ${describe(v)}`);
  if (!(v >= 0 && Number.isFinite(v))) throw new RangeError(`${name} must be a finite number of milliseconds, not negative, got ${v}`);
  return Math.round(v);
}

/** The bytes of a payload: a Buffer, a Uint8Array, an ArrayBuffer or a string (UTF-8); undefined when absent. */
function payload(name, v) {
  if (v === undefined || v === null) return undefined;
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return Buffer.from(v);
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  throw new TypeError(`${name} must be a Buffer, a Uint8Array, an ArrayBuffer or a string, got ${describe(v)}`);
}

function fn(name, v) {
  if (typeof v !== 'function') throw new TypeError(`${name} must be a function, got ${describe(v)}`);
  return v;
}

/** protobuf's Duration for `ms` milliseconds. */
function duration(ms) {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

module.exports = { MAX_BATCH, MAX_LEASE_MS, delayMs, describe, duration, fn, integerIn, leaseMs, optionalString, payload, requiredString };
