# frozen_string_literal: true

module Retryd
  VERSION = "0.1.0"
end
