package dev.retryd;

import java.time.Duration;
import java.time.Instant;

/**
 * retryd's answer to a failure.
 *
 * @param retry retry after {@code retryAfter}; false: give up because of {@code reason}
 * @param retryAfter how long to wait before the next attempt (zero on give-up)
 * @param retryAt when the next attempt is due ({@code null} on give-up)
 * @param reason why retryd gave up ({@code "permanent_error"}, {@code "retries_exhausted"},
 *     {@code "deadline_exceeded"}, {@code "cancelled"}, {@code "budget_exhausted"}, {@code
 *     "pushback"}); {@code null} on retry
 * @param failureCount the failed attempts recorded, this one included
 * @param maxAttempts the attempts the applied limit allows; 0 = unlimited
 * @param errorClass {@code "transient"}, {@code "permanent"} or {@code "unknown"}
 * @param category the classification rule that matched, e.g. {@code "network"}
 * @param policy the policy applied
 * @param explanation which rule and which limit decided
 * @param local made by the fallback, retryd being unavailable
 */
public record Decision(
    boolean retry,
    Duration retryAfter,
    Instant retryAt,
    String reason,
    int failureCount,
    int maxAttempts,
    String errorClass,
    String category,
    String policy,
    String explanation,
    boolean local) {

  public static final String PERMANENT_ERROR = "permanent_error";
  public static final String RETRIES_EXHAUSTED = "retries_exhausted";
  public static final String DEADLINE_EXCEEDED = "deadline_exceeded";
  public static final String CANCELLED = "cancelled";
  public static final String BUDGET_EXHAUSTED = "budget_exhausted";
  public static final String PUSHBACK = "pushback";

  /** This decision made locally: {@code local} set, the explanation saying why. */
  Decision asLocal(String why) {
    return new Decision(retry, retryAfter, retryAt, reason, failureCount, maxAttempts, errorClass,
        category, policy, "local decision, retryd unavailable (" + why + "): " + explanation, true);
  }
}
