# frozen_string_literal: true

# Retryd::Client against a live sidecar (Harness::CONFIG).

require_relative "helper"
require "net/http"
require "open3"

module Billing
  class ValidationError < StandardError; end
end

class TestClient < Minitest::Test
  def client
    @client ||= Retryd::Client.new(Harness.shared_retryd, timeout: 2)
  end

  def teardown
    @client&.close
  end

  def job
    Harness.job_id("t")
  end

  def test_a_transient_failure_gets_a_retry
    before = Time.now
    d = client.report_failure(job, Errno::ECONNRESET.new("read from payments"), job_type: "invoice", attempt: 1)
    assert d.retry?
    assert_in_delta Harness::DELAY, d.retry_after, 1e-9
    assert d.retry_at > before && d.retry_at < before + 5
    assert_nil d.reason
    assert_equal [1, Harness::MAX_ATTEMPTS], [d.failure_count, d.max_attempts]
    assert_equal %w[transient network default], [d.error_class, d.category, d.policy]
    assert_includes d.explanation, "ECONNRESET"
    refute d.local?
  end

  def test_retries_run_out_and_the_job_is_dead
    j = job
    ds = (1..Harness::MAX_ATTEMPTS).map { |n| client.report_failure(j, Net::ReadTimeout.new, attempt: n) }
    assert_equal [true, true, true, false], ds.map(&:retry?)
    assert_equal "retries_exhausted", ds.last.reason
    assert_nil ds.last.retry_at
    # A re-sent attempt is not counted twice.
    assert_equal Harness::MAX_ATTEMPTS, client.report_failure(j, Net::ReadTimeout.new, attempt: 4).failure_count
    dead = client.get_job(j)
    assert_equal ["dead", Harness::MAX_ATTEMPTS, "retries_exhausted", "Net::ReadTimeout"],
                 [dead.state, dead.failure_count, dead.last_decision.reason, dead.last_error.type]
  end

  def test_success_makes_retryd_forget_the_job
    j = job
    client.report_failure(j, Errno::ECONNREFUSED.new, job_type: "invoice", attempt: 1)
    client.report_failure(j, Errno::ECONNREFUSED.new, job_type: "invoice", attempt: 2)
    held = client.get_job(j)
    assert_equal ["retrying", "invoice", 2], [held.state, held.job_type, held.failure_count]
    refute_nil held.next_retry_at
    s = client.report_success(j, job_type: "invoice")
    assert_equal [2, true, false], [s.failures_before_success, s.known, s.local]
    assert_nil client.get_job(j)
    refute client.report_success(j).known
  end

  def test_explain_changes_nothing
    j = job
    d = client.explain(j, Net::ReadTimeout.new, attempt: 1)
    assert_equal [true, "timeout"], [d.retry?, d.category]
    assert_nil client.get_job(j)
  end

  def test_error_info_verdict_policy_priority_target
    d = client.report_failure(job, Retryd::ErrorInfo.new(type: "VendorError", message: "quota", retryable: true))
    assert_equal [true, "caller"], [d.retry?, d.category]
    d = client.report_failure(job, RuntimeError.new("odd"), retryable: false)
    assert_equal [false, "permanent_error", "caller"], [d.retry?, d.reason, d.category]
    d = client.report_failure(job, Retryd::ErrorInfo.new(type: "Odd", grpc_code: 14))
    assert_equal "unavailable", d.category
    d = client.report_failure(job, Errno::ETIMEDOUT.new, policy: "aggressive", attempt: 1)
    assert_equal ["aggressive", 5], [d.policy, d.max_attempts]
    d = client.report_failure(job, Errno::ETIMEDOUT.new, priority: 90, attempt: 1)
    assert_equal "high_priority", d.policy
    d = client.report_failure(job, Errno::ETIMEDOUT.new, target: "s3", retry_after: 2)
    assert_in_delta 2.0, d.retry_after, 1e-9
    d = client.report_failure(job, Billing::ValidationError.new("amount must be positive"))
    assert_equal [false, "invalid_input"], [d.retry?, d.category]
  end

  def test_bad_input_is_an_error_naming_the_argument
    c = Retryd::Client.new(Harness.shared_retryd, fallback: Retryd::Fallback.exponential)
    e = assert_raises(Retryd::Error) { c.report_failure("", Errno::ECONNRESET.new) }
    refute_kind_of Retryd::Unavailable, e
    assert_equal "INVALID_ARGUMENT", e.code
    assert_includes e.message, "job_id"
    c.close
    assert_equal "attempt must be nil or an Integer from 0 (not given) to 10000000, got -1",
                 assert_raises(ArgumentError) { client.report_failure("j", Errno::ECONNRESET.new, attempt: -1) }.message
    assert_match(/priority must be/, assert_raises(ArgumentError) { client.report_failure("j", Errno::EIO.new, priority: 150) }.message)
    assert_match(/timeout must be a positive number/, assert_raises(ArgumentError) { Retryd::Client.new("x:1", timeout: 0) }.message)
    assert_match(/max_attempts must be an Integer of at least 1, got 0/, assert_raises(ArgumentError) { Retryd::Fallback.exponential(max_attempts: 0) }.message)
    assert_match(/error must be an exception, a Net::HTTPResponse or a Retryd::ErrorInfo, got String/,
                 assert_raises(ArgumentError) { client.report_failure("j", "boom") }.message)
  end

  def test_a_down_or_hung_sidecar_is_unavailable_within_the_timeout
    Harness.with_tcp_server do |hole|
      ["127.0.0.1:#{Harness.free_port}", "127.0.0.1:#{hole}"].each do |addr|
        c = Retryd::Client.new(addr, timeout: 0.3)
        started = Time.now
        e = assert_raises(Retryd::Unavailable) { c.report_failure("j", Errno::ECONNRESET.new, attempt: 1) }
        assert_operator Time.now - started, :<, 1.5, "#{addr}: took #{Time.now - started}s"
        assert e.message.start_with?("retryd at #{addr}"), e.message
        assert_raises(Retryd::Unavailable) { c.get_job("j") }
        c.close
      end
    end
  end

  def test_the_fallback_decides_when_retryd_is_unavailable
    Harness.with_tcp_server do |hole|
      c = Retryd::Client.new("127.0.0.1:#{hole}", timeout: 0.2, fallback: Retryd::Fallback.exponential(max_attempts: 3, base: 1.0, max_delay: 60))
      got = 3.times.map do
        d = c.report_failure("job-1", Errno::ECONNRESET.new) # no attempt: counted by the client
        assert d.local?
        assert d.explanation.start_with?("local decision, retryd unavailable (retryd at "), d.explanation
        [d.retry?, d.retry_after, d.reason]
      end
      assert_equal [[true, 1.0, nil], [true, 2.0, nil], [false, 0.0, "retries_exhausted"]], got
      d = c.report_failure("job-2", Retryd::ErrorInfo.new(type: "X", retryable: false), attempt: 1)
      assert_equal [false, "permanent_error", true], [d.retry?, d.reason, d.local?]
      assert c.report_success("job-1").local
      assert_raises(Retryd::Unavailable) { c.explain("job-1", Errno::ECONNRESET.new) } # never the fallback's
      c.close
    end
  end

  def test_the_client_reconnects_when_the_sidecar_comes_back
    addr = "127.0.0.1:#{Harness.free_port}"
    c = nil
    Harness.with_retryd(Harness::CONFIG, addr) do
      c = Retryd::Client.new(addr, timeout: 0.5)
      c.report_failure(job, Errno::ECONNRESET.new)
    end
    assert_raises(Retryd::Unavailable) { c.report_failure(job, Errno::ECONNRESET.new) }
    Harness.with_retryd(Harness::CONFIG, addr) do
      deadline = Time.now + 3
      begin
        c.report_failure(job, Errno::ECONNRESET.new)
      rescue Retryd::Unavailable => e
        raise "not reconnected within 3s: #{e.message}" if Time.now > deadline

        sleep 0.1
        retry
      end
    end
  ensure
    c&.close
  end

  def test_error_info_from_exceptions
    response = Net::HTTPServiceUnavailable.new("1.1", "503", "Service Unavailable")
    response["Retry-After"] = (Time.now + 90).httpdate
    err = Net::HTTPFatalError.new('503 "Service Unavailable"', response)
    info = Retryd::ErrorInfo.from_exception(err)
    assert_equal ["Net::HTTPFatalError", 503], [info.type, info.http_status]
    assert_in_delta 89.5, info.retry_after, 1.5
    info = Retryd.error_info(response)
    assert_equal ["Net::HTTPServiceUnavailable", "503 Service Unavailable", 503], [info.type, info.message, info.http_status]
    faraday_like = Class.new(StandardError) do
      def response = { status: 429, headers: { "retry-after" => "3" } }
    end
    info = Retryd::ErrorInfo.from_exception(faraday_like.new("too many"))
    assert_equal ["StandardError", 429, 3.0], [info.type, info.http_status, info.retry_after]
    assert_equal 64 * 1024 / 2, Retryd::ErrorInfo.from_exception(RuntimeError.new("é" * 40_000)).message.size
    now = Time.utc(2030, 1, 1)
    assert_equal 120.0, Retryd.parse_retry_after("120", now: now)
    assert_equal 0.0, Retryd.parse_retry_after("-3", now: now)
    assert_equal 90.0, Retryd.parse_retry_after((now + 90).httpdate, now: now)
    assert_nil Retryd.parse_retry_after("soon", now: now)
    assert_nil Retryd.parse_retry_after("1000000000", now: now)
  end

  def test_the_generated_code_matches_the_proto
    Dir.mktmpdir("retryd-ruby-gen-") do |out|
      log, status = Open3.capture2e(File.expand_path("../generate", __dir__), out)
      assert status.success?, log
      %w[retryd_pb.rb retryd_services_pb.rb].each do |f|
        assert_equal File.read(File.join(out, "retryd", "v1", f)), File.read(File.expand_path("../lib/retryd/v1/#{f}", __dir__)),
                     "lib/retryd/v1/#{f} differs from what ./generate makes of proto/: run clients/ruby/generate"
      end
    end
  end
end
