package dev.retryd;

/** retryd could not be reached, did not answer within the client's timeout, or shed the call. */
public class UnavailableException extends RetrydException {
  private static final long serialVersionUID = 1L;

  public UnavailableException(String message, String code, String details, Throwable cause) {
    super(message, code, details, cause);
  }
}
