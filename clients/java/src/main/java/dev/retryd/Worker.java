package dev.retryd;

import java.lang.System.Logger.Level;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;

/**
 * Runs the due jobs of one retryd queue: retryd is the queue of retries (docs/delivery.md).
 *
 * <pre>{@code
 * Worker worker = Worker.builder(client, "mail", job -> send(job.payload())) // throws: a failure
 *     .concurrency(4).start();
 * ...
 * worker.close(); // claims no more, waits for the running handlers and settles their jobs
 * }</pre>
 *
 * <p>It holds a {@code WatchDue} stream open with {@code max_in_flight} = the concurrency (and
 * opens it again when the sidecar restarts), runs each due job's {@link Handler} on the executor
 * (by default its own, of {@code concurrency} daemon threads), and settles each job with its
 * lease: a handler that returns is reported as a success; one that throws, as the failure of
 * {@link DueJob#attempt()} (classified as {@link RetrydClient#reportFailure(String, Throwable,
 * Options)} classifies exceptions): retryd parks the job again, or gives up on it. A handler that
 * runs past a third of the lease has it extended, as long as it runs. A lost lease ({@link
 * LeaseLostException} on an extension or the settling report: the job went to another claimer, or
 * was released or settled) interrupts the handler's thread, and nothing more is reported for the
 * job: it goes to {@code onLeaseLost}, else to the log ({@code System.Logger} "dev.retryd.Worker").
 * Thread-safe.
 */
public final class Worker implements AutoCloseable {
  /** Runs one due job: returning is its success; an exception, this attempt's failure. */
  @FunctionalInterface
  public interface Handler {
    void handle(DueJob job) throws Exception;
  }

  /**
   * What a Worker did so far.
   *
   * @param received due jobs handed to it
   * @param succeeded handlers that returned, reported as successes
   * @param retried handlers that threw, reported as failures that retryd parked again
   * @param dead handlers that threw, reported as failures that retryd gave up on
   * @param extended lease extensions of long runs
   * @param lost leases lost ({@link LeaseLostException}): nothing was reported
   * @param released jobs handed back unrun or unfinished as it stopped
   * @param unsettled jobs it could not settle (retryd unavailable until the lease ran out, or
   *     another refusal): retryd hands them out again when their leases run out
   * @param reconnects times the stream was opened again
   */
  public record Stats(long received, long succeeded, long retried, long dead, long extended,
      long lost, long released, long unsettled, long reconnects) {}

  public static final Duration DEFAULT_LEASE = Duration.ofSeconds(30);
  public static final Duration DEFAULT_STOP_TIMEOUT = Duration.ofSeconds(30);
  private static final long RECONNECT_FIRST_MS = 100;
  private static final long RECONNECT_MAX_MS = 1000;

  /** A Worker of the queue on the client's sidecar, running {@code handler} for each due job. */
  public static Builder builder(RetrydClient client, String queue, Handler handler) {
    return new Builder(client, queue, handler);
  }

  /** How to make a Worker. */
  public static final class Builder {
    private final RetrydClient client;
    private final String queue;
    private final Handler handler;
    private int concurrency = 1;
    private Duration lease = DEFAULT_LEASE;
    private Duration stopTimeout = DEFAULT_STOP_TIMEOUT;
    private ExecutorService executor;
    private Options reportOptions = Options.of();
    private BiConsumer<DueJob, LeaseLostException> onLeaseLost;
    private System.Logger logger = System.getLogger(Worker.class.getName());

    private Builder(RetrydClient client, String queue, Handler handler) {
      if (client == null) {
        throw new IllegalArgumentException("client must not be null");
      }
      if (handler == null) {
        throw new IllegalArgumentException("handler must not be null");
      }
      RetrydClient.checkClaim(queue, "concurrency", 1, null);
      this.client = client;
      this.queue = queue;
      this.handler = handler;
    }

    /** How many handlers run at once, 1 to 1000 (default 1): the stream's {@code max_in_flight}. */
    public Builder concurrency(int concurrency) {
      if (concurrency < 1 || concurrency > 1000) {
        throw new IllegalArgumentException("concurrency must be 1 to 1000, got " + concurrency);
      }
      this.concurrency = concurrency;
      return this;
    }

    /**
     * The lease each job is claimed under (default 30 s, at most 12 h), extended by as much again
     * each time a third of it has passed while the handler runs.
     */
    public Builder lease(Duration lease) {
      if (lease == null || lease.isNegative() || lease.isZero() || lease.compareTo(RetrydClient.MAX_LEASE) > 0) {
        throw new IllegalArgumentException("lease must be more than 0 and at most 12h, got " + lease);
      }
      this.lease = lease;
      return this;
    }

    /**
     * How long {@link #close()} waits for running handlers (default 30 s; zero: not at all). Past
     * it their threads are interrupted and their jobs released (due again at once, no failure
     * counted); what they then return or throw is not reported.
     */
    public Builder stopTimeout(Duration stopTimeout) {
      if (stopTimeout == null || stopTimeout.isNegative()) {
        throw new IllegalArgumentException("stopTimeout must not be negative, got " + stopTimeout);
      }
      this.stopTimeout = stopTimeout;
      return this;
    }

    /** Runs the handlers on this executor (its owner shuts it down) instead of the Worker's own. */
    public Builder executor(ExecutorService executor) {
      if (executor == null) {
        throw new IllegalArgumentException("executor must not be null");
      }
      this.executor = executor;
      return this;
    }

    /**
     * Added to every report ({@code target}, {@code policy}, {@code priority}...); the job's
     * type, attempt and lease are the {@link DueJob}'s.
     */
    public Builder reportOptions(Options options) {
      if (options == null) {
        throw new IllegalArgumentException("options must not be null (Options.of() for none)");
      }
      this.reportOptions = options;
      return this;
    }

    /** Called, instead of logging, when a job's lease is lost; nothing more is reported for it. */
    public Builder onLeaseLost(BiConsumer<DueJob, LeaseLostException> onLeaseLost) {
      if (onLeaseLost == null) {
        throw new IllegalArgumentException("onLeaseLost must not be null");
      }
      this.onLeaseLost = onLeaseLost;
      return this;
    }

    /** Where it says what went wrong around its jobs (default "dev.retryd.Worker"). */
    public Builder logger(System.Logger logger) {
      if (logger == null) {
        throw new IllegalArgumentException("logger must not be null");
      }
      this.logger = logger;
      return this;
    }

    /** The Worker, not started. */
    public Worker build() {
      return new Worker(this);
    }

    /** The Worker, started. */
    public Worker start() {
      return build().start();
    }
  }

  private static final int WAITING = 0;
  private static final int RUNNING = 1;
  private static final int SETTLING = 2;
  private static final int ABANDONED = 3;

  /** One received job, from its receipt to its settling. */
  private final class Run {
    final DueJob job;
    // guarded by this
    int state = WAITING;
    boolean lost;
    Thread thread;
    Instant leaseUntil;
    ScheduledFuture<?> extension;
    boolean lostReported;

    Run(DueJob job) {
      this.job = job;
      this.leaseUntil = job.leaseUntil() != null ? job.leaseUntil() : Instant.now().plus(lease);
    }

    /** Marks a job that has not finished as left: interrupted, its outcome not reported. */
    synchronized boolean abandon(boolean running) {
      if (lost || !(state == WAITING || running && state == RUNNING)) {
        return false;
      }
      state = ABANDONED;
      if (thread != null) {
        thread.interrupt();
      }
      cancelExtension();
      return true;
    }

    synchronized void cancelExtension() {
      if (extension != null) {
        extension.cancel(false);
      }
    }

    synchronized Instant leaseUntil() {
      return leaseUntil;
    }
  }

  private final RetrydClient client;
  private final String queue;
  private final Handler handler;
  private final int concurrency;
  private final Duration lease;
  private final Duration stopTimeout;
  private final ExecutorService executor;
  private final boolean ownsExecutor;
  private final Options reportOptions;
  private final BiConsumer<DueJob, LeaseLostException> onLeaseLost;
  private final System.Logger log;
  private final ScheduledExecutorService keeper;
  private final Thread receiver;
  private final CompletableFuture<Void> terminated = new CompletableFuture<>();
  private final Set<Run> runs = new HashSet<>();
  private final Object pause = new Object();
  private final AtomicLong received = new AtomicLong();
  private final AtomicLong succeeded = new AtomicLong();
  private final AtomicLong retried = new AtomicLong();
  private final AtomicLong dead = new AtomicLong();
  private final AtomicLong extended = new AtomicLong();
  private final AtomicLong lost = new AtomicLong();
  private final AtomicLong released = new AtomicLong();
  private final AtomicLong unsettled = new AtomicLong();
  private final AtomicLong reconnects = new AtomicLong();
  private volatile boolean started;
  private volatile boolean stopping;
  private volatile boolean gaveUp;
  private volatile RetrydException failure;
  private DueStream stream; // guarded by this

  private Worker(Builder b) {
    client = b.client;
    queue = b.queue;
    handler = b.handler;
    concurrency = b.concurrency;
    lease = b.lease;
    stopTimeout = b.stopTimeout;
    reportOptions = b.reportOptions;
    onLeaseLost = b.onLeaseLost;
    log = b.logger;
    ownsExecutor = b.executor == null;
    executor = ownsExecutor ? Executors.newFixedThreadPool(concurrency, threads("retryd-worker-" + queue + "-")) : b.executor;
    keeper = Executors.newSingleThreadScheduledExecutor(threads("retryd-worker-" + queue + "-leases-"));
    receiver = threads("retryd-worker-" + queue + "-stream-").newThread(this::receive);
  }

  private static ThreadFactory threads(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + n.incrementAndGet());
      // A handler that hangs never keeps the JVM from exiting.
      t.setDaemon(true);
      return t;
    };
  }

  /**
   * Starts it: it runs on threads of its own (daemon threads: keep the application running, e.g.
   * with {@link #awaitTermination()}) until {@link #stop()} or {@link #close()}.
   *
   * @throws IllegalStateException if it was started before
   */
  public synchronized Worker start() {
    if (started || stopping) {
      throw new IllegalStateException("this worker already " + (started ? "started" : "stopped") + ": make a new one");
    }
    started = true;
    receiver.start();
    return this;
  }

  /**
   * Asks it to stop and returns at once: it claims no more jobs, waits for the running handlers
   * (at most the stop timeout) and settles their jobs. Safe from any thread, a handler's included,
   * and more than once.
   */
  public void stop() {
    DueStream s;
    synchronized (this) {
      stopping = true;
      s = stream;
    }
    if (s != null) {
      s.close();
    }
    synchronized (pause) {
      pause.notifyAll();
    }
  }

  /**
   * Stops it and waits until it stopped (see {@link #stop()}). From a handler's thread it only
   * stops it (it would wait for itself).
   *
   * @throws RetrydException the refusal that stopped it, if one did: waiting would not help (delivery
   *     off in retryd, a bad argument)
   */
  @Override
  public void close() {
    stop();
    if (!started) {
      shutdownExecutors();
      return;
    }
    synchronized (runs) {
      for (Run r : runs) {
        synchronized (r) {
          if (r.thread == Thread.currentThread()) {
            return;
          }
        }
      }
    }
    boolean interrupted = false;
    while (true) {
      try {
        terminated.get();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      } catch (ExecutionException e) {
        break;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    if (failure != null) {
      throw failure;
    }
  }

  /** Waits until it stopped (by {@link #stop()}, {@link #close()}, or a refusal). */
  public void awaitTermination() throws InterruptedException {
    try {
      terminated.get();
    } catch (ExecutionException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Waits at most {@code timeout} until it stopped; whether it did. */
  public boolean awaitTermination(Duration timeout) throws InterruptedException {
    try {
      terminated.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
      return true;
    } catch (TimeoutException e) {
      return false;
    } catch (ExecutionException e) {
      throw new IllegalStateException(e);
    }
  }

  /** What it did so far. */
  public Stats stats() {
    return new Stats(received.get(), succeeded.get(), retried.get(), dead.get(), extended.get(),
        lost.get(), released.get(), unsettled.get(), reconnects.get());
  }

  // --- the stream --------------------------------------------------------------------------

  private void receive() {
    long delay = RECONNECT_FIRST_MS;
    boolean outage = false;
    try {
      for (boolean first = true; !stopping; first = false) {
        if (!first) {
          if (!pause(delay)) {
            break;
          }
          delay = Math.min(delay * 2, RECONNECT_MAX_MS);
          reconnects.incrementAndGet();
        }
        DueStream s;
        try {
          s = client.watchDue(queue, concurrency, lease);
        } catch (RetrydException e) {
          if (fatal(e)) {
            stopOn(e);
            break;
          }
          outage = outage(outage, e);
          continue;
        }
        synchronized (this) {
          stream = s;
        }
        if (stopping) {
          s.close();
        }
        try {
          for (DueJob job; (job = s.take()) != null; ) {
            if (outage) {
              log.log(Level.INFO, "retryd worker {0}: retryd at {1} is back", queue, client.address());
              outage = false;
            }
            delay = RECONNECT_FIRST_MS;
            dispatch(job);
          }
          // The sidecar ended the stream (it stops), or it was closed.
        } catch (RetrydException e) {
          if (fatal(e)) {
            stopOn(e);
            break;
          }
          outage = outage(outage, e);
        } finally {
          s.close();
          synchronized (this) {
            stream = null;
          }
        }
      }
    } catch (InterruptedException e) {
      stopping = true;
    } catch (RuntimeException | Error e) {
      log.log(Level.ERROR, "retryd worker " + queue + ": stopped", e);
      stopping = true;
    } finally {
      try {
        drain();
      } finally {
        terminated.complete(null);
      }
    }
  }

  private boolean outage(boolean already, RetrydException e) {
    if (!already) {
      log.log(Level.WARNING, "retryd worker {0}: {1}; trying again", queue, e.getMessage());
    }
    return true;
  }

  private void stopOn(RetrydException e) {
    failure = e;
    log.log(Level.ERROR, "retryd worker {0}: stopped: {1}", queue, e.getMessage());
    stop();
  }

  /** A refusal of the stream that waiting will not help. */
  private static boolean fatal(RetrydException e) {
    if (e instanceof UnavailableException) {
      return false;
    }
    return switch (e.code()) {
      case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "UNIMPLEMENTED", "PERMISSION_DENIED",
          "UNAUTHENTICATED" -> true;
      default -> false;
    };
  }

  /** Waits {@code ms}; false if it was asked to stop meanwhile. */
  private boolean pause(long ms) throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
    synchronized (pause) {
      for (long left; !stopping && (left = end - System.nanoTime()) > 0; ) {
        TimeUnit.NANOSECONDS.timedWait(pause, left);
      }
    }
    return !stopping;
  }

  /**
   * Waits for the running jobs, at most the stop timeout (releasing at once those not started);
   * then releases the jobs still running, waits a little for the settles under way, and shuts
   * down its threads.
   */
  private void drain() {
    try {
      for (Run r : snapshot()) {
        if (r.abandon(false)) {
          release(r.job, "received as the worker stopped");
        }
      }
      if (!awaitRuns(stopTimeout)) {
        gaveUp = true;
        for (Run r : snapshot()) {
          if (r.abandon(true)) {
            log.log(Level.WARNING, "retryd worker {0}: job {1}: still running after the stop timeout ({2}): released",
                queue, r.job.jobId(), stopTimeout);
            release(r.job, "still running");
          }
        }
        if (!awaitRuns(client.timeout().multipliedBy(2).plusSeconds(1))) {
          log.log(Level.WARNING, "retryd worker {0}: stopped with {1} handlers still running (their outcome will not be reported)",
              queue, snapshot().size());
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      shutdownExecutors();
    }
  }

  private void shutdownExecutors() {
    if (ownsExecutor) {
      executor.shutdownNow();
    }
    keeper.shutdownNow();
  }

  private List<Run> snapshot() {
    synchronized (runs) {
      return new ArrayList<>(runs);
    }
  }

  private boolean awaitRuns(Duration timeout) throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    synchronized (runs) {
      for (long left; !runs.isEmpty() && (left = end - System.nanoTime()) > 0; ) {
        TimeUnit.NANOSECONDS.timedWait(runs, left);
      }
      return runs.isEmpty();
    }
  }

  // --- the jobs ----------------------------------------------------------------------------

  private void dispatch(DueJob job) {
    received.incrementAndGet();
    Run r = new Run(job);
    synchronized (runs) {
      runs.add(r);
    }
    scheduleExtension(r, firstExtension(r));
    try {
      executor.execute(() -> run(r));
    } catch (RejectedExecutionException e) {
      if (r.abandon(false)) {
        release(job, "the executor refused it");
      }
      done(r);
    }
  }

  private void done(Run r) {
    r.cancelExtension();
    synchronized (runs) {
      runs.remove(r);
      runs.notifyAll();
    }
  }

  private void run(Run r) {
    try {
      boolean release = false;
      synchronized (r) {
        if (r.state != WAITING || r.lost) {
          return; // released as the worker stopped, or its lease lost
        }
        if (stopping) {
          r.state = ABANDONED;
          release = true;
        } else {
          r.state = RUNNING;
          r.thread = Thread.currentThread();
        }
      }
      if (release) {
        r.cancelExtension();
        release(r.job, "received as the worker stopped");
        return;
      }
      Throwable error = null;
      try {
        handler.handle(r.job);
      } catch (Throwable t) {
        error = t;
      }
      boolean settle;
      synchronized (r) {
        r.thread = null;
        settle = r.state == RUNNING && !r.lost;
        if (settle) {
          r.state = SETTLING;
        }
      }
      Thread.interrupted(); // a lost lease's, or the stop timeout's: the handler is over
      r.cancelExtension();
      if (settle) {
        settle(r, error);
      }
    } finally {
      done(r);
    }
  }

  /** Reports the job's outcome with its lease, trying again while retryd is unavailable and the lease lasts. */
  private void settle(Run r, Throwable error) {
    DueJob job = r.job;
    Options o = reportOptions.jobType(job.jobType()).leaseId(job.leaseId());
    long delay = RECONNECT_FIRST_MS;
    while (true) {
      try {
        if (error == null) {
          if (client.reportSuccess(job.jobId(), o).local()) {
            throw new UnavailableException("retryd unavailable: the fallback answered", "UNAVAILABLE", "", null);
          }
          succeeded.incrementAndGet();
        } else {
          Decision d = client.reportFailure(job.jobId(), error, o.attempt(job.attempt()));
          if (d.local()) {
            throw new UnavailableException("retryd unavailable: the fallback answered", "UNAVAILABLE", "", null);
          }
          (d.retry() ? retried : dead).incrementAndGet();
        }
        return;
      } catch (LeaseLostException e) {
        leaseLost(r, e);
        return;
      } catch (UnavailableException e) {
        if (gaveUp || Instant.now().plusMillis(delay).isAfter(r.leaseUntil()) || !sleep(delay)) {
          notSettled(job, e);
          return;
        }
        delay = Math.min(delay * 2, RECONNECT_MAX_MS);
      } catch (RuntimeException e) {
        notSettled(job, e);
        return;
      }
    }
  }

  private static boolean sleep(long ms) {
    try {
      Thread.sleep(ms);
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private void notSettled(DueJob job, RuntimeException e) {
    unsettled.incrementAndGet();
    log.log(Level.WARNING, "retryd worker {0}: job {1}: not settled: {2}; retryd hands it out again when its lease runs out",
        queue, job.jobId(), e.getMessage());
  }

  private void release(DueJob job, String why) {
    try {
      client.releaseJob(job.jobId(), job.leaseId(), null);
      released.incrementAndGet();
    } catch (LeaseLostException e) {
      lost.incrementAndGet();
    } catch (RuntimeException e) {
      unsettled.incrementAndGet();
      log.log(Level.WARNING, "retryd worker {0}: job {1} ({2}): not released: {3}; retryd hands it out again when its lease runs out",
          queue, job.jobId(), why, e.getMessage());
    }
  }

  private void leaseLost(Run r, LeaseLostException e) {
    synchronized (r) {
      if (r.lostReported) {
        return;
      }
      r.lostReported = true;
    }
    lost.incrementAndGet();
    if (onLeaseLost != null) {
      try {
        onLeaseLost.accept(r.job, e);
      } catch (RuntimeException callback) {
        log.log(Level.WARNING, "retryd worker " + queue + ": onLeaseLost threw", callback);
      }
      return;
    }
    log.log(Level.WARNING, "retryd worker {0}: job {1}: lease lost ({2}): another claimer may run it; nothing reported",
        queue, r.job.jobId(), e.getMessage());
  }

  // --- the leases --------------------------------------------------------------------------

  /** A third of the lease from when it was handed out: sooner if the job waited for a thread. */
  private long firstExtension(Run r) {
    long every = lease.toMillis() / 3;
    long wait = Duration.between(Instant.now(), r.leaseUntil()).toMillis() - 2 * every;
    return Math.max(0, Math.min(wait, every));
  }

  private void scheduleExtension(Run r, long delayMs) {
    synchronized (r) {
      if (r.state == SETTLING || r.state == ABANDONED || r.lost) {
        return;
      }
      try {
        r.extension = keeper.schedule(() -> extend(r), delayMs, TimeUnit.MILLISECONDS);
      } catch (RejectedExecutionException stopped) {
        // shutting down
      }
    }
  }

  private void extend(Run r) {
    synchronized (r) {
      if (r.state == SETTLING || r.state == ABANDONED || r.lost) {
        return;
      }
    }
    long every = lease.toMillis() / 3;
    client.extendLeaseAsync(r.job.jobId(), r.job.leaseId(), lease).whenCompleteAsync((until, err) -> {
      Throwable why = err;
      while (why instanceof java.util.concurrent.CompletionException && why.getCause() != null) {
        why = why.getCause();
      }
      if (why == null) {
        extended.incrementAndGet();
        synchronized (r) {
          r.leaseUntil = until;
        }
        scheduleExtension(r, every);
      } else if (why instanceof LeaseLostException e) {
        boolean report;
        synchronized (r) {
          report = (r.state == WAITING || r.state == RUNNING) && !r.lost;
          if (report) {
            r.lost = true;
            if (r.thread != null) {
              r.thread.interrupt();
            }
          }
        }
        if (report) {
          leaseLost(r, e);
        }
      } else {
        // retryd unreachable: try again soon, while the lease lasts.
        scheduleExtension(r, Math.min(every / 4, 1000));
      }
    }, keeper);
  }
}
