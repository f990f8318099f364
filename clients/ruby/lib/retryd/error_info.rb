# frozen_string_literal: true

require "time"

module Retryd
  # What retryd is told about a failure. ErrorInfo.from_exception makes one
  # from an exception; one made by hand is sent as it is.
  #
  # +retry_after+ is the wait the server named (Retry-After, or a gRPC
  # pushback of 0 or more), in seconds; +pushback_ms+ gRPC's
  # grpc-retry-pushback-ms (a negative one, "do not retry", makes retryd give
  # up, reason "pushback").
  ErrorInfo = Struct.new(
    :type, :message, :http_status, :grpc_code, :retryable, :retry_after, :pushback_ms,
    keyword_init: true
  ) do
    def initialize(type:, message: "", http_status: 0, grpc_code: 0, retryable: nil, retry_after: nil, pushback_ms: nil)
      super
    end

    # What is sent for +error+: its class name ("Errno::ECONNREFUSED",
    # "Net::ReadTimeout", "GRPC::Unavailable"), its message (a gRPC error's
    # details), the HTTP status and Retry-After of its +response+ (a
    # Net::HTTPResponse, as Net::HTTPClientException and Net::HTTPFatalError
    # carry, or a Faraday-style hash), a +http_status+ / +status+ attribute,
    # a GRPC::BadStatus's code and grpc-retry-pushback-ms trailer.
    def self.from_exception(error)
      raise ArgumentError, "error must be an exception or a Retryd::ErrorInfo, got #{error.class}" unless error.is_a?(Exception)

      status, hint = http_of(error)
      code = 0
      pushback = nil
      message = error.message.to_s
      if defined?(::GRPC::BadStatus) && error.is_a?(::GRPC::BadStatus)
        code = error.code.to_i
        message = error.details.to_s
        pushback = pushback_of(error.metadata)
        hint ||= pushback / 1000.0 if pushback && pushback >= 0 && pushback <= MAX_HINT * 1000
      end
      new(type: Retryd.cut(type_name(error), MAX_TYPE), message: Retryd.cut(message, MAX_MESSAGE),
          http_status: status, grpc_code: (0..16).cover?(code) ? code : 0, retry_after: hint, pushback_ms: pushback)
    end

    # What is sent for +response+, a Net::HTTPResponse that failed the
    # attempt: its class name ("Net::HTTPTooManyRequests"), status and
    # Retry-After.
    def self.from_response(response)
      status = valid_status(response.code)
      new(type: response.class.name, message: "#{response.code} #{response.message}".strip,
          http_status: status, retry_after: Retryd.parse_retry_after(header(response, "Retry-After")))
    end

    def self.type_name(error)
      klass = error.class
      klass = klass.superclass while klass.name.nil?
      # Ruby 3.1's net-http names the class of 4xx errors by its deprecated
      # name (Net::HTTPServerException); later versions by the right one.
      klass.name == "Net::HTTPServerException" ? "Net::HTTPClientException" : klass.name
    end

    def self.http_of(error)
      response = error.respond_to?(:response) ? error.response : nil
      if response
        status = valid_status(response.respond_to?(:code) ? response.code : fetch(response, :status))
        status = valid_status(fetch(response, :status)) if status.zero?
        hint = Retryd.parse_retry_after(header(response, "Retry-After"))
        return [status, hint] unless status.zero?
      end
      %i[http_status status].each do |attr|
        next unless error.respond_to?(attr)

        status = valid_status(error.public_send(attr))
        return [status, nil] unless status.zero?
      end
      [0, nil]
    end

    def self.fetch(response, key)
      return response[key] if response.is_a?(Hash)

      response.respond_to?(key) ? response.public_send(key) : nil
    end

    def self.header(response, name)
      if response.is_a?(Hash)
        headers = response[:headers] || response["headers"] || {}
        headers.each { |k, v| return v if k.to_s.casecmp?(name) }
        nil
      elsif response.respond_to?(:[])
        response[name]
      end
    end

    def self.valid_status(value)
      n = Integer(value.to_s, 10)
      (100..599).cover?(n) ? n : 0
    rescue ArgumentError, TypeError
      0
    end

    def self.pushback_of(metadata)
      return nil unless metadata.is_a?(Hash)

      value = metadata["grpc-retry-pushback-ms"]
      value = value.first if value.is_a?(Array)
      Integer(value.to_s.strip, 10)
    rescue ArgumentError, TypeError
      nil
    end

    private_class_method :type_name, :http_of, :fetch, :header, :valid_status, :pushback_of
  end

  # retryd's bounds on what a caller sends (longer is INVALID_ARGUMENT).
  MAX_MESSAGE = 64 * 1024
  MAX_TYPE = 1024
  MAX_ATTEMPT = 10_000_000
  # A Retry-After longer than this is a mistake, not advice: retryd refuses
  # it, so one read from a response is dropped rather than sent.
  MAX_HINT = 366 * 24 * 3600.0

  # +s+ as valid UTF-8, cut to at most +limit+ bytes on a character boundary.
  def self.cut(s, limit)
    s = s.to_s.dup.force_encoding(Encoding::UTF_8)
    s = s.scrub("\uFFFD") unless s.valid_encoding?
    return s if s.bytesize <= limit

    s.byteslice(0, limit).scrub("")
  end

  # Seconds from a Retry-After value: delay-seconds or an HTTP-date (the time
  # left until it; 0 if past). nil for an unreadable one or one over 366 days.
  def self.parse_retry_after(value, now: Time.now)
    return nil if value.nil?

    text = value.to_s.strip
    return nil if text.empty?

    seconds = begin
      Float(text)
    rescue ArgumentError
      begin
        Time.httpdate(text) - now
      rescue ArgumentError
        return nil
      end
    end
    return nil if seconds.nan?

    seconds = 0.0 if seconds.negative?
    seconds <= MAX_HINT ? seconds : nil
  end
end
