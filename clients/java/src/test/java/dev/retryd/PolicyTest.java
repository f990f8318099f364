package dev.retryd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.BiFunction;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * RetrydPolicy driven the way resilience4j's Retry drives its retryOnException predicate and
 * IntervalBiFunction (the loop of its RetryImpl: on an exception, the predicate, then the
 * interval for the attempt count with an Either holding the exception), against a live sidecar.
 */
class PolicyTest {
  /** resilience4j's Either, as far as the interval function sees it. */
  public static final class Either {
    private final Throwable left;

    private Either(Throwable left) {
      this.left = left;
    }

    public static Either left(Throwable t) {
      return new Either(t);
    }

    public boolean isLeft() {
      return left != null;
    }

    public Throwable getLeft() {
      return left;
    }
  }

  private static Harness.Sidecar sidecar;
  private static RetrydClient client;

  @BeforeAll
  static void start() throws Exception {
    sidecar = new Harness.Sidecar(Harness.CONFIG, "127.0.0.1:0");
    client = RetrydClient.builder().address(sidecar.address).timeout(Duration.ofSeconds(2)).build();
  }

  @AfterAll
  static void stop() {
    if (client != null) {
      client.close();
    }
    if (sidecar != null) {
      sidecar.close();
    }
  }

  /** resilience4j's loop, with maxAttempts unlimited (retryd is the limit). */
  static <T> T retry(Callable<T> op, Predicate<Throwable> retryOnException,
      BiFunction<Integer, Object, Long> interval, List<Long> waits) throws Exception {
    int attempts = 0;
    while (true) {
      try {
        return op.call();
      } catch (Exception e) {
        attempts++;
        if (!retryOnException.test(e)) {
          throw e;
        }
        long ms = interval.apply(attempts, Either.left(e));
        if (ms < 0) {
          throw e;
        }
        waits.add(ms);
        Thread.sleep(ms);
      }
    }
  }

  @Test
  void retriesAsRetrydDecidesThenReportsTheSuccess() throws Exception {
    String job = Harness.jobId("policy");
    RetrydPolicy policy = client.policy(job, Options.of().jobType("chunking"));
    int[] calls = {0};
    List<Long> waits = new ArrayList<>();
    String out = retry(() -> {
      if (++calls[0] < 3) {
        throw new ConnectException("Connection refused");
      }
      return "done";
    }, policy, policy::interval, waits);
    assertEquals("done", out);
    assertEquals(List.of(100L, 100L), waits);
    assertEquals(2, policy.decision().failureCount());
    assertTrue(client.getJob(job).isPresent());
    assertEquals(new Success(2, true, false), policy.succeeded());
    assertTrue(client.getJob(job).isEmpty());
  }

  @Test
  void stopsWhenRetrydGivesUp() {
    RetrydPolicy policy = client.policy(Harness.jobId("policy"), Options.of());
    int[] calls = {0};
    List<Long> waits = new ArrayList<>();
    SocketTimeoutException e = assertThrows(SocketTimeoutException.class, () -> retry(() -> {
      calls[0]++;
      throw new SocketTimeoutException("Read timed out");
    }, policy, policy, waits));
    assertEquals("Read timed out", e.getMessage());
    assertEquals(Harness.MAX_ATTEMPTS, calls[0]);
    assertEquals(Decision.RETRIES_EXHAUSTED, policy.decision().reason());
    assertNull(policy.failure());

    RetrydPolicy permanent = client.policy(Harness.jobId("policy"), Options.of());
    assertFalse(permanent.test(new ClientTest.ValidationError("bad")));
    assertEquals(Decision.PERMANENT_ERROR, permanent.decision().reason());
    // The interval function alone (no predicate): asks retryd itself; -1 on give-up.
    RetrydPolicy alone = client.policy(Harness.jobId("policy"), Options.of());
    assertEquals(100L, alone.interval(1, new ConnectException("x")));
    assertEquals(-1L, alone.interval(2, Either.left(new ClientTest.ValidationError("bad"))));
  }

  @Test
  void anUnavailableRetrydStopsAndSaysWhy() throws Exception {
    try (RetrydClient down = RetrydClient.builder().address(Harness.closedPort()).timeout(Duration.ofMillis(200)).build()) {
      RetrydPolicy policy = down.policy("j", Options.of());
      assertFalse(policy.test(new ConnectException("x")));
      assertTrue(policy.failure() instanceof UnavailableException, String.valueOf(policy.failure()));
    }
    assertThrows(IllegalArgumentException.class, () -> client.policy("", Options.of()));
    assertThrows(IllegalArgumentException.class, () -> client.policy("j", Options.of()).interval(1, "a result"));
  }
}
