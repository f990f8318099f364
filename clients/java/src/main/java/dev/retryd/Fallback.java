package dev.retryd;

import java.time.Duration;
import java.time.Instant;

/**
 * Makes the decision when retryd is unavailable. {@code n} is the caller's attempt number, else
 * the client's own count of the job's failures since its last success.
 */
@FunctionalInterface
public interface Fallback {
  Decision decide(int n, ErrorInfo error);

  /**
   * A cautious local policy: retry after {@code base}, 2 × base, 4 × base... (at most {@code
   * maxDelay}) until {@code maxAttempts} attempts have failed; give up at once on an error the
   * caller marked not retryable. It knows none of retryd's rules: it only keeps a worker going
   * until the sidecar answers again.
   *
   * @throws IllegalArgumentException naming the argument out of range
   */
  static Fallback exponential(int maxAttempts, Duration base, Duration maxDelay) {
    if (maxAttempts < 1) {
      throw new IllegalArgumentException("maxAttempts must be at least 1, got " + maxAttempts);
    }
    if (base == null || base.isNegative()) {
      throw new IllegalArgumentException("base must not be null or negative, got " + base);
    }
    if (maxDelay == null || maxDelay.isNegative()) {
      throw new IllegalArgumentException("maxDelay must not be null or negative, got " + maxDelay);
    }
    return (n, error) -> {
      int k = Math.max(1, n);
      if (Boolean.FALSE.equals(error.retryable())) {
        return new Decision(false, Duration.ZERO, null, Decision.PERMANENT_ERROR, k, maxAttempts,
            "permanent", "caller", "local", "the caller marked the error not retryable", true);
      }
      if (k >= maxAttempts) {
        return new Decision(false, Duration.ZERO, null, Decision.RETRIES_EXHAUSTED, k, maxAttempts,
            "unknown", "unknown", "local",
            "attempt " + k + " of " + maxAttempts + " failed: no retries left", true);
      }
      Duration delay = maxDelay;
      if (k - 1 < 62) {
        try {
          Duration d = base.multipliedBy(1L << (k - 1));
          if (d.compareTo(maxDelay) < 0) {
            delay = d;
          }
        } catch (ArithmeticException overflow) {
          // past maxDelay
        }
      }
      return new Decision(true, delay, Instant.now().plus(delay), null, k, maxAttempts, "unknown",
          "unknown", "local",
          "retry " + k + " of " + (maxAttempts - 1) + " after " + delay.toMillis()
              + "ms (exponential from " + base.toMillis() + "ms, at most " + maxDelay.toMillis()
              + "ms)",
          true);
    };
  }
}
