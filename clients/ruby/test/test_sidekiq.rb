# frozen_string_literal: true

# Retryd::Sidekiq in a real Sidekiq process on a real Redis, against a live
# retryd: the retry set holds what retryd decided (plus Sidekiq's jitter),
# retries run with the next attempt number, give-ups go to the dead set, the
# death handler runs, and retryd holds the same.

require_relative "helper"
require "json"
require "sidekiq"
require "sidekiq/api"
require "retryd/sidekiq"

Redis.silence_deprecations = true

class TestSidekiq < Minitest::Test
  # A 2 s delay (Sidekiq takes whole seconds), 4 attempts.
  CONFIG = <<~TOML
    [policies.default]
    max_attempts = 4
    backoff = { kind = "constant", delay = "2s" }
  TOML

  def setup
    @events = []
  end

  def with_sidekiq
    Harness.with_redis do |port|
      Harness.with_retryd(CONFIG) do |addr|
        url = "redis://127.0.0.1:#{port}/0"
        Sidekiq.configure_client { |c| c.redis = { url: url, size: 2 } }
        Dir.mktmpdir("retryd-sidekiq-") do |dir|
          env = { "REDIS_URL" => url, "RETRYD_ADDR" => addr }
          argv = ["ruby", "-I", File.expand_path("../lib", __dir__), Gem.bin_path("sidekiq", "sidekiq"),
                  "-r", File.join(__dir__, "sidekiq_app.rb"), "-c", "2", "-q", "default", "-t", "5"]
          child = Harness::Child.new(argv, File.join(dir, "sidekiq.log"), env: env)
          begin
            child.wait_for("sidekiq") { Sidekiq::ProcessSet.new.size.positive? }
            @client = Retryd::Client.new(addr, timeout: 2)
            @child = child
            yield
          ensure
            @client&.close
            child.stop
          end
        end
      end
    end
  end

  # Events the app wrote, waiting until +done+ says enough have come.
  def events_until(what, timeout = 30, &done)
    deadline = Time.now + timeout
    loop do
      Sidekiq.redis { |r| r.lrange("events", @events.size, -1) }.each { |e| @events << JSON.parse(e) }
      return @events if done.call(@events)
      raise "#{what}: not within #{timeout}s; events #{@events}\n#{@child.output}" if Time.now > deadline

      sleep 0.05
    end
  end

  # The job's entry in the retry set once it is there.
  def retry_entry(jid, count, timeout = 30)
    deadline = Time.now + timeout
    loop do
      entry = Sidekiq::RetrySet.new.find_job(jid)
      return entry if entry && entry.item["retry_count"] == count
      raise "job #{jid} not in the retry set with retry_count #{count}\n#{@child.output}" if Time.now > deadline

      sleep 0.05
    end
  end

  # Sidekiq schedules retryd's delay plus its own jitter, rand(10) * (count + 1) seconds.
  def assert_scheduled_after_retryd_delay(entry)
    count = entry.item["retry_count"]
    failed = entry.item["retried_at"] || entry.item["failed_at"]
    waited = entry.at.to_f - failed
    assert_operator waited, :>=, 2 - 0.05, "scheduled #{waited}s after the failure"
    assert_operator waited, :<=, 2 + (9 * (count + 1)) + 1, "scheduled #{waited}s after the failure"
  end

  def test_retries_answered_by_retryd_then_success_then_give_ups
    with_sidekiq do
      flaky = Sidekiq::Client.push("class" => "FlakyJob", "args" => [2])
      invalid = Sidekiq::Client.push("class" => "InvalidJob", "args" => [])
      down = Sidekiq::Client.push("class" => "DownJob", "args" => [])

      # A permanent error: dead at once, no retry.
      events_until("InvalidJob dead") { |ev| ev.any? { |e| e["event"] == "dead" && e["jid"] == invalid } }
      dead = Sidekiq::DeadSet.new.find_job(invalid)
      refute_nil dead, "InvalidJob is not in the dead set"
      assert_equal ["permanent_error", "Billing::ValidationError", "amount must be positive"],
                   [dead.item["retryd_reason"], dead.item["error_class"], dead.item["error_message"]]
      assert_nil Sidekiq::RetrySet.new.find_job(invalid)
      job = @client.get_job(invalid)
      assert_equal ["dead", "permanent_error", "InvalidJob", 1], [job.state, job.last_decision.reason, job.job_type, job.failure_count]

      # FlakyJob: two failures, each retried after retryd's delay, then success.
      [0, 1].each do |count|
        entry = retry_entry(flaky, count)
        assert_scheduled_after_retryd_delay(entry)
        held = @client.get_job(flaky)
        assert_equal ["retrying", count + 1, "Errno::ECONNRESET"], [held.state, held.failure_count, held.last_error.type]
        entry.add_to_queue # due now, as the scheduler moves it when due
      end
      events_until("FlakyJob success") { |ev| ev.any? { |e| e["event"] == "success" && e["jid"] == flaky } }
      sleep 0.2
      assert_nil @client.get_job(flaky), "retryd still holds the job that succeeded"

      # DownJob: retried until retryd's 4 attempts are spent, then dead.
      [0, 1, 2].each do |count|
        entry = retry_entry(down, count)
        assert_scheduled_after_retryd_delay(entry)
        assert_equal count + 1, @client.get_job(down).failure_count
        entry.add_to_queue
      end
      events_until("DownJob dead") { |ev| ev.any? { |e| e["event"] == "dead" && e["jid"] == down } }
      dead = Sidekiq::DeadSet.new.find_job(down)
      refute_nil dead
      assert_equal ["retries_exhausted", 3], [dead.item["retryd_reason"], dead.item["retry_count"]]
      assert_nil Sidekiq::RetrySet.new.find_job(down)
      job = @client.get_job(down)
      assert_equal ["dead", "retries_exhausted", 4], [job.state, job.last_decision.reason, job.failure_count]

      runs = ->(jid) { @events.count { |e| e["event"] == "run" && e["jid"] == jid } }
      assert_equal [3, 1, 4], [runs.call(flaky), runs.call(invalid), runs.call(down)]
      assert(@events.any? { |e| e["event"] == "exhausted" && e["jid"] == down && e["reason"] == "retries_exhausted" },
             "sidekiq_retries_exhausted did not run")
      dead_events = @events.select { |e| e["event"] == "dead" }
      assert_equal [[invalid, "permanent_error"], [down, "retries_exhausted"]].sort,
                   dead_events.map { |e| [e["jid"], e["reason"]] }.sort
      assert_match(/retryd gave up on DownJob #{down}: retries_exhausted: /, @child.output)
    end
  end
end

# The parts of the integration that need no Sidekiq process.
class TestSidekiqUnits < Minitest::Test
  def decision(retry_, after = 0.1)
    Retryd::Decision.new(retry: retry_, retry_after: after, reason: retry_ ? nil : "retries_exhausted")
  end

  def with_decision(d)
    e = Errno::ECONNRESET.new
    e.instance_variable_set(:@retryd_decision, d)
    e
  end

  def test_retry_in
    assert_equal 1, Retryd::Sidekiq.retry_in(0, with_decision(decision(true, 0.1)))
    assert_equal 3, Retryd::Sidekiq.retry_in(0, with_decision(decision(true, 2.2)))
    assert_nil Retryd::Sidekiq.retry_in(0, Errno::ECONNRESET.new) # not reported: Sidekiq's curve
    assert_equal :kill, Retryd::Sidekiq.retry_in(0, with_decision(decision(false)), kill_supported: true)
    assert_nil Retryd::Sidekiq.retry_in(0, with_decision(decision(false)), kill_supported: false)
    assert_equal Gem::Version.new(Sidekiq::VERSION) >= Gem::Version.new("6.5"), Retryd::Sidekiq::KILL_SUPPORTED
  end

  def test_attempt_from_the_retry_count
    assert_equal [1, 2, 5], [nil, 0, 3].map { |c| Retryd::Sidekiq::ServerMiddleware.attempt("retry_count" => c) }
  end
end
