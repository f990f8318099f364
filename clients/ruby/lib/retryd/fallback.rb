# frozen_string_literal: true

module Retryd
  # Local decisions for when retryd is unavailable:
  # Retryd::Client.new(fallback: Retryd::Fallback.exponential(max_attempts: 3)).
  # A fallback is anything that answers call(n, error_info) with a Decision;
  # n is the caller's attempt, else the client's own count of the job's
  # failures since its last success.
  module Fallback
    # Retry after base, 2 * base, 4 * base... seconds (at most max_delay)
    # until max_attempts attempts have failed; give up at once on an error
    # the caller marked not retryable. It knows none of retryd's rules: it
    # only keeps a worker going until the sidecar answers again.
    def self.exponential(max_attempts: 3, base: 1.0, max_delay: 60.0)
      raise ArgumentError, "max_attempts must be an Integer of at least 1, got #{max_attempts.inspect}" unless max_attempts.is_a?(Integer) && max_attempts >= 1
      raise ArgumentError, "base must not be negative, got #{base.inspect}" unless base.is_a?(Numeric) && base >= 0
      raise ArgumentError, "max_delay must not be negative, got #{max_delay.inspect}" unless max_delay.is_a?(Numeric) && max_delay >= 0

      lambda do |n, error|
        n = [n.to_i, 1].max
        common = { failure_count: n, max_attempts: max_attempts, policy: "local", local: true }
        if error.retryable == false
          Decision.new(**common, retry: false, retry_after: 0.0, retry_at: nil, reason: "permanent_error",
                                 error_class: "permanent", category: "caller",
                                 explanation: "the caller marked the error not retryable")
        elsif n >= max_attempts
          Decision.new(**common, retry: false, retry_after: 0.0, retry_at: nil, reason: "retries_exhausted",
                                 error_class: "unknown", category: "unknown",
                                 explanation: "attempt #{n} of #{max_attempts} failed: no retries left")
        else
          delay = [max_delay.to_f, base.to_f * (2**(n - 1))].min
          Decision.new(**common, retry: true, retry_after: delay, retry_at: Time.now + delay, reason: nil,
                                 error_class: "unknown", category: "unknown",
                                 explanation: "retry #{n} of #{max_attempts - 1} after #{delay}s " \
                                              "(exponential from #{base}s, at most #{max_delay}s)")
        end
      end
    end
  end
end
