package dev.retryd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Delivery's calls against a live sidecar (Harness.deliverySidecar). */
class DeliveryTest {
  private static Harness.Sidecar sidecar;
  private static RetrydClient client;

  @BeforeAll
  static void start() throws Exception {
    sidecar = Harness.deliverySidecar("");
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

  /** A first failure of a new job with a payload on the queue: due 300 ms later. */
  static String park(RetrydClient c, String queue, String prefix, byte[] payload) {
    String id = Harness.jobId(prefix);
    Decision d = c.reportFailure(id, new ConnectException("Connection refused"),
        Options.of().jobType("mail").attempt(1).payload(payload).queue(queue));
    assertTrue(d.retry(), d.toString());
    return id;
  }

  /** The queue's one due job, claimed, waiting (at most 3 s) for it. */
  static DueJob claimOne(RetrydClient c, String queue, Duration lease) throws InterruptedException {
    List<DueJob> got = new java.util.ArrayList<>();
    Harness.eventually(3000, "a job due on " + queue, () -> {
      got.addAll(c.claimDue(queue, 10, lease));
      return !got.isEmpty();
    });
    assertEquals(1, got.size(), got.toString());
    return got.get(0);
  }

  static Optional<QueueStats> stats(String queue) {
    return client.listQueues().stream().filter(q -> q.queue().equals(queue)).findFirst();
  }

  @Test
  void parkClaimExtendReleaseSettle() throws Exception {
    String q = Harness.queue("mail");
    byte[] payload = "{\"to\":\"a@example.com\"}".getBytes(StandardCharsets.UTF_8);
    String id = Harness.jobId("mail");
    Decision d = client.reportFailure(id, new ConnectException("Connection refused"),
        Options.of().jobType("mail").attempt(1).payload(payload).queue(q));
    assertTrue(d.retry());
    assertEquals(Duration.ofMillis(Harness.DELIVERY_DELAY_MS), d.retryAfter());
    // Parked, not yet due.
    assertEquals(List.of(), client.claimDue(q, 10));
    Job held = client.getJob(id).orElseThrow();
    assertEquals(List.of(q, payload.length, 0), List.of(held.queue(), held.payloadBytes(), held.deliveries()));
    assertNull(held.leaseUntil());
    QueueStats s = stats(q).orElseThrow();
    assertEquals(List.of(1L, 0L, 0L, (long) payload.length), List.of(s.parked(), s.due(), s.leased(), s.parkedBytes()));

    // Due: claimed under a lease of 5 s.
    Thread.sleep(Math.max(0, Duration.between(Instant.now(), d.retryAt()).toMillis()));
    Instant before = Instant.now();
    DueJob job = claimOne(client, q, Duration.ofSeconds(5));
    assertEquals(List.of(id, "mail", q, 2, 1), List.of(job.jobId(), job.jobType(), job.queue(), job.attempt(), job.deliveries()));
    assertArrayEquals(payload, job.payload());
    assertEquals("java.net.ConnectException", job.lastError().type());
    assertFalse(job.leaseId().isEmpty());
    assertTrue(job.leaseUntil().isAfter(before.plusSeconds(4)) && !job.leaseUntil().isAfter(Instant.now().plusSeconds(5)),
        job.leaseUntil().toString());
    assertTrue(Duration.between(d.retryAt(), job.dueAt()).abs().toMillis() <= 10, job.dueAt() + " " + d.retryAt());
    s = stats(q).orElseThrow();
    assertEquals(List.of(0L, 1L), List.of(s.parked(), s.leased()));

    // Fencing: without the lease, or with another, nothing changes.
    LeaseLostException lost = assertThrows(LeaseLostException.class, () -> client.reportSuccess(id));
    assertEquals("FAILED_PRECONDITION", lost.code());
    assertTrue(lost.details().contains("report it with that lease_id"), lost.details());
    assertThrows(LeaseLostException.class, () -> client.reportFailure(id, new ConnectException("refused"),
        Options.of().leaseId("0000000000000001").attempt(2)));
    held = client.getJob(id).orElseThrow();
    assertEquals(List.of(1, 1), List.of(held.failureCount(), held.deliveries()));

    // A long run keeps the job.
    Instant until = client.extendLease(id, job.leaseId(), Duration.ofSeconds(10));
    assertTrue(until.isAfter(Instant.now().plusSeconds(9)), until.toString());
    assertEquals(until, client.getJob(id).orElseThrow().leaseUntil());

    // Released: due again at once, no failure counted; the old lease is over.
    client.releaseJob(id, job.leaseId(), null);
    assertThrows(LeaseLostException.class, () -> client.extendLease(id, job.leaseId(), null));
    DueJob again = claimOne(client, q, null);
    assertEquals(List.of(2, 2), List.of(again.attempt(), again.deliveries()));
    assertNotEquals(job.leaseId(), again.leaseId());

    // Failed again with the lease: parked again, its payload kept.
    d = client.reportFailure(id, new ConnectException("refused"),
        Options.of().jobType("mail").leaseId(again.leaseId()).attempt(again.attempt()));
    assertTrue(d.retry());
    assertEquals(2, d.failureCount());
    DueJob third = claimOne(client, q, null);
    assertEquals(3, third.attempt());
    assertArrayEquals(payload, third.payload());

    // Success with the lease: forgotten.
    Success done = client.reportSuccess(id, Options.of().jobType("mail").leaseId(third.leaseId()));
    assertEquals(new Success(2, true, false), done);
    assertTrue(client.getJob(id).isEmpty());
    assertTrue(stats(q).isEmpty());
    assertThrows(LeaseLostException.class, () -> client.reportSuccess(id, Options.of().leaseId(third.leaseId())));
  }

  @Test
  void aLeaseThatRunsOutHandsTheJobOutAgainUntilTheLimit() throws Exception {
    String q = Harness.queue("poison");
    String id = park(client, q, "poison", new byte[] {1});
    // Two claimers die in turn (max_deliveries = 2): the job is dead.
    DueJob first = claimOne(client, q, Duration.ofMillis(400));
    DueJob second = claimOne(client, q, Duration.ofMillis(400));
    assertEquals(List.of(2, first.attempt()), List.of(second.deliveries(), second.attempt()));
    // The first claimer, back too late, is fenced off.
    assertThrows(LeaseLostException.class, () -> client.reportSuccess(id, Options.of().leaseId(first.leaseId())));
    Harness.eventually(3000, "the job dead of the delivery limit",
        () -> "dead".equals(client.getJob(id).orElseThrow().state()));
    Job dead = client.getJob(id).orElseThrow();
    assertEquals("delivery_limit", dead.lastDecision().reason());
    assertEquals(1, dead.payloadBytes());
  }

  @Test
  void badArgumentsAndBounds() {
    assertEquals("queue must not be empty",
        assertThrows(IllegalArgumentException.class, () -> client.claimDue("", 1)).getMessage());
    assertEquals("maxJobs must be 1 to 1000, got 0",
        assertThrows(IllegalArgumentException.class, () -> client.claimDue("q", 0)).getMessage());
    assertEquals("maxInFlight must be 1 to 1000, got 1001",
        assertThrows(IllegalArgumentException.class, () -> client.watchDue("q", 1001, null)).getMessage());
    assertEquals("lease must be more than 0 and at most 12h, got PT-1S",
        assertThrows(IllegalArgumentException.class, () -> client.claimDue("q", 1, Duration.ofSeconds(-1))).getMessage());
    assertEquals("lease must be more than 0 and at most 12h, got PT13H",
        assertThrows(IllegalArgumentException.class, () -> client.extendLease("j", "l", Duration.ofHours(13))).getMessage());
    assertEquals("delay must not be negative, got PT-1S",
        assertThrows(IllegalArgumentException.class, () -> client.releaseJob("j", "l", Duration.ofSeconds(-1))).getMessage());
    assertEquals("queue must be at most 128 bytes, got 129",
        assertThrows(IllegalArgumentException.class, () -> Options.of().queue("q".repeat(129))).getMessage());
    // retryd's own refusals name the field.
    RetrydException e = assertThrows(RetrydException.class, () -> client.releaseJob("j", "", null));
    assertTrue(e.details().contains("lease_id"), e.details());
    // A payload over [delivery] max_payload_bytes: refused, not unavailable (waiting would not
    // help), and no fallback.
    try (RetrydClient fb = RetrydClient.builder().address(sidecar.address).timeout(Duration.ofSeconds(2))
        .fallback(Fallback.exponential(3, Duration.ofSeconds(1), Duration.ofMinutes(1))).build()) {
      RetrydException big = assertThrows(RetrydException.class, () -> fb.reportFailure(Harness.jobId("big"),
          new ConnectException("refused"), Options.of().payload(new byte[300 * 1024])));
      assertFalse(big instanceof UnavailableException, big.toString());
      assertEquals("RESOURCE_EXHAUSTED", big.code());
      assertTrue(big.details().startsWith("payload:"), big.details());
    }
  }

  @Test
  void theAsynchronousFormsAnswerAlike() throws Exception {
    String q = Harness.queue("async");
    String id = park(client, q, "async", new byte[] {7});
    Thread.sleep(Harness.DELIVERY_DELAY_MS);
    List<DueJob> jobs = List.of();
    for (int i = 0; i < 100 && jobs.isEmpty(); i++) {
      jobs = client.claimDueAsync(q, 5, Duration.ofSeconds(5)).get(5, TimeUnit.SECONDS);
    }
    assertEquals(1, jobs.size());
    DueJob job = jobs.get(0);
    assertNotNull(client.extendLeaseAsync(id, job.leaseId(), null).get(5, TimeUnit.SECONDS));
    assertTrue(client.listQueuesAsync().get(5, TimeUnit.SECONDS).stream().anyMatch(s -> s.queue().equals(q)));
    client.releaseJobAsync(id, job.leaseId(), Duration.ofSeconds(5)).get(5, TimeUnit.SECONDS);
    ExecutionException e = assertThrows(ExecutionException.class,
        () -> client.releaseJobAsync(id, job.leaseId(), null).get(5, TimeUnit.SECONDS));
    assertInstanceOf(LeaseLostException.class, e.getCause());
    // Released with a delay: not due yet.
    assertEquals(List.of(), client.claimDue(q, 5));
  }

  @Test
  void watchDueStreamsDueJobsAtMostMaxInFlight() throws Exception {
    String q = Harness.queue("watch");
    DueStream stream = client.watchDue(q, 1, Duration.ofSeconds(10));
    try {
      String a = park(client, q, "w", "a".getBytes(StandardCharsets.UTF_8));
      String b = park(client, q, "w", "b".getBytes(StandardCharsets.UTF_8));
      DueJob first = stream.poll(Duration.ofSeconds(3));
      assertNotNull(first, "no job within 3s");
      assertEquals(a, first.jobId());
      assertEquals("a", new String(first.payload(), StandardCharsets.UTF_8));
      // One in flight: the second waits until the first is settled.
      assertNull(stream.poll(Duration.ofMillis(2 * Harness.DELIVERY_DELAY_MS)));
      client.reportSuccess(a, Options.of().leaseId(first.leaseId()));
      DueJob second = stream.poll(Duration.ofSeconds(3));
      assertNotNull(second, "the second job did not come after the first was settled");
      assertEquals(b, second.jobId());
      client.reportSuccess(b, Options.of().leaseId(second.leaseId()));
      stream.close();
      assertNull(stream.take());
      assertTrue(stream.isDone());
    } finally {
      stream.close();
    }
  }

  @Test
  void watchDueIsRefusedOrUnavailableAtOnce() throws Exception {
    try (Harness.Sidecar off = Harness.deliverySidecar("enabled = false\n");
        RetrydClient c = RetrydClient.builder().address(off.address).timeout(Duration.ofSeconds(2)).build()) {
      RetrydException e = assertThrows(RetrydException.class, () -> c.watchDue("q", 1, null));
      assertEquals("FAILED_PRECONDITION", e.code());
      assertTrue(e.details().contains("delivery is off"), e.details());
      assertFalse(e instanceof LeaseLostException);
    }
    try (Harness.TcpServer hole = Harness.blackHole()) {
      for (String addr : List.of(Harness.closedPort(), hole.address())) {
        try (RetrydClient down = RetrydClient.builder().address(addr).timeout(Duration.ofMillis(300)).build()) {
          long start = System.nanoTime();
          assertThrows(UnavailableException.class, () -> down.watchDue("q", 1, null), addr);
          assertTrue(System.nanoTime() - start < TimeUnit.MILLISECONDS.toNanos(1500), addr);
        }
      }
    }
  }
}
