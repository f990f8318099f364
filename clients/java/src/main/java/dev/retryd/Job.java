package dev.retryd;

import java.time.Instant;

/**
 * The state retryd holds for a job.
 *
 * @param state {@code "retrying"}, {@code "dead"} or {@code "cancelled"}
 * @param nextRetryAt {@code null} unless the job is retrying
 * @param lastError the latest error, its message cut to 1 KiB
 * @param lastDecision {@code null} if none
 * @param queue delivery: the queue the job is due on; empty when retryd holds no payload for it
 * @param payloadBytes delivery: the size of the payload retryd holds
 * @param deliveries delivery: the times the job was handed out
 * @param leaseUntil delivery: until when its current lease runs; {@code null} unless handed out
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
    Decision lastDecision,
    String queue,
    int payloadBytes,
    int deliveries,
    Instant leaseUntil) {}
