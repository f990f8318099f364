# frozen_string_literal: true

require_relative "lib/retryd/version"

Gem::Specification.new do |s|
  s.name = "retryd"
  s.version = Retryd::VERSION
  s.summary = "Client of the retryd retry-coordinator sidecar, with a Sidekiq integration"
  s.description = "Ask the retryd sidecar whether and when to retry a failed job: a client with a " \
                  "timeout on every call and a local fallback, and Sidekiq middleware whose " \
                  "retries retryd decides."
  s.authors = ["retryd"]
  s.license = "Apache-2.0"
  s.files = Dir["lib/**/*.rb"] + ["README.md", "retryd.gemspec"]
  s.require_paths = ["lib"]
  s.required_ruby_version = ">= 3.1"
  s.add_dependency "google-protobuf", ">= 3.21"
  s.add_dependency "grpc", ">= 1.51"
  # Only for require "retryd/sidekiq".
  s.add_development_dependency "sidekiq", ">= 6.4"
  s.metadata["rubygems_mfa_required"] = "true"
end
