# frozen_string_literal: true

# The application test_sidekiq.rb runs in a real Sidekiq process
# (sidekiq -r test/sidekiq_app.rb): workers driven by retryd, events written
# to the Redis list "events" for the test to read.

require "json"
require "retryd/sidekiq"

REDIS_URL = ENV.fetch("REDIS_URL")
Redis.silence_deprecations = true

Sidekiq.configure_server do |config|
  config.redis = { url: REDIS_URL }
  Retryd::Sidekiq.client = Retryd::Client.new(ENV.fetch("RETRYD_ADDR"), timeout: 2)
  Retryd::Sidekiq.install(config) do |job, exception, decision|
    Sidekiq.redis do |r|
      r.rpush("events", JSON.generate(event: "dead", jid: job["jid"], class: job["class"], error: exception.class.name,
                                      reason: decision&.reason, retry_count: job["retry_count"]))
    end
  end
end

module Billing
  class ValidationError < StandardError; end
end

def record(event)
  Sidekiq.redis { |r| r.rpush("events", JSON.generate(event)) }
end

# Fails with a reset connection until it has run +failures+ times, then succeeds.
class FlakyJob
  include Sidekiq::Worker
  include Retryd::Sidekiq::Worker

  def perform(failures)
    runs = Sidekiq.redis { |r| r.incr("runs:#{jid}") }
    record(event: "run", jid: jid, run: runs)
    raise Errno::ECONNRESET, "read from payments" if runs <= failures

    record(event: "success", jid: jid, run: runs)
  end
end

# A permanent error: dead at once.
class InvalidJob
  include Sidekiq::Worker
  include Retryd::Sidekiq::Worker

  def perform
    record(event: "run", jid: jid)
    raise Billing::ValidationError, "amount must be positive"
  end
end

# Always fails: dead when retryd's retries are exhausted.
class DownJob
  include Sidekiq::Worker
  include Retryd::Sidekiq::Worker

  sidekiq_retries_exhausted do |msg, _exception|
    record(event: "exhausted", jid: msg["jid"], reason: msg["retryd_reason"])
  end

  def perform
    record(event: "run", jid: jid)
    raise Errno::ECONNREFUSED, "connect to payments"
  end
end
