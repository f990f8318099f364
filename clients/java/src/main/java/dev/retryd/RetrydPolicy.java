package dev.retryd;

import java.lang.reflect.Method;
import java.util.function.BiFunction;
import java.util.function.Predicate;

/**
 * retryd's decisions for one job, in the shape that resilience4j's {@code RetryConfig} takes
 * (without depending on it): a retry predicate for {@code retryOnException} and an interval
 * function for {@code intervalBiFunction}.
 *
 * <pre>{@code
 * RetrydPolicy policy = client.policy("doc-42", Options.of().jobType("chunking"));
 * RetryConfig config = RetryConfig.custom()
 *     .maxAttempts(Integer.MAX_VALUE)        // retryd's policy is the limit
 *     .retryOnException(policy)
 *     .intervalBiFunction(policy::interval)
 *     .build();
 * }</pre>
 *
 * {@link #test} reports the failure to retryd with the next attempt number and answers whether
 * to retry; {@link #interval} is that decision's delay in milliseconds (resilience4j calls it with
 * the attempt count and an {@code Either} of the exception or the result). A policy is for one
 * job at a time; {@link #succeeded()} reports its success.
 */
public final class RetrydPolicy implements Predicate<Throwable>, BiFunction<Integer, Object, Long> {
  private final RetrydClient client;
  private final String jobId;
  private final Options options;
  private int attempt;
  private Throwable decided;
  private Decision decision;
  private RuntimeException failure;

  RetrydPolicy(RetrydClient client, String jobId, Options options) {
    if (jobId == null || jobId.isEmpty()) {
      throw new IllegalArgumentException("jobId must not be empty");
    }
    if (options == null) {
      throw new IllegalArgumentException("options must not be null (Options.of() for none)");
    }
    this.client = client;
    this.jobId = jobId;
    this.options = options;
  }

  /**
   * Reports the failure (the next attempt number) and whether retryd says to retry. False when
   * retryd gives up, or cannot be asked and the client has no fallback ({@link #failure()} says
   * why).
   */
  @Override
  public synchronized boolean test(Throwable error) {
    return decide(error).retry();
  }

  /**
   * The delay in milliseconds before attempt {@code numOfAttempts} + 1: the decision {@link
   * #test} made for this failure, or a new one. {@code outcome} is the exception, or an object
   * with {@code isLeft()} / {@code getLeft()} holding it (resilience4j's {@code Either}).
   */
  public synchronized Long interval(Integer numOfAttempts, Object outcome) {
    Throwable error = throwableOf(outcome);
    if (error == null) {
      throw new IllegalArgumentException("outcome holds no exception: " + outcome);
    }
    Decision d = error == decided ? decision : decide(error);
    return d.retry() ? d.retryAfter().toMillis() : -1L;
  }

  @Override
  public Long apply(Integer numOfAttempts, Object outcome) {
    return interval(numOfAttempts, outcome);
  }

  /** Reports the job's success (if it had failed) and starts the count again. */
  public synchronized Success succeeded() {
    int failed = attempt;
    attempt = 0;
    decided = null;
    return failed > 0 ? client.reportSuccess(jobId, options) : new Success(0, false, false);
  }

  /** retryd's latest decision ({@code null} before the first failure). */
  public synchronized Decision decision() {
    return decision;
  }

  /** Why the latest failure could not be reported ({@code null} if it was). */
  public synchronized RuntimeException failure() {
    return failure;
  }

  private Decision decide(Throwable error) {
    attempt++;
    decided = error;
    try {
      decision = client.reportFailure(jobId, error, options.attempt(attempt));
      failure = null;
    } catch (RetrydException e) {
      failure = e;
      decision = new Decision(false, java.time.Duration.ZERO, null, null, attempt, 0, null, null,
          null, "retryd could not be asked: " + e.getMessage(), true);
    }
    return decision;
  }

  private static Throwable throwableOf(Object outcome) {
    if (outcome instanceof Throwable t) {
      return t;
    }
    if (outcome == null) {
      return null;
    }
    try {
      Method isLeft = outcome.getClass().getMethod("isLeft");
      Method getLeft = outcome.getClass().getMethod("getLeft");
      if (Boolean.TRUE.equals(isLeft.invoke(outcome)) && getLeft.invoke(outcome) instanceof Throwable t) {
        return t;
      }
    } catch (ReflectiveOperationException | RuntimeException notAnEither) {
      return null;
    }
    return null;
  }
}
