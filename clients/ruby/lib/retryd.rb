# frozen_string_literal: true

# Client of the retryd sidecar: when a job attempt fails, ask it whether and
# when to retry. See README.md.
module Retryd
end

require_relative "retryd/version"
require_relative "retryd/types"
require_relative "retryd/error_info"
require_relative "retryd/fallback"
require_relative "retryd/client"
