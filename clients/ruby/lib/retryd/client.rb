# frozen_string_literal: true

require "grpc"
require_relative "v1/retryd_services_pb"

module Retryd
  # A client of the retryd sidecar. Every call is bounded by +timeout+
  # (seconds): a sidecar that is down or hung raises Retryd::Unavailable, or,
  # with a +fallback+, report_failure answers with its decision (local).
  # Thread-safe.
  class Client
    DEFAULT_ADDRESS = "127.0.0.1:50051"

    # Status codes that mean "retryd did not answer", not "retryd said no".
    UNAVAILABLE_CODES = [
      GRPC::Core::StatusCodes::UNAVAILABLE, GRPC::Core::StatusCodes::DEADLINE_EXCEEDED,
      GRPC::Core::StatusCodes::RESOURCE_EXHAUSTED, GRPC::Core::StatusCodes::CANCELLED
    ].freeze

    attr_reader :address, :timeout, :stub

    # +address+: the sidecar's host:port ($RETRYD_ADDR, else
    # 127.0.0.1:50051); +timeout+: every call's bound in seconds (0.5);
    # +fallback+: call(n, error_info) -> Decision when retryd is unavailable.
    def initialize(address = nil, timeout: 0.5, fallback: nil)
      address ||= ENV.fetch("RETRYD_ADDR", "")
      address = DEFAULT_ADDRESS if address.empty?
      raise ArgumentError, "timeout must be a positive number of seconds, got #{timeout.inspect}" unless timeout.is_a?(Numeric) && timeout.positive?
      raise ArgumentError, "fallback must respond to call(n, error_info), got #{fallback.class}" unless fallback.nil? || fallback.respond_to?(:call)

      @address = address
      @timeout = timeout
      @fallback = fallback
      @counts = {}
      @lock = Mutex.new
      # A sidecar that restarts is found again within a second, not after
      # gRPC's default reconnect backoff (up to two minutes).
      @channel = GRPC::Core::Channel.new(
        address,
        {
          "grpc.initial_reconnect_backoff_ms" => 100,
          "grpc.min_reconnect_backoff_ms" => 100,
          "grpc.max_reconnect_backoff_ms" => 1000
        },
        :this_channel_is_insecure
      )
      @stub = V1::RetryCoordinator::Stub.new(address, :this_channel_is_insecure, channel_override: @channel)
    end

    # Records a failed attempt; retryd's Decision. +error+ is what the
    # attempt raised (ErrorInfo.from_exception shows what is sent), a
    # Net::HTTPResponse that failed it, or a Retryd::ErrorInfo.
    def report_failure(job_id, error, job_type: nil, attempt: nil, target: nil, policy: nil, priority: nil, retry_after: nil, retryable: nil)
      info = Retryd.error_info(error)
      req = request(V1::ReportFailureRequest, job_id, info, job_type: job_type, attempt: attempt, target: target,
                                                             policy: policy, priority: priority, retry_after: retry_after, retryable: retryable)
      n = attempt.to_i.positive? ? attempt : (@fallback ? count_failure(job_id) : 0)
      begin
        decision_of(call(:report_failure, req).decision)
      rescue Unavailable => e
        raise unless @fallback

        local_decision(n, info, e)
      end
    end

    # The decision report_failure would give, changing nothing (never the
    # fallback's).
    def explain(job_id, error, job_type: nil, attempt: nil, target: nil, policy: nil, priority: nil, retry_after: nil, retryable: nil)
      info = Retryd.error_info(error)
      req = request(V1::ExplainRequest, job_id, info, job_type: job_type, attempt: attempt, target: target,
                                                      policy: policy, priority: priority, retry_after: retry_after, retryable: retryable)
      decision_of(call(:explain, req).decision)
    end

    # The job succeeded: retryd forgets it. With a fallback, an unavailable
    # retryd is no error (Success#local).
    def report_success(job_id, job_type: nil, target: nil)
      @lock.synchronize { @counts.delete(job_id) }
      r = call(:report_success, V1::ReportSuccessRequest.new(job_id: job_id.to_s, job_type: job_type.to_s, target: target.to_s))
      Success.new(failures_before_success: r.failures_before_success, known: r.known, local: false)
    rescue Unavailable
      raise unless @fallback

      Success.new(failures_before_success: 0, known: false, local: true)
    end

    # The state retryd holds for the job, or nil.
    def get_job(job_id)
      job_of(call(:get_job, V1::GetJobRequest.new(job_id: job_id.to_s)).job)
    rescue Error => e
      raise unless e.code == "NOT_FOUND"

      nil
    end

    # Closes the channel; the client cannot be used after.
    def close
      @channel.close
    end

    private

    def call(method, request)
      @stub.public_send(method, request, deadline: Time.now + @timeout)
    rescue GRPC::BadStatus => e
      name = code_name(e.code)
      if e.code == GRPC::Core::StatusCodes::DEADLINE_EXCEEDED
        raise Unavailable.new("retryd at #{@address} did not answer within #{@timeout}s", code: name, details: e.details)
      elsif UNAVAILABLE_CODES.include?(e.code)
        raise Unavailable.new("retryd at #{@address} is unavailable: #{name}: #{e.details}", code: name, details: e.details)
      end

      raise Error.new("retryd: #{name}: #{e.details}", code: name, details: e.details)
    end

    def code_name(code)
      GRPC::Core::StatusCodes.constants.find { |c| GRPC::Core::StatusCodes.const_get(c) == code }.to_s
    end

    def request(klass, job_id, info, job_type:, attempt:, target:, policy:, priority:, retry_after:, retryable:)
      unless attempt.nil? || (attempt.is_a?(Integer) && attempt.between?(0, MAX_ATTEMPT))
        raise ArgumentError, "attempt must be nil or an Integer from 0 (not given) to #{MAX_ATTEMPT}, got #{attempt.inspect}"
      end
      raise ArgumentError, "priority must be nil or an Integer from 0 to 100, got #{priority.inspect}" unless priority.nil? || (priority.is_a?(Integer) && priority.between?(0, 100))
      raise ArgumentError, "retry_after must be nil or 0 to 366 days in seconds, got #{retry_after.inspect}" unless retry_after.nil? || (retry_after.is_a?(Numeric) && retry_after.between?(0, MAX_HINT))

      verdict = retryable.nil? ? info.retryable : retryable
      error = V1::ErrorInfo.new(type: info.type.to_s, message: info.message.to_s,
                                http_status: info.http_status.to_i, grpc_code: info.grpc_code.to_i)
      error.retryable = verdict unless verdict.nil?
      req = klass.new(job_id: job_id.to_s, job_type: job_type.to_s, policy: policy.to_s, target: target.to_s,
                      attempt: attempt.to_i, error: error)
      req.priority = priority unless priority.nil?
      hint = retry_after.nil? ? info.retry_after : retry_after
      unless hint.nil?
        whole = hint.to_f.floor
        req.retry_after_hint = Google::Protobuf::Duration.new(seconds: whole, nanos: ((hint.to_f - whole) * 1e9).round.clamp(0, 999_999_999))
      end
      # The server said not to retry: retryd gives up (reason pushback).
      req.retry_pushback_ms = info.pushback_ms if info.pushback_ms&.negative?
      req
    end

    def count_failure(job_id)
      @lock.synchronize do
        n = @counts.delete(job_id).to_i + 1
        @counts[job_id] = n
        @counts.shift while @counts.size > 10_000
        n
      end
    end

    def local_decision(n, info, why)
      d = @fallback.call([n, 1].max, info)
      raise TypeError, "the fallback must return a Retryd::Decision, got #{d.class}" unless d.is_a?(Decision)

      d = d.dup
      d.local = true
      d.explanation = "local decision, retryd unavailable (#{why.message}): #{d.explanation}"
      d
    end

    def enum_name(value, prefix)
      name = value.to_s
      name = name.delete_prefix(prefix)
      name == "UNSPECIFIED" || name.empty? ? nil : name.downcase
    end

    def seconds(d)
      d.nil? ? 0.0 : d.seconds + (d.nanos / 1e9)
    end

    def time(t)
      t.nil? ? nil : Time.at(t.seconds, t.nanos, :nsec)
    end

    def decision_of(d)
      retry_ = d.action == :ACTION_RETRY
      Decision.new(
        retry: retry_, retry_after: seconds(d.retry_after), retry_at: time(d.retry_at),
        reason: retry_ ? nil : enum_name(d.reason, "GIVE_UP_REASON_"),
        failure_count: d.failure_count, max_attempts: d.max_attempts,
        error_class: enum_name(d.error_class, "ERROR_CLASS_"), category: d.category, policy: d.policy,
        explanation: d.explanation, local: false
      )
    end

    def job_of(j)
      e = j.last_error
      Job.new(
        job_id: j.job_id, job_type: j.job_type, policy: j.policy, state: enum_name(j.state, "JOB_STATE_"),
        failure_count: j.failure_count, first_failure_at: time(j.first_failure_at),
        last_failure_at: time(j.last_failure_at), next_retry_at: time(j.next_retry_at),
        last_error: ErrorInfo.new(type: e&.type.to_s, message: e&.message.to_s, http_status: e&.http_status.to_i,
                                  grpc_code: e&.grpc_code.to_i, retryable: e&.has_retryable? ? e.retryable : nil),
        last_decision: j.last_decision ? decision_of(j.last_decision) : nil
      )
    end
  end

  # The ErrorInfo sent for +error+: an exception, a Net::HTTPResponse, or an
  # ErrorInfo as it is.
  def self.error_info(error)
    case error
    when ErrorInfo then error
    when Exception then ErrorInfo.from_exception(error)
    else
      return ErrorInfo.from_response(error) if defined?(::Net::HTTPResponse) && error.is_a?(::Net::HTTPResponse)

      raise ArgumentError, "error must be an exception, a Net::HTTPResponse or a Retryd::ErrorInfo, got #{error.class}"
    end
  end
end
