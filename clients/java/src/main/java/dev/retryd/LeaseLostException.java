package dev.retryd;

/**
 * Delivery's fencing: a report, an extension or a release with a lease that is not the job's
 * current one (it was handed out again, released or settled), or a report without a lease for a
 * job handed out under one. Nothing changed; {@code code()} is {@code FAILED_PRECONDITION}. A
 * worker that gets it must drop the job: another claimer holds it, or it is settled.
 */
public class LeaseLostException extends RetrydException {
  private static final long serialVersionUID = 1L;

  public LeaseLostException(String message, String code, String details, Throwable cause) {
    super(message, code, details, cause);
  }
}
