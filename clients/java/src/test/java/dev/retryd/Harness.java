package dev.retryd;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the tests start, each on a free 127.0.0.1 port, and stop after them: a retryd sidecar
 * ($RETRYD_BIN, default the repository's target/debug/retryd) and plain TCP servers.
 */
final class Harness {
  /** Small delays so that the tests are fast: 4 attempts, 100 ms apart. */
  static final String CONFIG = """
      [policies.default]
      max_attempts = 4
      backoff = { kind = "constant", delay = "100ms" }
      """;
  static final int MAX_ATTEMPTS = 4;
  static final long DELAY_MS = 100;

  /**
   * Delivery's tests: a 300 ms backoff (a reported job is due 300 ms later), five attempts, and a
   * job dead after two unsettled hand-outs in a row.
   */
  static final String DELIVERY_CONFIG = """
      [policies.default]
      max_attempts = 5
      backoff = { kind = "constant", delay = "300ms" }

      [delivery]
      max_deliveries = 2
      """;
  static final long DELIVERY_DELAY_MS = 300;

  private Harness() {}

  /**
   * What delivery's tests run against, made here alone: a memory sidecar with DELIVERY_CONFIG
   * ({@code extra} appended, in its [delivery] table). A fleet variant (sidecars on a Redis
   * Cluster) is a change of this method and of {@link #restart}.
   */
  static Sidecar deliverySidecar(String extra) throws IOException, InterruptedException {
    return new Sidecar(DELIVERY_CONFIG + extra, "127.0.0.1:0");
  }

  /** The sidecar stopped, and one with the same configuration started at its address. */
  static Sidecar restart(Sidecar s, String extra) throws IOException, InterruptedException {
    s.close();
    return new Sidecar(DELIVERY_CONFIG + extra, s.address);
  }

  private static int queues;

  /** A queue no other test uses. */
  static synchronized String queue(String prefix) {
    return prefix + "-" + (++queues);
  }

  /** Waits (at most {@code withinMs}) until {@code cond} holds. */
  static void eventually(long withinMs, String what, java.util.function.BooleanSupplier cond)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(withinMs);
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("not within " + withinMs + " ms: " + what);
      }
      Thread.sleep(20);
    }
  }

  /** The repository's root: the tests run in clients/java. */
  static Path root() {
    Path p = Path.of("").toAbsolutePath();
    while (p != null && !Files.isDirectory(p.resolve("clients").resolve("conformance"))) {
      p = p.getParent();
    }
    if (p == null) {
      throw new IllegalStateException("not inside the retryd repository: " + Path.of("").toAbsolutePath());
    }
    return p;
  }

  /** A retryd sidecar, stopped by close(). */
  static final class Sidecar implements AutoCloseable {
    final String address;
    private final Process process;
    private final Path dir;

    Sidecar(String config, String addr) throws IOException, InterruptedException {
      String env = System.getenv("RETRYD_BIN");
      Path bin = env == null || env.isEmpty() ? root().resolve("target/debug/retryd") : Path.of(env);
      if (!Files.isExecutable(bin)) {
        throw new IllegalStateException("no retryd binary at " + bin + ": run `cargo build`, or set RETRYD_BIN");
      }
      dir = Files.createTempDirectory("retryd-java-");
      Path file = dir.resolve("retryd.toml");
      Files.writeString(file, config);
      Path log = dir.resolve("retryd.log");
      process = new ProcessBuilder(bin.toString(), "--grpc-addr", addr, "--metrics-addr", "127.0.0.1:0",
          "--config", file.toString())
          .redirectErrorStream(true).redirectOutput(log.toFile()).start();
      Pattern serving = Pattern.compile("retryd serving grpc=(\\S+)");
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      String found = null;
      while (found == null) {
        String text = Files.readString(log);
        Matcher m = serving.matcher(text);
        if (m.find()) {
          found = m.group(1);
        } else if (!process.isAlive()) {
          throw new IllegalStateException("retryd exited with " + process.exitValue() + ":\n" + text);
        } else if (System.nanoTime() > deadline) {
          close();
          throw new IllegalStateException("retryd not serving after 30s:\n" + text);
        } else {
          Thread.sleep(50);
        }
      }
      address = found;
    }

    void stop() {
      try {
        if (process.isAlive()) {
          process.destroy(); // SIGTERM
          if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor();
          }
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }

    @Override
    public void close() {
      stop();
      try (var files = Files.walk(dir)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      } catch (IOException ignored) {
        // a temporary directory
      }
    }
  }

  /** A TCP server running handle for each connection, on its own thread; close() stops it. */
  static final class TcpServer implements AutoCloseable {
    final ServerSocket socket;
    private final List<Socket> held = new CopyOnWriteArrayList<>();
    private final Thread thread;

    TcpServer(Consumer<Socket> handle) throws IOException {
      socket = new ServerSocket();
      socket.bind(new InetSocketAddress("127.0.0.1", 0));
      thread = new Thread(() -> {
        while (!socket.isClosed()) {
          try {
            Socket s = socket.accept();
            held.add(s);
            Thread t = new Thread(() -> handle.accept(s));
            t.setDaemon(true);
            t.start();
          } catch (IOException closed) {
            return;
          }
        }
      });
      thread.setDaemon(true);
      thread.start();
    }

    int port() {
      return socket.getLocalPort();
    }

    String address() {
      return "127.0.0.1:" + port();
    }

    @Override
    public void close() throws IOException {
      socket.close();
      for (Socket s : held) {
        s.close();
      }
      try {
        thread.join(5000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** Accepts connections and never answers: a hung server. */
  static TcpServer blackHole() throws IOException {
    return new TcpServer(s -> {});
  }

  /** Reads from each connection, then resets it. */
  static TcpServer resetServer() throws IOException {
    return new TcpServer(s -> {
      try {
        InputStream in = s.getInputStream();
        in.read();
        s.setSoLinger(true, 0);
        s.close();
      } catch (IOException ignored) {
        // the client went away
      }
    });
  }

  /** An address where nothing listens. */
  static String closedPort() throws IOException {
    try (ServerSocket s = new ServerSocket()) {
      s.bind(new InetSocketAddress("127.0.0.1", 0));
      return "127.0.0.1:" + s.getLocalPort();
    }
  }

  private static int jobs;

  static synchronized String jobId(String prefix) {
    jobs++;
    return prefix + "-" + ProcessHandle.current().pid() + "-" + System.nanoTime() + "-" + jobs;
  }
}
