# frozen_string_literal: true

# What the tests start, each on a free 127.0.0.1 port, and stop after them: a
# retryd sidecar ($RETRYD_BIN, default the repository's target/debug/retryd),
# a redis-server from PATH, and plain TCP servers.

$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "minitest/autorun"
require "fileutils"
require "socket"
require "tmpdir"
require "retryd"

module Harness
  ROOT = File.expand_path("../../..", __dir__)
  # Small delays so that the tests are fast: 4 attempts, 100 ms apart.
  CONFIG = <<~TOML
    [policies.default]
    max_attempts = 4
    backoff = { kind = "constant", delay = "100ms" }
  TOML
  MAX_ATTEMPTS = 4
  DELAY = 0.1

  module_function

  def retryd_bin
    bin = ENV.fetch("RETRYD_BIN", "")
    bin = File.join(ROOT, "target", "debug", "retryd") if bin.empty?
    raise "no retryd binary at #{bin}: run `cargo build`, or set RETRYD_BIN" unless File.executable?(bin)

    bin
  end

  # A process with its output in +log+, running until stop.
  class Child
    attr_reader :pid, :log

    def initialize(argv, log, env: {}, dir: nil)
      @log = log
      opts = { in: File::NULL, out: log, err: log }
      opts[:chdir] = dir if dir
      @pid = Process.spawn(env, *argv, **opts)
      @status = nil
    end

    def alive?
      return false if @status

      _, @status = Process.waitpid2(@pid, Process::WNOHANG)
      @status.nil?
    end

    def stop(signal = "TERM")
      return unless alive?

      Process.kill(signal, @pid)
      deadline = Time.now + 10
      sleep 0.05 while alive? && Time.now < deadline
      return unless alive?

      Process.kill("KILL", @pid)
      _, @status = Process.waitpid2(@pid)
    end

    def output
      File.exist?(@log) ? File.read(@log) : ""
    end

    # Waits until the block says so; raises with the log if the process
    # exits first or it takes longer than +timeout+.
    def wait_for(what, timeout = 30)
      deadline = Time.now + timeout
      loop do
        value = yield
        return value if value
        raise "#{what} exited (#{@status.inspect}):\n#{output}" unless alive?
        raise "#{what} not ready after #{timeout}s:\n#{output}" if Time.now > deadline

        sleep 0.05
      end
    end
  end

  # A retryd with +config+ ("" for the built-in policies) on +addr+; its
  # address. Stopped when the block ends.
  def with_retryd(config = CONFIG, addr = "127.0.0.1:0")
    Dir.mktmpdir("retryd-ruby-") do |dir|
      file = File.join(dir, "retryd.toml")
      File.write(file, config)
      child = Child.new([retryd_bin, "--grpc-addr", addr, "--metrics-addr", "127.0.0.1:0", "--config", file],
                        File.join(dir, "retryd.log"))
      begin
        address = child.wait_for("retryd") { child.output[/retryd serving grpc=(\S+)/, 1] }
        yield address, child
      ensure
        child.stop
      end
    end
  end

  def free_port
    s = TCPServer.new("127.0.0.1", 0)
    s.addr[1]
  ensure
    s&.close
  end

  # A redis-server of our own, no persistence; its port.
  def with_redis
    exe = ENV.fetch("PATH", "").split(File::PATH_SEPARATOR).map { |d| File.join(d, "redis-server") }.find { |f| File.executable?(f) }
    raise "redis-server is not on PATH (Debian: apt-get install redis-server)" unless exe

    Dir.mktmpdir("retryd-ruby-redis-") do |dir|
      port = free_port
      child = Child.new([exe, "--port", port.to_s, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
                        File.join(dir, "redis.log"))
      begin
        child.wait_for("redis-server") { pong?(port) }
        yield port
      ensure
        child.stop
      end
    end
  end

  def pong?(port)
    TCPSocket.open("127.0.0.1", port) do |s|
      s.write("PING\r\n")
      s.readpartial(16).start_with?("+PONG")
    end
  rescue SystemCallError, EOFError
    false
  end

  # A TCP server running +handle+ for each connection until the block ends;
  # the block gets its port. No handle: a server that never answers.
  def with_tcp_server(handle = nil)
    server = TCPServer.new("127.0.0.1", 0)
    held = Queue.new
    thread = Thread.new do
      loop do
        conn = server.accept
        held << conn
        Thread.new(conn) { |c| handle&.call(c) }
      end
    rescue IOError, SystemCallError
      nil
    end
    yield server.addr[1]
  ensure
    server&.close
    thread&.join(5)
    until held.nil? || held.empty?
      conn = held.pop
      conn.close unless conn.closed?
    end
  end

  # A retryd with +config+ shared by a test class, started on first use and
  # stopped when the tests end; its address.
  def shared_retryd(config = CONFIG)
    @shared ||= {}
    @shared[config] ||= begin
      ready = Queue.new
      done = Queue.new
      thread = Thread.new do
        with_retryd(config) do |addr|
          ready << addr
          done.pop
        end
      rescue StandardError => e
        ready << e
      end
      addr = ready.pop
      raise addr if addr.is_a?(Exception)

      Minitest.after_run do
        done << true
        thread.join
      end
      addr
    end
  end

  def job_id(prefix = "job")
    "#{prefix}-#{Process.pid}-#{(Time.now.to_f * 1e6).to_i}-#{rand(1_000_000)}"
  end
end
