package dev.retryd;

import java.time.Duration;

/**
 * What one call adds to the error: the job's type, the attempt number, the target... Immutable;
 * each method returns a copy: {@code Options.of().jobType("invoice").attempt(2)}.
 */
public final class Options {
  static final int MAX_ATTEMPT = 10_000_000;
  static final int MAX_QUEUE = 128;
  static final int MAX_LEASE_ID = 128;
  private static final Options NONE = new Options(null, null, null, 0, null, null, null, null, null, null);

  final String jobType;
  final String policy;
  final String target;
  final int attempt;
  final Integer priority;
  final Duration retryAfter;
  final Boolean retryable;
  final byte[] payload;
  final String queue;
  final String leaseId;

  private Options(String jobType, String policy, String target, int attempt, Integer priority,
      Duration retryAfter, Boolean retryable, byte[] payload, String queue, String leaseId) {
    this.jobType = jobType;
    this.policy = policy;
    this.target = target;
    this.attempt = attempt;
    this.priority = priority;
    this.retryAfter = retryAfter;
    this.retryable = retryable;
    this.payload = payload;
    this.queue = queue;
    this.leaseId = leaseId;
  }

  /** No options. */
  public static Options of() {
    return NONE;
  }

  /** Selects a policy through {@code [job_types]}; labels the metrics. */
  public Options jobType(String jobType) {
    return new Options(jobType, policy, target, attempt, priority, retryAfter, retryable, payload,
        queue, leaseId);
  }

  /** The policy, named explicitly. */
  public Options policy(String policy) {
    return new Options(jobType, policy, target, attempt, priority, retryAfter, retryable, payload,
        queue, leaseId);
  }

  /** The downstream the attempt called (its retry budget and circuit breaker). */
  public Options target(String target) {
    return new Options(jobType, policy, target, attempt, priority, retryAfter, retryable, payload,
        queue, leaseId);
  }

  /**
   * The caller's attempt number, 1-based (0: not given): a report re-sent with the same number
   * is not counted twice.
   *
   * @throws IllegalArgumentException if not 0 to 10,000,000
   */
  public Options attempt(int attempt) {
    if (attempt < 0 || attempt > MAX_ATTEMPT) {
      throw new IllegalArgumentException(
          "attempt must be 0 (not given) to " + MAX_ATTEMPT + ", got " + attempt);
    }
    return new Options(jobType, policy, target, attempt, priority, retryAfter, retryable, payload,
        queue, leaseId);
  }

  /**
   * 0 to 100: selects a policy through the priority bands.
   *
   * @throws IllegalArgumentException if not 0 to 100
   */
  public Options priority(int priority) {
    if (priority < 0 || priority > 100) {
      throw new IllegalArgumentException("priority must be 0 to 100, got " + priority);
    }
    return new Options(jobType, policy, target, attempt, priority, retryAfter, retryable, payload,
        queue, leaseId);
  }

  /**
   * The delay the failed call was told to wait, overriding what the error carries.
   *
   * @throws IllegalArgumentException if negative or over 366 days
   */
  public Options retryAfter(Duration retryAfter) {
    if (retryAfter == null || retryAfter.isNegative() || retryAfter.compareTo(ErrorInfo.MAX_HINT) > 0) {
      throw new IllegalArgumentException("retryAfter must be 0 to 366 days, got " + retryAfter);
    }
    return new Options(jobType, policy, target, attempt, priority, retryAfter, retryable, payload,
        queue, leaseId);
  }

  /** The caller's own verdict, which overrides retryd's built-in rules. */
  public Options retryable(boolean retryable) {
    return new Options(jobType, policy, target, attempt, priority, retryAfter, retryable, payload,
        queue, leaseId);
  }

  /**
   * Delivery: the job itself ({@code reportFailure}). A retry parks it, due at the decision's
   * {@code retryAt} on its queue, and retryd hands it to a claimer then; a give-up keeps it with
   * the dead job. Empty keeps the job's. At most {@code [delivery] max_payload_bytes} (256 KiB):
   * more is a {@link RetrydException} {@code RESOURCE_EXHAUSTED} naming {@code payload}. The
   * array is not copied.
   */
  public Options payload(byte[] payload) {
    return new Options(jobType, policy, target, attempt, priority, retryAfter, retryable, payload,
        queue, leaseId);
  }

  /**
   * Delivery: the queue the job is due on ({@code reportFailure}); default the job's, else its
   * job type, else {@code "default"}.
   *
   * @throws IllegalArgumentException if over 128 bytes
   */
  public Options queue(String queue) {
    if (queue != null && utf8Length(queue) > MAX_QUEUE) {
      throw new IllegalArgumentException(
          "queue must be at most " + MAX_QUEUE + " bytes, got " + utf8Length(queue));
    }
    return new Options(jobType, policy, target, attempt, priority, retryAfter, retryable, payload,
        queue, leaseId);
  }

  /**
   * Delivery: the lease the job was claimed under ({@link DueJob#leaseId()}), for {@code
   * reportFailure} and {@code reportSuccess}: a claimed job must be settled with it.
   *
   * @throws IllegalArgumentException if over 128 bytes
   */
  public Options leaseId(String leaseId) {
    if (leaseId != null && utf8Length(leaseId) > MAX_LEASE_ID) {
      throw new IllegalArgumentException(
          "leaseId must be at most " + MAX_LEASE_ID + " bytes, got " + utf8Length(leaseId));
    }
    return new Options(jobType, policy, target, attempt, priority, retryAfter, retryable, payload,
        queue, leaseId);
  }

  static int utf8Length(String s) {
    return s.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
  }

  /** The attempt number (0: not given). */
  public int attempt() {
    return attempt;
  }
}
