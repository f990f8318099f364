# frozen_string_literal: true

module Retryd
  # retryd refused the call (e.g. INVALID_ARGUMENT naming the bad field).
  class Error < StandardError
    # The gRPC status code's name, e.g. "INVALID_ARGUMENT"; retryd's own message.
    attr_reader :code, :details

    def initialize(message, code: "UNKNOWN", details: "")
      super(message)
      @code = code
      @details = details
    end
  end

  # retryd could not be reached, did not answer within the client's timeout,
  # or shed the call.
  class Unavailable < Error; end

  # retryd's answer to a failure. +retry_after+ is in seconds; +retry_at+ a
  # Time (nil on give-up); +reason+ nil on retry, else "permanent_error",
  # "retries_exhausted", "deadline_exceeded", "cancelled",
  # "budget_exhausted" or "pushback"; +error_class+ "transient", "permanent"
  # or "unknown"; +category+ the rule that matched; +local+ true when made by
  # the fallback.
  Decision = Struct.new(
    :retry, :retry_after, :retry_at, :reason, :failure_count, :max_attempts,
    :error_class, :category, :policy, :explanation, :local,
    keyword_init: true
  ) do
    def retry?
      self[:retry] ? true : false
    end

    def local?
      local ? true : false
    end
  end

  # retryd's answer to a success.
  Success = Struct.new(:failures_before_success, :known, :local, keyword_init: true)

  # The state retryd holds for a job.
  Job = Struct.new(
    :job_id, :job_type, :policy, :state, :failure_count, :first_failure_at,
    :last_failure_at, :next_retry_at, :last_error, :last_decision,
    keyword_init: true
  )
end
