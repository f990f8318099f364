package dev.retryd;

import java.time.Instant;

/**
 * One queue's jobs ({@code listQueues}).
 *
 * @param parked jobs waiting on the queue (due or not yet), leased ones not counted
 * @param due of those, the ones due now
 * @param leased jobs handed out and not yet settled
 * @param parkedBytes payload bytes of its parked and leased jobs
 * @param oldestDueAt the oldest unclaimed due job's due time; {@code null} when none is due
 */
public record QueueStats(String queue, long parked, long due, long leased, long parkedBytes,
    Instant oldestDueAt) {}
