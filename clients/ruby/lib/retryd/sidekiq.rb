# frozen_string_literal: true

require "sidekiq"
require "sidekiq/job_retry"
require "retryd"

module Retryd
  # Sidekiq driven by retryd: a server middleware that reports each failure
  # (Sidekiq's retry count as the attempt), +sidekiq_retry_in+ answered with
  # retryd's delay, and a death handler. See README.md, "Sidekiq".
  #
  #   Sidekiq.configure_server { |config| Retryd::Sidekiq.install(config) }
  #
  #   class ChargeJob
  #     include Sidekiq::Worker
  #     include Retryd::Sidekiq::Worker
  #     def perform(invoice_id) = charge(invoice_id)
  #   end
  module Sidekiq
    # Sidekiq's retry limit for jobs that include Worker: retryd's policy is
    # the limit.
    MAX_RETRY = 1_000_000

    # Since Sidekiq 6.5, sidekiq_retry_in may answer :kill (dead at once);
    # before, it falls back to Sidekiq's own curve, so the middleware kills
    # the job itself.
    KILL_SUPPORTED = Gem::Version.new(::Sidekiq::VERSION) >= Gem::Version.new("6.5")

    class << self
      # The client the middleware uses (default: Retryd::Client.new, made
      # once per process).
      attr_writer :client

      def client
        @client ||= Retryd::Client.new
      end

      # retryd's decision for the failure that raised +exception+ (set by
      # the middleware), or nil.
      def decision_of(exception)
        exception.instance_variable_defined?(:@retryd_decision) ? exception.instance_variable_get(:@retryd_decision) : nil
      end

      # What sidekiq_retry_in answers for +exception+: retryd's delay in
      # whole seconds (at least 1: Sidekiq takes 0 as "use my own curve"),
      # :kill on a give-up where Sidekiq supports it, nil (Sidekiq's own
      # curve) when retryd could not be asked.
      def retry_in(_count, exception, kill_supported: KILL_SUPPORTED)
        d = decision_of(exception)
        return nil if d.nil?
        return (kill_supported ? :kill : nil) unless d.retry?

        [d.retry_after.ceil, 1].max
      end

      # A death handler (Sidekiq.death_handlers): logs retryd's reason and
      # explanation for each job that died, then calls the block, if given,
      # with the job, the exception and retryd's decision (nil when Sidekiq
      # killed the job for a reason of its own).
      def death_handler(logger: nil, &on_death)
        lambda do |job, exception|
          decision = exception && decision_of(exception)
          log = logger || ::Sidekiq.logger
          if decision && !decision.retry?
            log.warn("retryd gave up on #{job['class']} #{job['jid']}: #{decision.reason}: #{decision.explanation}")
          else
            log.warn("#{job['class']} #{job['jid']} died without a give-up from retryd")
          end
          on_death&.call(job, exception, decision)
        end
      end

      # Adds the middleware and the death handler to a Sidekiq server's
      # configuration (Sidekiq.configure_server { |config| ... }).
      def install(config = ::Sidekiq, client: nil, job_type: nil, target: nil, &on_death)
        config.server_middleware { |chain| chain.add(ServerMiddleware, { client: client, job_type: job_type, target: target }) }
        config.death_handlers << death_handler(&on_death)
        config
      end
    end

    # Include in a worker (after Sidekiq::Worker): its retries are answered
    # by retryd (sidekiq_retry_in), and Sidekiq's retry limit is lifted so
    # that retryd's policy is the limit.
    module Worker
      def self.included(base)
        base.sidekiq_options(retry: MAX_RETRY)
        base.sidekiq_retry_in { |count, exception| Retryd::Sidekiq.retry_in(count, exception) }
      end
    end

    # Server middleware: reports every success and failure of a job to
    # retryd: the jid as the job id, the worker class (or +job_type+) as the
    # job type, Sidekiq's retry count + 1 as the attempt (1 for the first
    # run). The decision goes with the exception to sidekiq_retry_in. On a
    # give-up before Sidekiq 6.5 the middleware does what Sidekiq does when
    # retries are exhausted (the worker's sidekiq_retries_exhausted block,
    # the dead set, the death handlers) and tells Sidekiq not to retry.
    class ServerMiddleware
      # Options: client, job_type, target (Sidekiq 6's middleware chain
      # passes them as one Hash).
      def initialize(options = {}, **keywords)
        options = options.merge(keywords)
        unknown = options.keys - %i[client job_type target]
        raise ArgumentError, "unknown option(s) #{unknown.join(', ')} (known: client, job_type, target)" unless unknown.empty?

        @client = options[:client]
        @job_type = options[:job_type]
        @target = options[:target]
      end

      def call(worker, job, _queue)
        yield
        report_success(job)
      rescue StandardError => e
        decision = report_failure(job, e)
        raise e if decision.nil?

        e.instance_variable_set(:@retryd_decision, decision) unless e.frozen?
        raise e if decision.retry? || KILL_SUPPORTED || job["retry"] == false

        give_up(worker, job, e, decision)
        # The job is dead: Sidekiq must neither retry it nor handle it again.
        raise ::Sidekiq::JobRetry::Skip
      end

      # The attempt number of this run: Sidekiq's retry_count is unset on
      # the first run, then 0, 1, 2...
      def self.attempt(job)
        job["retry_count"].nil? ? 1 : job["retry_count"].to_i + 2
      end

      private

      def client
        @client || Retryd::Sidekiq.client
      end

      def job_type(job)
        (@job_type || job["wrapped"] || job["class"]).to_s
      end

      def report_failure(job, error)
        client.report_failure(job["jid"], error, job_type: job_type(job), attempt: self.class.attempt(job), target: @target)
      rescue Retryd::Error => e
        ::Sidekiq.logger.warn("retryd: failure of #{job['class']} #{job['jid']} not reported (#{e.message}): Sidekiq's own retries apply")
        nil
      end

      def report_success(job)
        client.report_success(job["jid"], job_type: job_type(job), target: @target)
      rescue Retryd::Error => e
        ::Sidekiq.logger.warn("retryd: success of #{job['class']} #{job['jid']} not reported (#{e.message})")
      end

      # What Sidekiq's JobRetry does when a job's retries are exhausted.
      def give_up(worker, job, exception, decision)
        msg = job.dup
        now = Time.now.to_f
        msg["error_message"] = exception.message.to_s[0, 10_000].dup.force_encoding(Encoding::UTF_8).scrub
        msg["error_class"] = exception.class.name
        if msg["retry_count"]
          msg["retried_at"] = now
          msg["retry_count"] += 1
        else
          msg["failed_at"] = now
          msg["retry_count"] = 0
        end
        msg["retryd_reason"] = decision.reason
        msg["retryd_explanation"] = decision.explanation
        begin
          worker&.sidekiq_retries_exhausted_block&.call(msg, exception)
        rescue StandardError => e
          ::Sidekiq.logger.warn("Error calling retries_exhausted: #{e.class}: #{e.message}")
        end
        unless msg["dead"] == false
          ::Sidekiq.logger.info("Adding dead #{msg['class']} job #{msg['jid']} (retryd: #{decision.reason})")
          ::Sidekiq::DeadSet.new.kill(::Sidekiq.dump_json(msg), notify_failure: false)
        end
        ::Sidekiq.death_handlers.each do |handler|
          handler.call(msg, exception)
        rescue StandardError => e
          ::Sidekiq.logger.warn("Error calling death handler: #{e.class}: #{e.message}")
        end
      end
    end
  end
end
