package dev.retryd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The Worker against a live sidecar (Harness.deliverySidecar): each test on a queue of its own. */
class WorkerTest {
  static class ValidationError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    ValidationError(String message) {
      super(message);
    }
  }

  private static Harness.Sidecar sidecar;
  private static RetrydClient client;
  /** The workers a test started, closed after it. */
  private final List<Worker> workers = new ArrayList<>();

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

  @AfterEach
  void closeWorkers() throws InterruptedException {
    for (Worker w : workers) {
      w.stop();
      assertTrue(w.awaitTermination(Duration.ofSeconds(10)), "a worker did not stop within 10s");
    }
  }

  private Worker started(Worker.Builder b) {
    Worker w = b.stopTimeout(Duration.ofSeconds(5)).build();
    workers.add(w);
    return w.start();
  }

  private static String park(String queue, String prefix, String payload) {
    return DeliveryTest.park(client, queue, prefix, payload.getBytes(StandardCharsets.UTF_8));
  }

  private static <T> T within(BlockingQueue<T> q, String what) throws InterruptedException {
    T v = q.poll(3, TimeUnit.SECONDS);
    assertNotNull(v, "not within 3s: " + what);
    return v;
  }

  private static boolean gone(String id) {
    return client.getJob(id).isEmpty();
  }

  @Test
  void runsADueJobAndReportsItsSuccess() throws Exception {
    String q = Harness.queue("w-success");
    String id = park(q, "w-success", "{\"to\":\"a@example.com\"}");
    BlockingQueue<DueJob> got = new ArrayBlockingQueue<>(4);
    Worker w = started(Worker.builder(client, q, got::add).concurrency(2));
    DueJob job = within(got, "the job");
    assertEquals(List.of(id, 2, "mail"), List.of(job.jobId(), job.attempt(), job.jobType()));
    assertArrayEquals("{\"to\":\"a@example.com\"}".getBytes(StandardCharsets.UTF_8), job.payload());
    Harness.eventually(3000, "the success reported", () -> w.stats().succeeded() == 1);
    assertTrue(gone(id), "retryd still holds the job");
    w.close();
    Worker.Stats s = w.stats();
    assertEquals(List.of(1L, 0L, 0L, 0L), List.of(s.received(), s.retried(), s.lost(), s.unsettled()));
  }

  @Test
  void retriesATransientFailureUntilItSucceeds() throws Exception {
    String q = Harness.queue("w-flaky");
    String id = park(q, "w-flaky", "flaky");
    List<Integer> attempts = new CopyOnWriteArrayList<>();
    Worker w = started(Worker.builder(client, q, job -> {
      attempts.add(job.attempt());
      if (job.attempt() < 4) {
        throw new java.io.UncheckedIOException(new ConnectException("Connection refused"));
      }
    }));
    Harness.eventually(5000, "the success after two failures", () -> w.stats().succeeded() == 1);
    assertEquals(List.of(2, 3, 4), attempts);
    assertEquals(List.of(2L, 0L), List.of(w.stats().retried(), w.stats().dead()));
    assertTrue(gone(id));
  }

  @Test
  void aPermanentErrorDiesAtOnceAndAnErrorIsAFailure() throws Exception {
    String q = Harness.queue("w-permanent");
    String bad = park(q, "w-permanent", "bad");
    String crashes = park(q, "w-crash", "crash");
    Map<String, Integer> runs = new ConcurrentHashMap<>();
    Worker w = started(Worker.builder(client, q, job -> {
      runs.merge(job.jobId(), 1, Integer::sum);
      if (job.jobId().equals(crashes)) {
        if (job.attempt() == 2) {
          throw new AssertionError("a bug");
        }
        return;
      }
      throw new ValidationError("no such mailbox");
    }).concurrency(2));
    Harness.eventually(5000, "one dead, one succeeded", () -> w.stats().dead() == 1 && w.stats().succeeded() == 1);
    Job dead = client.getJob(bad).orElseThrow();
    assertEquals(List.of("dead", "permanent_error", "dev.retryd.WorkerTest$ValidationError", 3),
        List.of(dead.state(), dead.lastDecision().reason(), dead.lastError().type(), dead.payloadBytes()));
    // Retried after its AssertionError (an unknown error), then done.
    assertEquals(1, w.stats().retried());
    assertTrue(gone(crashes));
    Thread.sleep(2 * Harness.DELIVERY_DELAY_MS); // nothing more comes
    assertEquals(Map.of(bad, 1, crashes, 2), runs);
  }

  @Test
  void getsTheJobOfADeadWorkerWhenItsLeaseRunsOut() throws Exception {
    String q = Harness.queue("w-dead");
    String id = park(q, "w-dead", "orphan");
    // A worker that claims the job and dies: it never settles.
    DueJob dead = DeliveryTest.claimOne(client, q, Duration.ofSeconds(1));
    long claimed = System.nanoTime();
    BlockingQueue<DueJob> got = new ArrayBlockingQueue<>(4);
    BlockingQueue<Throwable> fenced = new ArrayBlockingQueue<>(4);
    Worker w = started(Worker.builder(client, q, job -> {
      // The dead worker, back to life, cannot settle the job now.
      try {
        client.reportSuccess(job.jobId(), Options.of().leaseId(dead.leaseId()));
        fenced.add(new AssertionError("the stale lease settled the job"));
      } catch (RetrydException e) {
        fenced.add(e);
      }
      got.add(job);
    }));
    DueJob job = within(got, "the job back after the lease");
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - claimed);
    assertTrue(tookMs >= 900, "handed out again after " + tookMs + " ms, within the lease");
    assertEquals(List.of(id, 2, dead.attempt()), List.of(job.jobId(), job.deliveries(), job.attempt()));
    assertNotEquals(dead.leaseId(), job.leaseId());
    assertInstanceOf(LeaseLostException.class, within(fenced, "the dead worker's report"));
    Harness.eventually(3000, "the success reported", () -> w.stats().succeeded() == 1);
    assertTrue(gone(id));
  }

  record LostLease(DueJob job, LeaseLostException error) {}

  /**
   * Settles the job the worker runs behind its back, with its lease (a duplicate consumer, say):
   * a permanent error, so that it is dead and handed out no more.
   */
  private static void takeOver(DueJob job) {
    Decision d = client.reportFailure(job.jobId(), new ValidationError("taken over"),
        Options.of().leaseId(job.leaseId()).attempt(job.attempt()));
    assertFalse(d.retry());
  }

  private static void checkLost(Worker w, BlockingQueue<LostLease> lost, String id) throws InterruptedException {
    LostLease l = within(lost, "the lost lease");
    assertEquals(id, l.job().jobId());
    Harness.eventually(1000, "counted", () -> w.stats().lost() == 1);
    // The worker's report changed nothing.
    Job job = client.getJob(id).orElseThrow();
    assertEquals(List.of("dead", 2, "taken over"), List.of(job.state(), job.failureCount(), job.lastError().message()));
    Worker.Stats s = w.stats();
    assertEquals(0, s.succeeded() + s.retried() + s.dead(), s.toString());
  }

  @Test
  void reportsALeaseLostWhenSettlingAndNothingForTheJob() throws Exception {
    String q = Harness.queue("w-lost-settle");
    String id = park(q, "w-lost", "x");
    BlockingQueue<DueJob> running = new ArrayBlockingQueue<>(4);
    BlockingQueue<LostLease> lost = new ArrayBlockingQueue<>(4);
    CountDownLatch finish = new CountDownLatch(1);
    Worker w = started(Worker.builder(client, q, job -> {
      running.add(job);
      finish.await();
      throw new IllegalStateException("failed, and too late");
    }).onLeaseLost((job, e) -> lost.add(new LostLease(job, e))));
    takeOver(within(running, "the job"));
    finish.countDown();
    checkLost(w, lost, id);
  }

  @Test
  void interruptsTheHandlerWhenAnExtensionFindsTheLeaseLost() throws Exception {
    String q = Harness.queue("w-lost-extend");
    String id = park(q, "w-lost", "x");
    BlockingQueue<DueJob> running = new ArrayBlockingQueue<>(4);
    BlockingQueue<LostLease> lost = new ArrayBlockingQueue<>(4);
    BlockingQueue<InterruptedException> interrupted = new ArrayBlockingQueue<>(4);
    Worker w = started(Worker.builder(client, q, job -> {
      running.add(job);
      try {
        Thread.sleep(10_000);
      } catch (InterruptedException e) {
        interrupted.add(e);
        throw e;
      }
    }).lease(Duration.ofMillis(900)).onLeaseLost((job, e) -> lost.add(new LostLease(job, e))));
    takeOver(within(running, "the job"));
    within(interrupted, "the handler interrupted");
    checkLost(w, lost, id);
  }

  @Test
  void logsALostLeaseByDefault() throws Exception {
    List<String> messages = Collections.synchronizedList(new ArrayList<>());
    Logger jul = Logger.getLogger(Worker.class.getName());
    Handler capture = new Handler() {
      @Override
      public void publish(LogRecord r) {
        messages.add(java.text.MessageFormat.format(r.getMessage(), r.getParameters()));
      }

      @Override
      public void flush() {}

      @Override
      public void close() {}
    };
    jul.addHandler(capture);
    try {
      String q = Harness.queue("w-lost-log");
      park(q, "w-lost", "x");
      BlockingQueue<DueJob> running = new ArrayBlockingQueue<>(4);
      CountDownLatch finish = new CountDownLatch(1);
      Worker w = started(Worker.builder(client, q, job -> {
        running.add(job);
        finish.await();
      }));
      DueJob job = within(running, "the job");
      takeOver(job);
      finish.countDown();
      String want = "job " + job.jobId() + ": lease lost (retryd: FAILED_PRECONDITION: lease_id: ";
      Harness.eventually(3000, "the lost lease logged", () -> {
        synchronized (messages) {
          return messages.stream().anyMatch(m -> m.contains(want));
        }
      });
      assertEquals(List.of(1L, 0L), List.of(w.stats().lost(), w.stats().succeeded()));
    } finally {
      jul.removeHandler(capture);
    }
  }

  @Test
  void extendsTheLeaseOfALongHandler() throws Exception {
    String q = Harness.queue("w-long");
    String id = park(q, "w-long", "long");
    BlockingQueue<DueJob> started = new ArrayBlockingQueue<>(4);
    Worker w = started(Worker.builder(client, q, job -> {
      started.add(job);
      Thread.sleep(2000); // more than three leases
    }).lease(Duration.ofMillis(600)));
    DueJob job = within(started, "the job");
    // Past its first lease, nobody else gets it.
    Thread.sleep(1200);
    assertEquals(List.of(), client.claimDue(q, 10));
    assertTrue(client.getJob(id).orElseThrow().leaseUntil().isAfter(job.leaseUntil()), "the lease was not extended");
    Harness.eventually(3000, "the success reported", () -> w.stats().succeeded() == 1);
    Worker.Stats s = w.stats();
    assertTrue(s.extended() >= 3, s.toString());
    assertEquals(List.of(0L, 1L), List.of(s.lost(), s.received()));
    assertTrue(gone(id));
  }

  @Test
  void closeWaitsForTheRunningHandlersAndClaimsNoMore() throws Exception {
    String q = Harness.queue("w-stop");
    String first = park(q, "w-stop", "first");
    BlockingQueue<DueJob> running = new ArrayBlockingQueue<>(4);
    CountDownLatch finish = new CountDownLatch(1);
    Worker w = started(Worker.builder(client, q, job -> {
      running.add(job);
      finish.await();
    }).concurrency(2));
    within(running, "the job");
    Thread closer = new Thread(w::close);
    closer.start();
    // It claims no more, and waits for the running handler.
    String second = park(q, "w-stop", "second");
    Thread.sleep(2 * Harness.DELIVERY_DELAY_MS);
    assertTrue(closer.isAlive(), "closed with a handler running");
    finish.countDown();
    closer.join(3000);
    assertFalse(closer.isAlive(), "not closed within 3s of the handler's end");
    assertTrue(gone(first), "the running job was not settled");
    assertEquals(List.of(1L, 1L), List.of(w.stats().received(), w.stats().succeeded()));
    // The job that fell due after the stop is another worker's.
    assertEquals(second, DeliveryTest.claimOne(client, q, null).jobId());
    assertThrows(IllegalStateException.class, w::start);
  }

  @Test
  void closeReleasesWhatRunsPastTheStopTimeout() throws Exception {
    String q = Harness.queue("w-stop-timeout");
    String id = park(q, "w-stop", "slow");
    BlockingQueue<DueJob> running = new ArrayBlockingQueue<>(4);
    Worker w = Worker.builder(client, q, job -> {
      running.add(job);
      Thread.sleep(10_000); // interrupted past the stop timeout
    }).stopTimeout(Duration.ofMillis(300)).build();
    workers.add(w);
    w.start();
    within(running, "the job");
    long start = System.nanoTime();
    w.close();
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertTrue(tookMs >= 300 && tookMs < 3000, "closed after " + tookMs + " ms");
    assertEquals(List.of(1L, 0L), List.of(w.stats().released(), w.stats().retried()));
    // Due again at once, no failure counted.
    DueJob job = DeliveryTest.claimOne(client, q, null);
    assertEquals(List.of(id, 2), List.of(job.jobId(), job.attempt()));
    assertEquals(1, client.getJob(id).orElseThrow().failureCount());
  }

  @Test
  void reconnectsWhenTheSidecarRestarts() throws Exception {
    Harness.Sidecar own = Harness.deliverySidecar("");
    try (RetrydClient c = RetrydClient.builder().address(own.address).timeout(Duration.ofSeconds(2)).build()) {
      String q = Harness.queue("w-restart");
      BlockingQueue<DueJob> got = new ArrayBlockingQueue<>(4);
      Worker w = started(Worker.builder(c, q, got::add));
      DeliveryTest.park(c, q, "w-restart", "before".getBytes(StandardCharsets.UTF_8));
      within(got, "the job before the restart");
      Thread.sleep(100);
      own = Harness.restart(own, ""); // in memory: it holds nothing now
      String id = Harness.jobId("w-restart");
      Harness.eventually(3000, "the client reconnected", () -> {
        try {
          c.reportFailure(id, new ConnectException("refused"),
              Options.of().attempt(1).payload("after".getBytes(StandardCharsets.UTF_8)).queue(q));
          return true;
        } catch (UnavailableException e) {
          return false;
        }
      });
      DueJob job = got.poll(5, TimeUnit.SECONDS);
      assertNotNull(job, "no job after the restart within 5s");
      assertEquals(List.of(id, "after"), List.of(job.jobId(), new String(job.payload(), StandardCharsets.UTF_8)));
      Harness.eventually(3000, "the success reported", () -> w.stats().succeeded() == 2);
      assertTrue(w.stats().reconnects() >= 1, w.stats().toString());
      w.close();
    } finally {
      own.close();
    }
  }

  @Test
  void stopsOnARefusalThatWaitingWouldNotHelp() throws Exception {
    try (Harness.Sidecar off = Harness.deliverySidecar("enabled = false\n");
        RetrydClient c = RetrydClient.builder().address(off.address).timeout(Duration.ofSeconds(2)).build()) {
      Worker w = Worker.builder(c, "mail", job -> {}).build().start();
      assertTrue(w.awaitTermination(Duration.ofSeconds(5)), "not stopped by the refusal");
      RetrydException e = assertThrows(RetrydException.class, w::close);
      assertEquals("FAILED_PRECONDITION", e.code());
      assertTrue(e.details().contains("delivery is off"), e.details());
    }
    Worker.Handler none = job -> {};
    assertEquals("client must not be null",
        assertThrows(IllegalArgumentException.class, () -> Worker.builder(null, "q", none)).getMessage());
    assertEquals("handler must not be null",
        assertThrows(IllegalArgumentException.class, () -> Worker.builder(client, "q", null)).getMessage());
    assertEquals("queue must not be empty",
        assertThrows(IllegalArgumentException.class, () -> Worker.builder(client, "", none)).getMessage());
    assertEquals("concurrency must be 1 to 1000, got 0",
        assertThrows(IllegalArgumentException.class, () -> Worker.builder(client, "q", none).concurrency(0)).getMessage());
    assertThrows(IllegalArgumentException.class, () -> Worker.builder(client, "q", none).lease(Duration.ZERO));
    assertThrows(IllegalArgumentException.class, () -> Worker.builder(client, "q", none).stopTimeout(Duration.ofSeconds(-1)));
    // A worker never started closes at once.
    Worker idle = Worker.builder(client, "q", none).build();
    idle.close();
  }
}
