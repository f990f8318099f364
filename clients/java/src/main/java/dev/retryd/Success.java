package dev.retryd;

/**
 * retryd's answer to a success.
 *
 * @param failuresBeforeSuccess the failed attempts retryd had recorded
 * @param known whether retryd held state for the job
 * @param local retryd was unavailable and a fallback is set: nothing was reported
 */
public record Success(int failuresBeforeSuccess, boolean known, boolean local) {}
