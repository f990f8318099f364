package dev.retryd;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import com.google.protobuf.Timestamp;
import dev.retryd.v1.Action;
import dev.retryd.v1.ExplainRequest;
import dev.retryd.v1.GetJobRequest;
import dev.retryd.v1.ReportFailureRequest;
import dev.retryd.v1.ReportSuccessRequest;
import dev.retryd.v1.RetryCoordinatorGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
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

  /** The job succeeded: retryd forgets it. With a fallback, an unavailable retryd is no error. */
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
        .setJobType(nonNull(options.jobType)).setTarget(nonNull(options.target)).build();
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

  private RetrydException mapped(Throwable t) {
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
      case RESOURCE_EXHAUSTED:
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
        .setAttempt(o.attempt).setError(error);
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
        new ErrorInfo(e.getType(), e.getMessage(), e.getHttpStatus(), e.getGrpcCode(),
            e.hasRetryable() ? e.getRetryable() : null, null, null),
        j.hasLastDecision() ? decisionOf(j.getLastDecision()) : null);
  }
}
