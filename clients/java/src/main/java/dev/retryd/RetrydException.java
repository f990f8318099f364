package dev.retryd;

/** retryd refused the call, e.g. {@code INVALID_ARGUMENT} naming the bad field. */
public class RetrydException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final String code;
  private final String details;

  public RetrydException(String message, String code, String details, Throwable cause) {
    super(message, cause);
    this.code = code;
    this.details = details;
  }

  /** The gRPC status code's name, e.g. {@code "INVALID_ARGUMENT"}. */
  public String code() {
    return code;
  }

  /** retryd's own message. */
  public String details() {
    return details;
  }
}
