package dev.retryd;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import com.google.protobuf.ByteString;
import com.google.protobuf.Timestamp;
import dev.retryd.v1.Action;
import dev.retryd.v1.ClaimDueRequest;
import dev.retryd.v1.ExplainRequest;
import dev.retryd.v1.ExtendLeaseRequest;
import dev.retryd.v1.GetJobRequest;
import dev.retryd.v1.ListQueuesRequest;
import dev.retryd.v1.ReleaseJobRequest;
import dev.retryd.v1.ReportFailureRequest;
import dev.retryd.v1.ReportSuccessRequest;
import dev.retryd.v1.RetryCoordinatorGrpc;
import dev.retryd.v1.WatchDueRequest;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * A client of the retryd sidecar: when a job attempt fails, ask it whether and when to retry.
 * Every call is bounded by the client's timeout; each has a blocking form and an {@code ...Async}
 * form returning a {@link CompletableFuture}. Thread-safe; {@link #close()} it when done.
 */
public final class RetrydClient implements AutoCloseable {
  /** Where a client looks for its sidecar without {@code address()} or {@code $RETRYD_ADDR}. */
  public static final String DEFAULT_ADDRESS = "127.0.0.1:50051";
  /** Every call's bound unless {@code timeout()} says otherwise. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofMillis(500);

  private final String address;
  private final Duration timeout;
  private final Fallback fallback;
  private final ManagedChannel channel;
  private final boolean ownsChannel;
  private final RetryCoordinatorGrpc.RetryCoordinatorFutureStub stub;
  private final Map<String, Integer> counts = new LinkedHashMap<>(16, 0.75f, true);

  private RetrydClient(Builder b) {
    this.address = b.channel != null ? b.channel.authority() : b.address;
    this.timeout = b.timeout;
    this.fallback = b.fallback;
    if (b.channel != null) {
      this.channel = b.channel;
      this.ownsChannel = false;
    } else {
      this.channel = ManagedChannelBuilder.forTarget(b.address).usePlaintext().build();
      this.ownsChannel = true;
      // Connect now, in the background, as grpc-go does: the first call then
      // does not spend its timeout on the connection.
      this.channel.getState(true);
    }
    this.stub = RetryCoordinatorGrpc.newFutureStub(channel);
  }

  /** A client of the sidecar at {@code $RETRYD_ADDR}, else 127.0.0.1:50051, timeout 500 ms. */
  public static RetrydClient create() {
    return builder().build();
  }

  public static Builder builder() {
    return new Builder();
  }

  /** How to make a client. */
  public static final class Builder {
    private String address;
    private Duration timeout = DEFAULT_TIMEOUT;
    private Fallback fallback;
    private ManagedChannel channel;

    private Builder() {
      String env = System.getenv("RETRYD_ADDR");
      address = env == null || env.isEmpty() ? DEFAULT_ADDRESS : env;
    }

    /** The sidecar's host:port. */
    public Builder address(String address) {
      if (address == null || address.isEmpty()) {
        throw new IllegalArgumentException("address must not be empty");
      }
      this.address = address;
      return this;
    }

    /**
     * Bounds every call: a sidecar that is down or hung makes a call fail with {@link
     * UnavailableException}, or answer with the fallback's decision, after at most this long.
     */
    public Builder timeout(Duration timeout) {
      if (timeout == null || timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("timeout must be positive, got " + timeout);
      }
      this.timeout = timeout;
      return this;
    }

    /** {@code reportFailure} answers with its decision when retryd is unavailable. */
    public Builder fallback(Fallback fallback) {
      if (fallback == null) {
        throw new IllegalArgumentException("fallback must not be null");
      }
      this.fallback = fallback;
      return this;
    }

    /** Uses this channel (its owner shuts it down; {@code close()} does not). */
    public Builder channel(ManagedChannel channel) {
      if (channel == null) {
        throw new IllegalArgumentException("channel must not be null");
      }
      this.channel = channel;
      return this;
    }

    public RetrydClient build() {
      return new RetrydClient(this);
    }
  }

  public String address() {
    return address;
  }

  /** The generated stub, for the RPCs this class does not wrap. */
  public RetryCoordinatorGrpc.RetryCoordinatorBlockingStub blockingStub() {
    return RetryCoordinatorGrpc.newBlockingStub(channel);
  }

  @Override
  public void close() {
    if (ownsChannel) {
      channel.shutdownNow();
      try {
        channel.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  // --- ReportFailure -------------------------------------------------------------------------

  /**
   * Records a failed attempt of the job; retryd's decision. {@code error} is what the attempt
   * threw ({@link ErrorInfo#from(Throwable)} shows what is sent).
   *
   * @throws UnavailableException retryd did not answer within the timeout (unless a fallback is
   *     set: then its decision, {@code local})
   * @throws RetrydException retryd refused the call (e.g. an empty job id)
   * @throws LeaseLostException delivery: {@code options.leaseId} is not the job's current lease
   *     (or none was given for a job handed out under one); nothing changed
   */
  public Decision reportFailure(String jobId, Throwable error, Options options) {
    return join(reportFailureAsync(jobId, error, options));
  }

  public Decision reportFailure(String jobId, Throwable error) {
    return reportFailure(jobId, error, Options.of());
  }

  /** An HTTP response that failed the attempt: its status and {@code Retry-After}. */
  public Decision reportFailure(String jobId, HttpResponse<?> response, Options options) {
    return join(reportFailureAsync(jobId, ErrorInfo.from(response), options));
  }

  /** An error described by hand, sent as it is. */
  public Decision reportFailure(String jobId, ErrorInfo error, Options options) {
    return join(reportFailureAsync(jobId, error, options));
  }

  public CompletableFuture<Decision> reportFailureAsync(String jobId, Throwable error, Options options) {
    if (error == null) {
      throw new IllegalArgumentException("error must not be null");
    }
    return reportFailureAsync(jobId, ErrorInfo.from(error), options);
  }

  public CompletableFuture<Decision> reportFailureAsync(String jobId, ErrorInfo error, Options options) {
    ReportFailureRequest req = request(jobId, error, options);
    int n = options.attempt > 0 ? options.attempt : fallback != null ? countFailure(jobId) : 0;
    ErrorInfo info = error;
    return call(s -> s.reportFailure(req), r -> decisionOf(r.getDecision()))
        .exceptionallyCompose(e -> {
          Throwable why = unwrap(e);
          if (fallback != null && why instanceof UnavailableException) {
            Decision d = fallback.decide(Math.max(1, n), info);
            if (d == null) {
              return CompletableFuture.failedFuture(
                  new IllegalStateException("the fallback returned no decision"));
            }
            return CompletableFuture.completedFuture(d.asLocal(why.getMessage()));
          }
          return CompletableFuture.failedFuture(why);
        });
  }

  // --- Explain, ReportSuccess, GetJob --------------------------------------------------------

  /** The decision {@code reportFailure} would give, changing nothing (never the fallback's). */
  public Decision explain(String jobId, Throwable error, Options options) {
    return join(explainAsync(jobId, ErrorInfo.from(error), options));
  }

  public Decision explain(String jobId, HttpResponse<?> response, Options options) {
    return join(explainAsync(jobId, ErrorInfo.from(response), options));
  }

  public Decision explain(String jobId, ErrorInfo error, Options options) {
    return join(explainAsync(jobId, error, options));
  }

  public CompletableFuture<Decision> explainAsync(String jobId, ErrorInfo error, Options options) {
    ReportFailureRequest r = request(jobId, error, options);
    ExplainRequest.Builder req = ExplainRequest.newBuilder().setJobId(r.getJobId())
        .setJobType(r.getJobType()).setPolicy(r.getPolicy()).setTarget(r.getTarget())
        .setAttempt(r.getAttempt()).setError(r.getError());
    if (r.hasPriority()) {
      req.setPriority(r.getPriority());
    }
    if (r.hasRetryAfterHint()) {
      req.setRetryAfterHint(r.getRetryAfterHint());
    }
    if (r.hasRetryPushbackMs()) {
      req.setRetryPushbackMs(r.getRetryPushbackMs());
    }
    return call(s -> s.explain(req.build()), resp -> decisionOf(resp.getDecision()));
  }

  /**
   * The job succeeded: retryd forgets it. With a fallback, an unavailable retryd is no error. A
   * claimed job is reported with its lease ({@code Options.of().leaseId(job.leaseId())}).
   *
   * @throws LeaseLostException the lease is not the job's current one
   */
  public Success reportSuccess(String jobId, Options options) {
    return join(reportSuccessAsync(jobId, options));
  }

  public Success reportSuccess(String jobId) {
    return reportSuccess(jobId, Options.of());
  }

  public CompletableFuture<Success> reportSuccessAsync(String jobId, Options options) {
    synchronized (counts) {
      counts.remove(jobId);
    }
    ReportSuccessRequest req = ReportSuccessRequest.newBuilder().setJobId(nonNull(jobId))
        .setJobType(nonNull(options.jobType)).setTarget(nonNull(options.target))
        .setLeaseId(nonNull(options.leaseId)).build();
    return call(s -> s.reportSuccess(req),
        r -> new Success(r.getFailuresBeforeSuccess(), r.getKnown(), false))
        .exceptionallyCompose(e -> {
          Throwable why = unwrap(e);
          if (fallback != null && why instanceof UnavailableException) {
            return CompletableFuture.completedFuture(new Success(0, false, true));
          }
          return CompletableFuture.failedFuture(why);
        });
  }

  /** The state retryd holds for the job; empty if it holds none. */
  public Optional<Job> getJob(String jobId) {
    return join(getJobAsync(jobId));
  }

  public CompletableFuture<Optional<Job>> getJobAsync(String jobId) {
    GetJobRequest req = GetJobRequest.newBuilder().setJobId(nonNull(jobId)).build();
    return call(s -> s.getJob(req), r -> Optional.of(jobOf(r.getJob())))
        .exceptionallyCompose(e -> {
          Throwable why = unwrap(e);
          if (why instanceof RetrydException re && "NOT_FOUND".equals(re.code())) {
            return CompletableFuture.completedFuture(Optional.empty());
          }
          return CompletableFuture.failedFuture(why);
        });
  }

  /**
   * A retry predicate and interval function for one job, in the shape of resilience4j's {@code
   * retryOnException} and {@code IntervalBiFunction}: see {@link RetrydPolicy}.
   */
  public RetrydPolicy policy(String jobId, Options options) {
    return new RetrydPolicy(this, jobId, options);
  }

  // --- Delivery -----------------------------------------------------------------------------

  /**
   * Takes up to {@code maxJobs} (1 to 1000) due jobs of the queue, oldest due first, each leased
   * to this caller for {@code lease} ({@code null}: the sidecar's {@code [delivery]
   * default_lease}, 30 s); none when none is due.
   */
  public List<DueJob> claimDue(String queue, int maxJobs, Duration lease) {
    return join(claimDueAsync(queue, maxJobs, lease));
  }

  public List<DueJob> claimDue(String queue, int maxJobs) {
    return claimDue(queue, maxJobs, null);
  }

  public CompletableFuture<List<DueJob>> claimDueAsync(String queue, int maxJobs, Duration lease) {
    checkClaim(queue, "maxJobs", maxJobs, lease);
    ClaimDueRequest.Builder req = ClaimDueRequest.newBuilder().setQueue(queue).setMaxJobs(maxJobs);
    if (lease != null) {
      req.setLease(duration(lease));
    }
    return call(s -> s.claimDue(req.build()),
        r -> r.getJobsList().stream().map(RetrydClient::dueJobOf).toList());
  }

  /**
   * A stream of the queue's due jobs as they fall due, each leased to this caller for {@code
   * lease} ({@code null}: the sidecar's default), never more than {@code maxInFlight} (1 to 1000)
   * handed out on it and unsettled at once: settling a job with its lease, through the same
   * sidecar, frees its slot. The stream lasts until {@link DueStream#close()} or the sidecar stops
   * it; opening it is bounded by the timeout.
   *
   * @throws UnavailableException retryd did not take the stream within the timeout
   * @throws RetrydException retryd refused it (a bad argument, delivery off)
   */
  public DueStream watchDue(String queue, int maxInFlight, Duration lease) {
    checkClaim(queue, "maxInFlight", maxInFlight, lease);
    WatchDueRequest.Builder req = WatchDueRequest.newBuilder().setQueue(queue).setMaxInFlight(maxInFlight);
    if (lease != null) {
      req.setLease(duration(lease));
    }
    return DueStream.open(this, channel, req.build(), timeout);
  }

  /**
   * Keeps a long run: the job's lease then runs until now + {@code lease} ({@code null}: the
   * sidecar's default), returned.
   *
   * @throws LeaseLostException the lease is not the job's current one
   */
  public Instant extendLease(String jobId, String leaseId, Duration lease) {
    return join(extendLeaseAsync(jobId, leaseId, lease));
  }

  public CompletableFuture<Instant> extendLeaseAsync(String jobId, String leaseId, Duration lease) {
    if (lease != null && (lease.isNegative() || lease.isZero() || lease.compareTo(MAX_LEASE) > 0)) {
      throw new IllegalArgumentException("lease must be more than 0 and at most 12h, got " + lease);
    }
    ExtendLeaseRequest.Builder req = ExtendLeaseRequest.newBuilder().setJobId(nonNull(jobId))
        .setLeaseId(nonNull(leaseId));
    if (lease != null) {
      req.setLease(duration(lease));
    }
    return call(s -> s.extendLease(req.build()), r -> instant(true, r.getLeaseUntil()));
  }

  /**
   * Hands a claimed job back unprocessed: due again after {@code delay} ({@code null} or zero:
   * now), no failure counted, its lease over.
   *
   * @throws LeaseLostException the lease is not the job's current one
   */
  public void releaseJob(String jobId, String leaseId, Duration delay) {
    join(releaseJobAsync(jobId, leaseId, delay));
  }

  public CompletableFuture<Void> releaseJobAsync(String jobId, String leaseId, Duration delay) {
    if (delay != null && delay.isNegative()) {
      throw new IllegalArgumentException("delay must not be negative, got " + delay);
    }
    ReleaseJobRequest.Builder req = ReleaseJobRequest.newBuilder().setJobId(nonNull(jobId))
        .setLeaseId(nonNull(leaseId));
    if (delay != null && !delay.isZero()) {
      req.setDelay(duration(delay));
    }
    return call(s -> s.releaseJob(req.build()), r -> null);
  }

  /** Each queue with a parked or leased job, by name. */
  public List<QueueStats> listQueues() {
    return join(listQueuesAsync());
  }

  public CompletableFuture<List<QueueStats>> listQueuesAsync() {
    return call(s -> s.listQueues(ListQueuesRequest.getDefaultInstance()),
        r -> r.getQueuesList().stream().map(q -> new QueueStats(q.getQueue(), q.getParked(), q.getDue(),
            q.getLeased(), q.getParkedBytes(), instant(q.hasOldestDueAt(), q.getOldestDueAt()))).toList());
  }

  /** The most a lease may be (retryd refuses more). */
  static final Duration MAX_LEASE = Duration.ofHours(12);

  static void checkClaim(String queue, String what, int n, Duration lease) {
    if (queue == null || queue.isEmpty()) {
      throw new IllegalArgumentException("queue must not be empty");
    }
    if (Options.utf8Length(queue) > Options.MAX_QUEUE) {
      throw new IllegalArgumentException(
          "queue must be at most " + Options.MAX_QUEUE + " bytes, got " + Options.utf8Length(queue));
    }
    if (n < 1 || n > 1000) {
      throw new IllegalArgumentException(what + " must be 1 to 1000, got " + n);
    }
    if (lease != null && (lease.isNegative() || lease.isZero() || lease.compareTo(MAX_LEASE) > 0)) {
      throw new IllegalArgumentException("lease must be more than 0 and at most 12h, got " + lease);
    }
  }

  private static com.google.protobuf.Duration duration(Duration d) {
    return com.google.protobuf.Duration.newBuilder().setSeconds(d.getSeconds()).setNanos(d.getNano()).build();
  }

  Duration timeout() {
    return timeout;
  }

  // --- plumbing ------------------------------------------------------------------------------

  private <Q, R> CompletableFuture<R> call(
      Function<RetryCoordinatorGrpc.RetryCoordinatorFutureStub, ListenableFuture<Q>> rpc,
      Function<Q, R> convert) {
    CompletableFuture<R> out = new CompletableFuture<>();
    ListenableFuture<Q> f;
    try {
      f = rpc.apply(stub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS));
    } catch (RuntimeException e) {
      out.completeExceptionally(mapped(e));
      return out;
    }
    Futures.addCallback(f, new FutureCallback<Q>() {
      @Override
      public void onSuccess(Q result) {
        out.complete(convert.apply(result));
      }

      @Override
      public void onFailure(Throwable t) {
        out.completeExceptionally(mapped(t));
      }
    }, MoreExecutors.directExecutor());
    // Whatever the channel does, no caller waits much longer than the timeout.
    return out.orTimeout(timeout.toMillis() + 250, TimeUnit.MILLISECONDS)
        .exceptionallyCompose(e -> {
          Throwable why = unwrap(e);
          if (why instanceof java.util.concurrent.TimeoutException) {
            f.cancel(true);
            why = new UnavailableException(
                "retryd at " + address + " did not answer within " + timeout.toMillis() + "ms",
                "DEADLINE_EXCEEDED", "", why);
          }
          return CompletableFuture.failedFuture(why);
        });
  }

  RetrydException mapped(Throwable t) {
    if (t instanceof RetrydException r) {
      return r;
    }
    Status s = Status.fromThrowable(t);
    String name = s.getCode().name();
    String details = s.getDescription() == null ? "" : s.getDescription();
    switch (s.getCode()) {
      case DEADLINE_EXCEEDED:
        return new UnavailableException("retryd at " + address + " did not answer within "
            + timeout.toMillis() + "ms", name, details, t);
      case UNAVAILABLE:
        // A sidecar that restarts is found again at once, not after gRPC's reconnect backoff.
        channel.resetConnectBackoff();
        return new UnavailableException("retryd at " + address + " is unavailable: " + name + ": "
            + details, name, details, t);
      case FAILED_PRECONDITION:
        if (details.startsWith("lease_id:")) {
          return new LeaseLostException("retryd: " + name + ": " + details, name, details, t);
        }
        return new RetrydException("retryd: " + name + ": " + details, name, details, t);
      case RESOURCE_EXHAUSTED:
        if (details.startsWith("payload:")) {
          // A payload past [delivery]'s bounds: waiting will not help.
          return new RetrydException("retryd: " + name + ": " + details, name, details, t);
        }
        return new UnavailableException("retryd at " + address + " is unavailable: " + name + ": "
            + details, name, details, t);
      case CANCELLED:
        return new UnavailableException("retryd at " + address + " is unavailable: " + name + ": "
            + details, name, details, t);
      default:
        return new RetrydException("retryd: " + name + ": " + details, name, details, t);
    }
  }

  private static Throwable unwrap(Throwable e) {
    while (e instanceof CompletionException && e.getCause() != null) {
      e = e.getCause();
    }
    return e;
  }

  private static <T> T join(CompletableFuture<T> f) {
    try {
      return f.join();
    } catch (CompletionException e) {
      Throwable why = unwrap(e);
      if (why instanceof RuntimeException r) {
        throw r;
      }
      if (why instanceof Error err) {
        throw err;
      }
      throw e;
    }
  }

  private int countFailure(String jobId) {
    synchronized (counts) {
      int n = counts.getOrDefault(jobId, 0) + 1;
      counts.put(jobId, n);
      if (counts.size() > 10_000) {
        counts.remove(counts.keySet().iterator().next());
      }
      return n;
    }
  }

  private static String nonNull(String s) {
    return s == null ? "" : s;
  }

  static ReportFailureRequest request(String jobId, ErrorInfo e, Options o) {
    if (e == null) {
      throw new IllegalArgumentException("error must not be null");
    }
    if (o == null) {
      throw new IllegalArgumentException("options must not be null (Options.of() for none)");
    }
    dev.retryd.v1.ErrorInfo.Builder error = dev.retryd.v1.ErrorInfo.newBuilder()
        .setType(e.type()).setMessage(e.message()).setHttpStatus(e.httpStatus())
        .setGrpcCode(e.grpcCode());
    Boolean verdict = o.retryable != null ? o.retryable : e.retryable();
    if (verdict != null) {
      error.setRetryable(verdict);
    }
    ReportFailureRequest.Builder req = ReportFailureRequest.newBuilder().setJobId(nonNull(jobId))
        .setJobType(nonNull(o.jobType)).setPolicy(nonNull(o.policy)).setTarget(nonNull(o.target))
        .setAttempt(o.attempt).setError(error).setQueue(nonNull(o.queue))
        .setLeaseId(nonNull(o.leaseId));
    if (o.payload != null) {
      req.setPayload(ByteString.copyFrom(o.payload));
    }
    if (o.priority != null) {
      req.setPriority(o.priority);
    }
    Duration hint = o.retryAfter != null ? o.retryAfter : e.retryAfter();
    if (hint != null) {
      req.setRetryAfterHint(com.google.protobuf.Duration.newBuilder().setSeconds(hint.getSeconds())
          .setNanos(hint.getNano()));
    }
    if (e.pushbackMs() != null && e.pushbackMs() < 0) {
      // The server said not to retry: retryd gives up (reason pushback).
      req.setRetryPushbackMs(e.pushbackMs());
    }
    return req.build();
  }

  private static String enumName(String name, String prefix) {
    String n = name.startsWith(prefix) ? name.substring(prefix.length()) : name;
    return n.equals("UNSPECIFIED") || n.equals("UNRECOGNIZED") ? null : n.toLowerCase(Locale.ROOT);
  }

  private static Instant instant(boolean present, Timestamp t) {
    return present ? Instant.ofEpochSecond(t.getSeconds(), t.getNanos()) : null;
  }

  static Decision decisionOf(dev.retryd.v1.Decision d) {
    boolean retry = d.getAction() == Action.ACTION_RETRY;
    return new Decision(retry,
        Duration.ofSeconds(d.getRetryAfter().getSeconds(), d.getRetryAfter().getNanos()),
        instant(d.hasRetryAt(), d.getRetryAt()),
        retry ? null : enumName(d.getReason().name(), "GIVE_UP_REASON_"),
        d.getFailureCount(), d.getMaxAttempts(), enumName(d.getErrorClass().name(), "ERROR_CLASS_"),
        d.getCategory(), d.getPolicy(), d.getExplanation(), false);
  }

  static Job jobOf(dev.retryd.v1.Job j) {
    dev.retryd.v1.ErrorInfo e = j.getLastError();
    return new Job(j.getJobId(), j.getJobType(), j.getPolicy(), enumName(j.getState().name(), "JOB_STATE_"),
        j.getFailureCount(), instant(j.hasFirstFailureAt(), j.getFirstFailureAt()),
        instant(j.hasLastFailureAt(), j.getLastFailureAt()),
        instant(j.hasNextRetryAt(), j.getNextRetryAt()),
        errorInfoOf(e), j.hasLastDecision() ? decisionOf(j.getLastDecision()) : null,
        j.getQueue(), j.getPayloadBytes(), j.getDeliveries(), instant(j.hasLeaseUntil(), j.getLeaseUntil()));
  }

  static ErrorInfo errorInfoOf(dev.retryd.v1.ErrorInfo e) {
    return new ErrorInfo(e.getType(), e.getMessage(), e.getHttpStatus(), e.getGrpcCode(),
        e.hasRetryable() ? e.getRetryable() : null, null, null);
  }

  static DueJob dueJobOf(dev.retryd.v1.DueJob j) {
    return new DueJob(j.getJobId(), j.getJobType(), j.getQueue(), j.getPayload().toByteArray(),
        j.getAttempt(), errorInfoOf(j.getLastError()), instant(j.hasDueAt(), j.getDueAt()),
        j.getLeaseId(), instant(j.hasLeaseUntil(), j.getLeaseUntil()), j.getDeliveries());
  }
}
