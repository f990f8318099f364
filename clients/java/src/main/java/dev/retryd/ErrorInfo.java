package dev.retryd;

import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.UndeclaredThrowableException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.SSLException;

/**
 * What retryd is told about a failure. {@link #from(Throwable)} makes one from an exception, {@link
 * #from(HttpResponse)} from a response; one made by hand ({@link #of}) is sent as it is.
 *
 * @param type the exception's class name; retryd matches the part after the last {@code .} or
 *     {@code $}
 * @param message the message (at most 64 KiB)
 * @param httpStatus the HTTP status the attempt got (0: none)
 * @param grpcCode the gRPC code the attempt got (0: none)
 * @param retryable the caller's own verdict ({@code null}: none)
 * @param retryAfter the wait the server named ({@code Retry-After}, or a gRPC pushback of 0 or
 *     more); {@code null}: none
 * @param pushbackMs gRPC's {@code grpc-retry-pushback-ms} ({@code null}: none); a negative one ("do
 *     not retry") makes retryd give up, reason {@code pushback}
 */
public record ErrorInfo(
    String type,
    String message,
    int httpStatus,
    int grpcCode,
    Boolean retryable,
    Duration retryAfter,
    Long pushbackMs) {

  static final int MAX_MESSAGE = 64 * 1024;
  static final int MAX_TYPE = 1024;
  /** A Retry-After longer than this is a mistake: retryd refuses it, so it is dropped. */
  static final Duration MAX_HINT = Duration.ofDays(366);

  /** gRPC's trailer naming how long to wait (ms; negative: do not retry). */
  public static final Metadata.Key<String> PUSHBACK =
      Metadata.Key.of("grpc-retry-pushback-ms", Metadata.ASCII_STRING_MARSHALLER);

  public ErrorInfo {
    type = cut(type == null ? "" : type, MAX_TYPE);
    message = cut(message == null ? "" : message, MAX_MESSAGE);
    if (httpStatus < 100 || httpStatus > 599) {
      httpStatus = 0;
    }
    if (grpcCode < 0 || grpcCode > 16) {
      grpcCode = 0;
    }
  }

  /** An error of this type and message, and nothing else. */
  public static ErrorInfo of(String type, String message) {
    return new ErrorInfo(type, message, 0, 0, null, null, null);
  }

  public ErrorInfo withHttpStatus(int status) {
    return new ErrorInfo(type, message, status, grpcCode, retryable, retryAfter, pushbackMs);
  }

  public ErrorInfo withGrpcCode(int code) {
    return new ErrorInfo(type, message, httpStatus, code, retryable, retryAfter, pushbackMs);
  }

  public ErrorInfo withRetryable(Boolean verdict) {
    return new ErrorInfo(type, message, httpStatus, grpcCode, verdict, retryAfter, pushbackMs);
  }

  public ErrorInfo withRetryAfter(Duration hint) {
    return new ErrorInfo(type, message, httpStatus, grpcCode, retryable, hint, pushbackMs);
  }

  // Exceptions that only wrap their cause: the type sent is the cause's.
  private static final Set<Class<?>> WRAPPERS = Set.of(
      CompletionException.class, ExecutionException.class, UncheckedIOException.class,
      InvocationTargetException.class, UndeclaredThrowableException.class,
      RuntimeException.class, Exception.class);

  // The exceptions that name a failure best, wherever they are in the chain.
  private static final List<Class<? extends Throwable>> KNOWN = List.of(
      StatusRuntimeException.class, StatusException.class, HttpStatusException.class,
      SocketTimeoutException.class, HttpTimeoutException.class, ConnectException.class,
      UnknownHostException.class, NoRouteToHostException.class, SSLException.class,
      SocketException.class, InterruptedIOException.class, TimeoutException.class);

  /**
   * What is sent for {@code error}. Its cause chain is walked ({@code getCause()}):
   *
   * <ul>
   *   <li>the type is the class name of the first exception in the chain that names a failure
   *       well: a {@code StatusRuntimeException} or {@code StatusException}, an {@link
   *       HttpStatusException}, {@code SocketTimeoutException}, {@code HttpTimeoutException},
   *       {@code ConnectException}, {@code UnknownHostException}, {@code NoRouteToHostException},
   *       an {@code SSLException}, a {@code SocketException}, {@code InterruptedIOException},
   *       {@code TimeoutException}; else the first that is not a mere wrapper ({@code
   *       CompletionException}, {@code ExecutionException}, {@code UncheckedIOException}, {@code
   *       InvocationTargetException}, {@code UndeclaredThrowableException}, a plain {@code
   *       RuntimeException} or {@code Exception} with a cause);
   *   <li>the message is that exception's, after the messages of the exceptions around it that
   *       add their own ({@code "charge failed: Connection refused"});
   *   <li>a gRPC status sends its code, and its {@code grpc-retry-pushback-ms} trailer;
   *   <li>an {@link HttpStatusException} sends the status and {@code Retry-After} of its response.
   * </ul>
   */
  public static ErrorInfo from(Throwable error) {
    if (error == null) {
      throw new IllegalArgumentException("error must not be null");
    }
    List<Throwable> chain = chain(error);
    Throwable named = null;
    for (Class<? extends Throwable> k : KNOWN) {
      for (Throwable t : chain) {
        if (k.isInstance(t)) {
          named = t;
          break;
        }
      }
      if (named != null) {
        break;
      }
    }
    if (named == null) {
      named = chain.get(chain.size() - 1);
      for (Throwable t : chain) {
        if (!(WRAPPERS.contains(t.getClass()) && t.getCause() != null)) {
          named = t;
          break;
        }
      }
    }
    StringBuilder message = new StringBuilder();
    for (Throwable t : chain) {
      String m = t.getMessage();
      Throwable cause = t.getCause();
      boolean ownMessage = m != null && !m.isEmpty() && (cause == null || !m.equals(cause.toString()));
      if (t == named) {
        String text = m == null ? "" : m;
        if (text.isEmpty()) {
          // An exception with no message of its own: the first cause's that has one.
          for (Throwable c = cause; c != null && text.isEmpty(); c = c.getCause()) {
            text = c.getMessage() == null ? "" : c.getMessage();
          }
        }
        if (message.length() > 0 && !text.isEmpty()) {
          message.append(": ");
        }
        message.append(text);
        break;
      }
      if (ownMessage) {
        if (message.length() > 0) {
          message.append(": ");
        }
        message.append(m);
      }
    }
    int grpcCode = 0;
    Long pushback = null;
    Duration hint = null;
    int status = 0;
    for (Throwable t : chain) {
      Status s = null;
      Metadata trailers = null;
      if (t instanceof StatusRuntimeException e) {
        s = e.getStatus();
        trailers = e.getTrailers();
      } else if (t instanceof StatusException e) {
        s = e.getStatus();
        trailers = e.getTrailers();
      }
      if (s != null && grpcCode == 0 && s.getCode() != Status.Code.OK) {
        grpcCode = s.getCode().value();
        if (trailers != null && trailers.get(PUSHBACK) != null) {
          try {
            pushback = Long.parseLong(trailers.get(PUSHBACK).trim());
          } catch (NumberFormatException ignored) {
            // not a number: no pushback
          }
        }
      }
      if (t instanceof HttpStatusException h && status == 0 && h.response() != null) {
        status = h.response().statusCode();
        hint = retryAfterOf(h.response());
      }
    }
    if (hint == null && pushback != null && pushback >= 0 && pushback <= MAX_HINT.toMillis()) {
      hint = Duration.ofMillis(pushback);
    }
    return new ErrorInfo(named.getClass().getName(), message.toString(), status, grpcCode, null,
        hint, pushback);
  }

  /**
   * What is sent for an HTTP response that failed the attempt: type {@code
   * java.net.http.HttpResponse}, its status and {@code Retry-After}.
   */
  public static ErrorInfo from(HttpResponse<?> response) {
    if (response == null) {
      throw new IllegalArgumentException("response must not be null");
    }
    return new ErrorInfo(HttpResponse.class.getName(), describe(response), response.statusCode(), 0,
        null, retryAfterOf(response), null);
  }

  static String describe(HttpResponse<?> response) {
    return "HTTP " + response.statusCode() + " from " + response.request().method() + " "
        + response.request().uri();
  }

  private static Duration retryAfterOf(HttpResponse<?> response) {
    return response.headers().firstValue("Retry-After").map(v -> parseRetryAfter(v, Instant.now()))
        .orElse(null);
  }

  /**
   * A {@code Retry-After} value: delay-seconds or an HTTP-date (the time left until it; zero if
   * past). {@code null} for an unreadable one, or one over 366 days (retryd would refuse it).
   */
  public static Duration parseRetryAfter(String value, Instant now) {
    if (value == null || value.isBlank()) {
      return null;
    }
    String v = value.trim();
    Duration d;
    try {
      double secs = Double.parseDouble(v);
      if (Double.isNaN(secs) || secs > MAX_HINT.toSeconds()) {
        return null;
      }
      d = Duration.ofNanos((long) (Math.max(0, secs) * 1e9));
    } catch (NumberFormatException notSeconds) {
      try {
        d = Duration.between(now, ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant());
      } catch (DateTimeParseException notADate) {
        return null;
      }
    }
    if (d.isNegative()) {
      d = Duration.ZERO;
    }
    return d.compareTo(MAX_HINT) > 0 ? null : d;
  }

  private static List<Throwable> chain(Throwable error) {
    List<Throwable> out = new ArrayList<>();
    Map<Throwable, Boolean> seen = new IdentityHashMap<>();
    for (Throwable t = error; t != null && out.size() < 16 && seen.put(t, true) == null; t = t.getCause()) {
      out.add(t);
    }
    return out;
  }

  /** {@code s} cut to at most {@code limit} bytes of UTF-8, on a character boundary. */
  static String cut(String s, int limit) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    if (b.length <= limit) {
      return s;
    }
    int end = limit;
    while (end > 0 && (b[end] & 0xc0) == 0x80) {
      end--;
    }
    return new String(b, 0, end, StandardCharsets.UTF_8);
  }
}
