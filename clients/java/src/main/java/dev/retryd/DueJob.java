package dev.retryd;

import java.time.Instant;

/**
 * A due job handed to one claimer under a lease. Settle it with the lease: {@code
 * reportSuccess(jobId, Options.of().leaseId(leaseId))}, {@code reportFailure(jobId, error,
 * Options.of().leaseId(leaseId).attempt(attempt))} or {@code releaseJob}; {@code extendLease}
 * keeps a long run.
 *
 * @param payload what the job's last report parked (not copied: equality is the array's)
 * @param attempt the attempt number this run is: report it as the failure's {@code attempt}
 * @param lastError why its last attempt failed
 * @param dueAt when it fell due
 * @param leaseUntil unsettled by then, the job is due again (at-least-once)
 * @param deliveries the times it has been handed out, this time included
 */
public record DueJob(
    String jobId,
    String jobType,
    String queue,
    byte[] payload,
    int attempt,
    ErrorInfo lastError,
    Instant dueAt,
    String leaseId,
    Instant leaseUntil,
    int deliveries) {}
