package dev.retryd;

import dev.retryd.v1.RetryCoordinatorGrpc;
import dev.retryd.v1.WatchDueRequest;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A {@code WatchDue} stream ({@link RetrydClient#watchDue}): {@link #take()} each due job as it
 * falls due. Thread-safe; {@link #close()} it when done: the jobs it handed out stay leased to the
 * caller until settled or their leases run out, and retryd releases those it had claimed for the
 * stream and not yet sent.
 */
public final class DueStream implements AutoCloseable {
  /** The stream ended: closed, or the sidecar stopped it. */
  private static final Object END = new Object();

  private final RetrydClient client;
  private final ClientCall<WatchDueRequest, dev.retryd.v1.DueJob> call;
  private final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
  private final CompletableFuture<Void> opened = new CompletableFuture<>();
  private volatile boolean closed;
  private Object terminal;

  private DueStream(RetrydClient client, ClientCall<WatchDueRequest, dev.retryd.v1.DueJob> call) {
    this.client = client;
    this.call = call;
  }

  static DueStream open(RetrydClient client, ManagedChannel channel, WatchDueRequest req, Duration timeout) {
    ClientCall<WatchDueRequest, dev.retryd.v1.DueJob> call =
        channel.newCall(RetryCoordinatorGrpc.getWatchDueMethod(), CallOptions.DEFAULT);
    DueStream s = new DueStream(client, call);
    call.start(s.new Listener(), new Metadata());
    call.sendMessage(req);
    call.halfClose();
    call.request(1);
    try {
      // Response headers say that the sidecar took the stream; a refusal comes without them.
      s.opened.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      call.cancel("not opened within the timeout", null);
      throw new UnavailableException("retryd at " + client.address() + " did not answer within "
          + timeout.toMillis() + "ms", "DEADLINE_EXCEEDED", "WatchDue", e);
    } catch (ExecutionException e) {
      throw (RetrydException) e.getCause();
    } catch (InterruptedException e) {
      call.cancel("interrupted", null);
      Thread.currentThread().interrupt();
      throw new UnavailableException("interrupted while opening WatchDue", "CANCELLED", "", e);
    }
    return s;
  }

  private final class Listener extends ClientCall.Listener<dev.retryd.v1.DueJob> {
    @Override
    public void onHeaders(Metadata headers) {
      opened.complete(null);
    }

    @Override
    public void onMessage(dev.retryd.v1.DueJob message) {
      events.add(message);
      // The sidecar sends no more than max_in_flight unsettled jobs: that bounds the buffer.
      call.request(1);
    }

    @Override
    public void onClose(Status status, Metadata trailers) {
      if (status.isOk()) {
        opened.complete(null);
        events.add(END);
        return;
      }
      RetrydException e = client.mapped(status.asRuntimeException(trailers));
      opened.completeExceptionally(e);
      events.add(e);
    }
  }

  /**
   * The next due job, waiting as long as it takes.
   *
   * @return {@code null} once the stream ended: closed, or the sidecar stopped it
   * @throws UnavailableException the connection to the sidecar was lost
   * @throws RetrydException retryd ended the stream with another error
   */
  public DueJob take() throws InterruptedException {
    synchronized (this) {
      if (terminal != null) {
        return next(terminal);
      }
    }
    return next(events.take());
  }

  /**
   * The next due job, waiting at most {@code timeout}: {@code null} if none came by then, or the
   * stream ended ({@link #isDone()}).
   */
  public DueJob poll(Duration timeout) throws InterruptedException {
    synchronized (this) {
      if (terminal != null) {
        return next(terminal);
      }
    }
    Object e = events.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
    return e == null ? null : next(e);
  }

  /** Whether the stream ended: closed, or its end (or error) taken. */
  public synchronized boolean isDone() {
    return terminal != null || closed;
  }

  private DueJob next(Object e) {
    if (e instanceof dev.retryd.v1.DueJob j) {
      return RetrydClient.dueJobOf(j);
    }
    synchronized (this) {
      terminal = e;
    }
    if (e instanceof RetrydException r && !closed) {
      throw r;
    }
    return null;
  }

  /** Ends the stream; a {@link #take()} waiting returns {@code null}. */
  @Override
  public void close() {
    closed = true;
    call.cancel("closed by the client", null);
    events.add(END);
  }
}
