package dev.retryd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** RetrydClient against a live sidecar (Harness.CONFIG). */
class ClientTest {
  static class ValidationError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    ValidationError(String message) {
      super(message);
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

  @Test
  void aTransientFailureGetsARetry() {
    Instant before = Instant.now();
    Decision d = client.reportFailure(Harness.jobId("t"),
        new RuntimeException("charge failed", new ConnectException("Connection refused")),
        Options.of().jobType("invoice").attempt(1));
    assertTrue(d.retry());
    assertEquals(Duration.ofMillis(Harness.DELAY_MS), d.retryAfter());
    assertTrue(d.retryAt().isAfter(before) && d.retryAt().isBefore(before.plusSeconds(5)));
    assertNull(d.reason());
    assertEquals(1, d.failureCount());
    assertEquals(Harness.MAX_ATTEMPTS, d.maxAttempts());
    assertEquals(List.of("transient", "network", "default"), List.of(d.errorClass(), d.category(), d.policy()));
    assertTrue(d.explanation().contains("ConnectException"), d.explanation());
    assertFalse(d.local());
  }

  @Test
  void retriesRunOutAndTheJobIsDead() {
    String job = Harness.jobId("exhaust");
    List<Boolean> retries = new ArrayList<>();
    for (int n = 1; n <= Harness.MAX_ATTEMPTS; n++) {
      Decision d = client.reportFailure(job, new SocketTimeoutException("Read timed out"), Options.of().attempt(n));
      retries.add(d.retry());
      assertEquals(n, d.failureCount());
      if (n == Harness.MAX_ATTEMPTS) {
        assertEquals(Decision.RETRIES_EXHAUSTED, d.reason());
        assertNull(d.retryAt());
        assertEquals(Duration.ZERO, d.retryAfter());
      }
    }
    assertEquals(List.of(true, true, true, false), retries);
    // A re-sent attempt is not counted twice.
    Decision again = client.reportFailure(job, new SocketTimeoutException("Read timed out"), Options.of().attempt(4));
    assertEquals(Harness.MAX_ATTEMPTS, again.failureCount());
    Job dead = client.getJob(job).orElseThrow();
    assertEquals("dead", dead.state());
    assertEquals(Harness.MAX_ATTEMPTS, dead.failureCount());
    assertEquals("retries_exhausted", dead.lastDecision().reason());
    assertEquals("java.net.SocketTimeoutException", dead.lastError().type());
    assertEquals("Read timed out", dead.lastError().message());
  }

  @Test
  void successMakesRetrydForgetTheJob() {
    String job = Harness.jobId("success");
    client.reportFailure(job, new ConnectException("Connection refused"), Options.of().jobType("invoice").attempt(1));
    client.reportFailure(job, new ConnectException("Connection refused"), Options.of().jobType("invoice").attempt(2));
    Job held = client.getJob(job).orElseThrow();
    assertEquals(List.of("retrying", "invoice", 2), List.of(held.state(), held.jobType(), held.failureCount()));
    assertNotNull(held.nextRetryAt());
    assertNotNull(held.firstFailureAt());
    assertEquals(new Success(2, true, false), client.reportSuccess(job, Options.of().jobType("invoice")));
    assertTrue(client.getJob(job).isEmpty());
    assertFalse(client.reportSuccess(job).known());
  }

  @Test
  void explainChangesNothing() {
    String job = Harness.jobId("explain");
    Decision d = client.explain(job, new SocketTimeoutException("Read timed out"), Options.of().attempt(1));
    assertTrue(d.retry());
    assertEquals("timeout", d.category());
    assertTrue(client.getJob(job).isEmpty());
  }

  @Test
  void theAsynchronousFormsAnswerAlike() throws Exception {
    String job = Harness.jobId("async");
    CompletableFuture<Decision> f = client.reportFailureAsync(job, new ConnectException("refused"), Options.of().attempt(1));
    Decision d = f.get(5, TimeUnit.SECONDS);
    assertTrue(d.retry());
    assertEquals("network", d.category());
    assertEquals(1, client.getJobAsync(job).get(5, TimeUnit.SECONDS).orElseThrow().failureCount());
    assertTrue(client.reportSuccessAsync(job, Options.of()).get(5, TimeUnit.SECONDS).known());
    ExecutionException e = assertThrows(ExecutionException.class,
        () -> client.reportFailureAsync("", ErrorInfo.of("X", ""), Options.of()).get(5, TimeUnit.SECONDS));
    assertInstanceOf(RetrydException.class, e.getCause());
  }

  @Test
  void errorInfoVerdictPolicyPriorityTarget() {
    Decision d = client.reportFailure(Harness.jobId("v"), ErrorInfo.of("VendorError", "quota").withRetryable(true), Options.of());
    assertEquals(List.of(true, "caller"), List.of(d.retry(), d.category()));
    d = client.reportFailure(Harness.jobId("v"), new IllegalStateException("odd"), Options.of().retryable(false));
    assertEquals(List.of(false, "permanent_error", "caller"), List.of(d.retry(), d.reason(), d.category()));
    d = client.reportFailure(Harness.jobId("v"), ErrorInfo.of("Odd", "").withGrpcCode(14), Options.of());
    assertEquals("unavailable", d.category());
    d = client.reportFailure(Harness.jobId("v"), ErrorInfo.of("Odd", "").withHttpStatus(404), Options.of());
    assertEquals(List.of(false, "permanent_error", "client_error"), List.of(d.retry(), d.reason(), d.category()));
    d = client.reportFailure(Harness.jobId("p"), new SocketTimeoutException("t"), Options.of().policy("aggressive").attempt(1));
    assertEquals(List.of("aggressive", 5), List.of(d.policy(), d.maxAttempts()));
    d = client.reportFailure(Harness.jobId("p"), new SocketTimeoutException("t"), Options.of().priority(90).attempt(1));
    assertEquals("high_priority", d.policy());
    d = client.reportFailure(Harness.jobId("p"), new SocketTimeoutException("t"),
        Options.of().target("s3").retryAfter(Duration.ofSeconds(2)));
    assertEquals(Duration.ofSeconds(2), d.retryAfter());
    d = client.reportFailure(Harness.jobId("p"), new ValidationError("amount must be positive"), Options.of());
    assertEquals(List.of(false, "invalid_input"), List.of(d.retry(), d.category()));
  }

  @Test
  void badInputIsAnErrorNamingTheArgument() {
    try (RetrydClient c = RetrydClient.builder().address(sidecar.address)
        .fallback(Fallback.exponential(3, Duration.ofSeconds(1), Duration.ofMinutes(1))).build()) {
      // retryd's own refusal: not Unavailable, so no fallback.
      RetrydException e = assertThrows(RetrydException.class, () -> c.reportFailure("", new ConnectException("x")));
      assertFalse(e instanceof UnavailableException);
      assertEquals("INVALID_ARGUMENT", e.code());
      assertTrue(e.getMessage().contains("job_id"), e.getMessage());
    }
    assertEquals("attempt must be 0 (not given) to 10000000, got -1",
        assertThrows(IllegalArgumentException.class, () -> Options.of().attempt(-1)).getMessage());
    assertEquals("priority must be 0 to 100, got 150",
        assertThrows(IllegalArgumentException.class, () -> Options.of().priority(150)).getMessage());
    assertEquals("timeout must be positive, got PT0S",
        assertThrows(IllegalArgumentException.class, () -> RetrydClient.builder().timeout(Duration.ZERO)).getMessage());
    assertEquals("maxAttempts must be at least 1, got 0",
        assertThrows(IllegalArgumentException.class,
            () -> Fallback.exponential(0, Duration.ofSeconds(1), Duration.ofSeconds(1))).getMessage());
    assertEquals("error must not be null",
        assertThrows(IllegalArgumentException.class, () -> client.reportFailure("j", (Throwable) null)).getMessage());
    assertEquals("options must not be null (Options.of() for none)",
        assertThrows(IllegalArgumentException.class,
            () -> client.reportFailure("j", new ConnectException("x"), null)).getMessage());
  }

  @Test
  void aDownOrHungSidecarIsUnavailableWithinTheTimeout() throws Exception {
    try (Harness.TcpServer hole = Harness.blackHole()) {
      for (String addr : List.of(Harness.closedPort(), hole.address())) {
        try (RetrydClient c = RetrydClient.builder().address(addr).timeout(Duration.ofMillis(300)).build()) {
          long start = System.nanoTime();
          UnavailableException e = assertThrows(UnavailableException.class,
              () -> c.reportFailure("j", new ConnectException("x"), Options.of().attempt(1)));
          long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
          assertTrue(took < 1500, addr + " took " + took + "ms");
          assertTrue(e.getMessage().startsWith("retryd at " + addr), e.getMessage());
          assertThrows(UnavailableException.class, () -> c.getJob("j"));
          CompletionException async = assertThrows(CompletionException.class,
              () -> c.explainAsync("j", ErrorInfo.of("X", ""), Options.of()).join());
          assertInstanceOf(UnavailableException.class, async.getCause());
        }
      }
    }
  }

  @Test
  void theFallbackDecidesWhenRetrydIsUnavailable() throws Exception {
    try (Harness.TcpServer hole = Harness.blackHole();
        RetrydClient c = RetrydClient.builder().address(hole.address()).timeout(Duration.ofMillis(200))
            .fallback(Fallback.exponential(3, Duration.ofSeconds(1), Duration.ofMinutes(1))).build()) {
      List<String> got = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        Decision d = c.reportFailure("job-1", new ConnectException("x")); // no attempt: counted by the client
        assertTrue(d.local());
        assertTrue(d.explanation().startsWith("local decision, retryd unavailable (retryd at "), d.explanation());
        got.add(d.retry() + " " + d.retryAfter().toMillis() + " " + d.reason());
      }
      assertEquals(List.of("true 1000 null", "true 2000 null", "false 0 retries_exhausted"), got);
      Decision d = c.reportFailure("job-2", ErrorInfo.of("X", "").withRetryable(false), Options.of().attempt(1));
      assertEquals(List.of(false, "permanent_error", true), List.of(d.retry(), d.reason(), d.local()));
      assertTrue(c.reportSuccess("job-1").local());
      // Explain is never the fallback's.
      assertThrows(UnavailableException.class, () -> c.explain("job-1", new ConnectException("x"), Options.of()));
    }
  }

  @Test
  void theClientReconnectsWhenTheSidecarComesBack() throws Exception {
    Harness.Sidecar s = new Harness.Sidecar(Harness.CONFIG, "127.0.0.1:0");
    String addr = s.address;
    try (RetrydClient c = RetrydClient.builder().address(addr).timeout(Duration.ofMillis(500)).build()) {
      c.reportFailure(Harness.jobId("r"), new ConnectException("x"));
      s.close();
      assertThrows(UnavailableException.class, () -> c.reportFailure(Harness.jobId("r"), new ConnectException("x")));
      try (Harness.Sidecar back = new Harness.Sidecar(Harness.CONFIG, addr)) {
        assertEquals(addr, back.address);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
        while (true) {
          try {
            c.reportFailure(Harness.jobId("r"), new ConnectException("x"));
            break;
          } catch (UnavailableException e) {
            assertTrue(System.nanoTime() < deadline, "not reconnected within 3s: " + e.getMessage());
            Thread.sleep(100);
          }
        }
      }
    } finally {
      s.close();
    }
  }

  @Test
  void errorInfoWalksTheCauseChain() {
    ErrorInfo e = ErrorInfo.from(new CompletionException(new UncheckedIOException(new ConnectException("Connection refused"))));
    assertEquals("java.net.ConnectException", e.type());
    assertEquals("Connection refused", e.message());
    e = ErrorInfo.from(new IllegalStateException("charge failed", new SocketTimeoutException("Read timed out")));
    assertEquals("java.net.SocketTimeoutException", e.type());
    assertEquals("charge failed: Read timed out", e.message());
    Metadata trailers = new Metadata();
    trailers.put(ErrorInfo.PUSHBACK, "250");
    e = ErrorInfo.from(new RuntimeException(new StatusRuntimeException(Status.RESOURCE_EXHAUSTED.withDescription("slow down"), trailers)));
    assertEquals(List.of("io.grpc.StatusRuntimeException", "RESOURCE_EXHAUSTED: slow down", 8, Duration.ofMillis(250), 250L),
        List.of(e.type(), e.message(), e.grpcCode(), e.retryAfter(), e.pushbackMs()));
    e = ErrorInfo.from(new IOException("disk on fire"));
    assertEquals(List.of("java.io.IOException", "disk on fire", 0, 0), List.of(e.type(), e.message(), e.httpStatus(), e.grpcCode()));
    assertNull(e.retryAfter());
    String big = "é".repeat(40_000);
    assertEquals(64 * 1024 / 2, ErrorInfo.from(new RuntimeException(big)).message().length());
    Instant now = Instant.parse("2030-01-01T00:00:00Z");
    assertEquals(Duration.ofSeconds(120), ErrorInfo.parseRetryAfter("120", now));
    assertEquals(Duration.ofMillis(1500), ErrorInfo.parseRetryAfter("1.5", now));
    assertEquals(Duration.ZERO, ErrorInfo.parseRetryAfter("-3", now));
    assertEquals(Duration.ofSeconds(90), ErrorInfo.parseRetryAfter("Tue, 01 Jan 2030 00:01:30 GMT", now));
    assertNull(ErrorInfo.parseRetryAfter("soon", now));
    assertNull(ErrorInfo.parseRetryAfter("1000000000", now));
  }

  @Test
  void theGeneratedCodeMatchesTheProto() throws Exception {
    Path out = Files.createTempDirectory("retryd-java-gen-");
    Path root = Harness.root();
    Process p = new ProcessBuilder(root.resolve("clients/java/generate").toString(), out.toString())
        .redirectErrorStream(true).start();
    String log = new String(p.getInputStream().readAllBytes());
    assertEquals(0, p.waitFor(), log);
    Path committed = root.resolve("clients/java/src/main/java/dev/retryd/v1");
    Path fresh = out.resolve("dev/retryd/v1");
    try (var files = Files.list(fresh); var mine = Files.list(committed)) {
      List<String> names = files.map(f -> f.getFileName().toString()).sorted().toList();
      assertEquals(names, mine.map(f -> f.getFileName().toString()).sorted().toList());
      for (String n : names) {
        assertEquals(Files.readString(fresh.resolve(n)), Files.readString(committed.resolve(n)),
            "src/main/java/dev/retryd/v1/" + n + " differs from what ./generate makes of proto/: run clients/java/generate");
      }
    } finally {
      try (var files = Files.walk(out)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
  }

  @Test
  void anExistingChannelIsUsedAndLeftOpen() {
    ManagedChannel ch = ManagedChannelBuilder.forTarget(sidecar.address).usePlaintext().build();
    try {
      try (RetrydClient c = RetrydClient.builder().channel(ch).build()) {
        assertTrue(c.reportFailure(Harness.jobId("ch"), new ConnectException("x")).retry());
      }
      assertFalse(ch.isShutdown());
    } finally {
      ch.shutdownNow();
    }
  }
}
