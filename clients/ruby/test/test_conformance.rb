# frozen_string_literal: true

# clients/conformance/cases.json: every case the Ruby way, against a live
# retryd started with the table's configuration.

require_relative "helper"
require "json"
require "net/http"
require "openssl"

module Billing
  # The application's own validation error (as ActiveModel::ValidationError).
  class ValidationError < StandardError; end
end

class TestConformance < Minitest::Test
  TABLE_PATH = File.join(Harness::ROOT, "clients", "conformance", "cases.json")
  TABLE = JSON.parse(File.read(TABLE_PATH))

  def client
    @client ||= Retryd::Client.new(Harness.shared_retryd(TABLE["config"]), timeout: 5)
  end

  def teardown
    @client&.close
  end

  def raised
    yield
    flunk "no error was raised"
  rescue StandardError => e
    e
  end

  def provoke(p, via, dir)
    case [p["kind"], via]
    when %w[refused TCPSocket]
      port = Harness.free_port
      raised { TCPSocket.new("127.0.0.1", port) }
    when ["refused", "Net::HTTP"]
      port = Harness.free_port
      raised { Net::HTTP.get_response(URI("http://127.0.0.1:#{port}/")) }
    when %w[reset TCPSocket]
      reset = lambda do |c|
        c.readpartial(64)
        c.setsockopt(Socket::SOL_SOCKET, Socket::SO_LINGER, [1, 0].pack("ii"))
        c.close
      end
      Harness.with_tcp_server(reset) do |port|
        raised do
          TCPSocket.open("127.0.0.1", port) do |s|
            s.write("hello\n")
            s.readpartial(16)
            s.readpartial(16)
          end
        end
      end
    when %w[dns TCPSocket]
      raised { TCPSocket.new(p["host"], 80) }
    when ["timeout", "Net::HTTP"]
      Harness.with_tcp_server do |port|
        raised do
          Net::HTTP.start("127.0.0.1", port, read_timeout: p["after_ms"] / 1000.0) { |h| h.get("/") }
        end
      end
    when %w[tls_untrusted OpenSSL]
      tls = File.join(File.dirname(TABLE_PATH), "tls")
      ctx = OpenSSL::SSL::SSLContext.new
      ctx.cert = OpenSSL::X509::Certificate.new(File.read(File.join(tls, "cert.pem")))
      ctx.key = OpenSSL::PKey.read(File.read(File.join(tls, "key.pem")))
      handshake = lambda do |c|
        ssl = OpenSSL::SSL::SSLSocket.new(c, ctx)
        ssl.accept
      rescue OpenSSL::SSL::SSLError, SystemCallError, IOError
        nil
      end
      Harness.with_tcp_server(handshake) do |port|
        raised do
          sock = TCPSocket.new("127.0.0.1", port)
          client_ctx = OpenSSL::SSL::SSLContext.new
          client_ctx.set_params(verify_mode: OpenSSL::SSL::VERIFY_PEER)
          ssl = OpenSSL::SSL::SSLSocket.new(sock, client_ctx)
          ssl.hostname = "localhost"
          begin
            ssl.connect
          ensure
            sock.close
          end
        end
      end
    when ["http", "Net::HTTP"]
      headers = p["headers"].map { |k, v| "#{k}: #{v}\r\n" }.join
      reason = { 429 => "Too Many Requests", 503 => "Service Unavailable", 404 => "Not Found" }.fetch(p["status"])
      answer = lambda do |c|
        c.readpartial(4096)
        c.write("HTTP/1.1 #{p['status']} #{reason}\r\n#{headers}Content-Length: 0\r\nConnection: close\r\n\r\n")
        c.close
      end
      Harness.with_tcp_server(answer) do |port|
        raised { Net::HTTP.get_response(URI("http://127.0.0.1:#{port}/")).value }
      end
    when %w[grpc grpc]
      grpc_error(p)
    when ["exec_denied", "Process.spawn"]
      script = File.join(dir, "job.sh")
      File.write(script, "#!/bin/sh\nexit 0\n")
      File.chmod(0o600, script)
      raised { Process.wait(Process.spawn(script)) }
    when %w[validation class]
      Billing::ValidationError.new(p["message"])
    when %w[bad_value Integer]
      raised { Integer(p["value"]) }
    else
      flunk "provoke kind #{p['kind']} via #{via}: the Ruby conformance test has no code for it"
    end
  end

  # Messages as raw bytes, so that no generated code of a downstream service is needed.
  module Raw
    def self.encode(bytes) = bytes
    def self.decode(bytes) = bytes
  end

  Orders = Class.new do
    include GRPC::GenericService

    self.service_name = "downstream.v1.Orders"
    self.marshal_class_method = :encode
    self.unmarshal_class_method = :decode
    rpc :Place, Raw, Raw
  end

  # A gRPC server answering every call with the case's code, message and
  # trailers; the client's error.
  def grpc_error(p)
    code = GRPC::Core::StatusCodes.const_get(p["code"])
    handler = Class.new(Orders) do
      define_method(:place) do |_req, _call|
        raise GRPC::BadStatus.new_status_exception(code, p["message"], p["trailers"])
      end
    end
    server = GRPC::RpcServer.new(pool_size: 2)
    port = server.add_http2_port("127.0.0.1:0", :this_port_is_insecure)
    server.handle(handler)
    thread = Thread.new { server.run }
    server.wait_till_running(10)
    stub = GRPC::ClientStub.new("127.0.0.1:#{port}", :this_channel_is_insecure)
    raised do
      stub.request_response("/downstream.v1.Orders/Place", "", Raw.method(:encode), Raw.method(:decode), deadline: Time.now + 5)
    end
  ensure
    server&.stop
    thread&.join(5)
  end

  # assert_equal, nil included.
  def assert_same_value(want, got, msg = nil)
    want.nil? ? assert_nil(got, msg) : assert_equal(want, got, msg)
  end

  def full_match?(pattern, s)
    Regexp.new("\\A(?:#{pattern})\\z", Regexp::MULTILINE).match?(s)
  end

  n = 0
  TABLE["cases"].each do |c|
    ways = c["ruby"].to_a
    ways = [nil] if ways.empty?
    ways.each do |way|
      n += 1
      define_method("test_#{format('%02d', n)}_#{c['id']}_#{way ? way['via'].gsub(/\W+/, '_') : 'none'}") do
        refute_nil way, "case #{c['id']} has no Ruby raising"
        Dir.mktmpdir("retryd-conformance-") do |dir|
          err = provoke(c["provoke"], way["via"], dir)
          want = way["expect"] || c["expect"]

          # What the client sends.
          info = Retryd.error_info(err)
          assert_equal way["type"], info.type
          assert full_match?(way["message"], info.message), "message #{info.message.inspect} does not match /#{way['message']}/"
          assert_equal [way.fetch("http_status", 0), way.fetch("grpc_code", 0)], [info.http_status, info.grpc_code]
          assert_same_value way["retry_after_ms"], info.retry_after && (info.retry_after * 1000).round, "retry_after_ms"
          assert_same_value way["retry_pushback_ms"], info.pushback_ms&.negative? ? info.pushback_ms : nil, "retry_pushback_ms"

          # What retryd decides: explain changes nothing, report_failure the same.
          job = Harness.job_id("conformance-#{c['id']}")
          [client.explain(job, err, attempt: 1), client.report_failure(job, err, attempt: 1)].each do |d|
            assert_equal [want["retry"], want["error_class"], want["category"], want["reason"]],
                         [d.retry?, d.error_class, d.category, d.reason], d.explanation
            assert_equal want["retry_after_ms"], (d.retry_after * 1000).round, d.explanation unless want["retry_after_ms"].nil?
          end

          # What arrived.
          held = client.get_job(job)
          assert_equal way["type"], held.last_error.type
          assert full_match?(way["message"], held.last_error.message), held.last_error.message
          assert_equal [way.fetch("http_status", 0), way.fetch("grpc_code", 0)], [held.last_error.http_status, held.last_error.grpc_code]
        end
      end
    end
  end
end
