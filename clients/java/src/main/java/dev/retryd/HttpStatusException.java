package dev.retryd;

import java.io.IOException;
import java.net.http.HttpResponse;

/**
 * An HTTP response that failed the attempt, as an exception a job can throw: its status and
 * {@code Retry-After} are sent to retryd, wherever it is in the cause chain.
 */
public class HttpStatusException extends IOException {
  private static final long serialVersionUID = 1L;
  private final transient HttpResponse<?> response;

  public HttpStatusException(HttpResponse<?> response) {
    super(ErrorInfo.describe(response));
    this.response = response;
  }

  public HttpResponse<?> response() {
    return response;
  }
}
