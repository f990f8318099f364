package dev.retryd;

import java.time.Instant;

/**
 * The state retryd holds for a job.
 *
 * @param state {@code "retrying"}, {@code "dead"} or {@code "cancelled"}
 * @param nextRetryAt {@code null} unless the job is retrying
 * @param lastError the latest error, its message cut to 1 KiB
 * @param lastDecision {@code null} if none
 */
public record Job(
    String jobId,
    String jobType,
    String policy,
    String state,
    int failureCount,
    Instant firstFailureAt,
    Instant lastFailureAt,
    Instant nextRetryAt,
    ErrorInfo lastError,
    Decision lastDecision) {}
