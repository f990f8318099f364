'use strict';

/**
 * A local decision for when retryd is unavailable: retry after baseMs,
 * 2 * baseMs, 4 * baseMs, ... (at most maxDelayMs) until maxAttempts attempts
 * have failed; give up at once on an error marked `retryable: false`. It knows
 * none of retryd's rules: it only keeps a worker going, cautiously, until the
 * sidecar answers again.
 */
function exponential({ maxAttempts = 3, baseMs = 1000, maxDelayMs = 60000 } = {}) {
  if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1)) {
    throw new RangeError(`maxAttempts must be an integer >= 1, got ${maxAttempts}`);
  }
  if (!(baseMs >= 0 && maxDelayMs >= 0)) throw new RangeError('baseMs and maxDelayMs must not be negative');
  return function exponentialFallback(n, error) {
    n = Math.max(1, Math.floor(n) || 1);
    const common = { failureCount: n, maxAttempts, policy: 'local', local: true };
    if (error && error.retryable === false) {
      return {
        ...common, retry: false, retryAfterMs: 0, retryAt: null, reason: 'permanent_error',
        errorClass: 'permanent', category: 'caller', explanation: 'the caller marked the error not retryable',
      };
    }
    if (n >= maxAttempts) {
      return {
        ...common, retry: false, retryAfterMs: 0, retryAt: null, reason: 'retries_exhausted',
        errorClass: 'unknown', category: 'unknown', explanation: `attempt ${n} of ${maxAttempts} failed: no retries left`,
      };
    }
    const delay = Math.min(maxDelayMs, baseMs * 2 ** (n - 1));
    return {
      ...common, retry: true, retryAfterMs: delay, retryAt: new Date(Date.now() + delay), reason: null,
      errorClass: 'unknown', category: 'unknown',
      explanation: `retry ${n} of ${maxAttempts - 1} after ${delay}ms (exponential from ${baseMs}ms, at most ${maxDelayMs}ms)`,
    };
  };
}

module.exports = { exponential };
