package dev.retryd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.sun.net.httpserver.HttpServer;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * clients/conformance/cases.json: every case the Java way, against a live retryd started with the
 * table's configuration.
 */
class ConformanceTest {
  /** The application's own validation error, named as Bean Validation names its. */
  static class ValidationException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    ValidationException(String message) {
      super(message);
    }
  }

  private static final Path TABLE = Harness.root().resolve("clients/conformance/cases.json");
  private static Map<String, Object> table;
  private static Harness.Sidecar sidecar;
  private static RetrydClient client;

  @BeforeAll
  @SuppressWarnings("unchecked")
  static void start() throws Exception {
    table = (Map<String, Object>) Json.parse(Files.readString(TABLE));
    sidecar = new Harness.Sidecar((String) table.get("config"), "127.0.0.1:0");
    client = RetrydClient.builder().address(sidecar.address).timeout(Duration.ofSeconds(5)).build();
  }

  @AfterAll
  static void stop() throws Exception {
    if (client != null) {
      client.close();
    }
    if (sidecar != null) {
      sidecar.close();
    }
  }

  /** What a case provoked: an exception, or an HTTP response. */
  private record Provoked(Throwable error, HttpResponse<?> response) {
    ErrorInfo info() {
      return error != null ? ErrorInfo.from(error) : ErrorInfo.from(response);
    }
  }

  @TestFactory
  @SuppressWarnings("unchecked")
  List<DynamicTest> cases() {
    List<DynamicTest> tests = new ArrayList<>();
    for (Object o : (List<Object>) table.get("cases")) {
      Map<String, Object> c = (Map<String, Object>) o;
      List<Object> ways = (List<Object>) c.get("java");
      if (ways == null || ways.isEmpty()) {
        tests.add(DynamicTest.dynamicTest(c.get("id") + "/none",
            () -> fail("case " + c.get("id") + " has no Java raising")));
        continue;
      }
      for (Object w : ways) {
        Map<String, Object> way = (Map<String, Object>) w;
        tests.add(DynamicTest.dynamicTest(c.get("id") + "/" + way.get("via"), () -> check(c, way)));
      }
    }
    return tests;
  }

  @SuppressWarnings("unchecked")
  private static void check(Map<String, Object> c, Map<String, Object> way) throws Exception {
    Map<String, Object> provoke = (Map<String, Object>) c.get("provoke");
    Provoked p = provoke(provoke, (String) way.get("via"));
    Map<String, Object> want = (Map<String, Object>) (way.get("expect") != null ? way.get("expect") : c.get("expect"));

    // What the client sends.
    ErrorInfo info = p.info();
    assertEquals(way.get("type"), info.type());
    assertMatches((String) way.get("message"), info.message());
    assertEquals(number(way, "http_status"), info.httpStatus(), "http_status");
    assertEquals(number(way, "grpc_code"), info.grpcCode(), "grpc_code");
    Long hint = info.retryAfter() == null ? null : info.retryAfter().toMillis();
    assertEquals(way.get("retry_after_ms"), hint, "retry_after_ms");
    Long pushback = info.pushbackMs() != null && info.pushbackMs() < 0 ? info.pushbackMs() : null;
    assertEquals(way.get("retry_pushback_ms"), pushback, "retry_pushback_ms");

    // What retryd decides: Explain changes nothing, ReportFailure the same.
    String job = Harness.jobId("conformance-" + c.get("id"));
    Options first = Options.of().attempt(1);
    for (Decision d : List.of(client.explain(job, info, first), client.reportFailure(job, info, first))) {
      assertEquals(want.get("retry"), d.retry(), d.explanation());
      assertEquals(want.get("error_class"), d.errorClass(), d.explanation());
      assertEquals(want.get("category"), d.category(), d.explanation());
      assertEquals(want.get("reason"), d.reason(), d.explanation());
      if (want.get("retry_after_ms") != null) {
        assertEquals(want.get("retry_after_ms"), d.retryAfter().toMillis(), d.explanation());
      }
    }
    // The blocking and the asynchronous forms send the same.
    if (p.error() != null) {
      Decision viaThrowable = client.explainAsync(job, ErrorInfo.from(p.error()), first).get(5, TimeUnit.SECONDS);
      assertEquals(want.get("category"), viaThrowable.category());
    }

    // What arrived.
    Job held = client.getJob(job).orElseThrow();
    assertEquals(way.get("type"), held.lastError().type());
    assertMatches((String) way.get("message"), held.lastError().message());
    assertEquals(number(way, "http_status"), held.lastError().httpStatus());
    assertEquals(number(way, "grpc_code"), held.lastError().grpcCode());
  }

  private static int number(Map<String, Object> m, String key) {
    Object v = m.get(key);
    return v == null ? 0 : ((Long) v).intValue();
  }

  private static void assertMatches(String pattern, String s) {
    assertTrue(Pattern.compile(pattern, Pattern.DOTALL).matcher(s).matches(),
        "message \"" + s + "\" does not match /" + pattern + "/");
  }

  private static Throwable thrown(ThrowingRunnable r) {
    try {
      r.run();
    } catch (Throwable t) {
      return t;
    }
    throw new AssertionError("no exception was thrown");
  }

  @FunctionalInterface
  private interface ThrowingRunnable {
    void run() throws Exception;
  }

  @SuppressWarnings("unchecked")
  private static Provoked provoke(Map<String, Object> p, String via) throws Exception {
    String kind = (String) p.get("kind");
    switch (kind + "/" + via) {
      case "refused/Socket": {
        String[] addr = Harness.closedPort().split(":");
        return new Provoked(thrown(() -> new Socket(addr[0], Integer.parseInt(addr[1])).close()), null);
      }
      case "refused/HttpClient": {
        String addr = Harness.closedPort();
        return new Provoked(thrown(() -> HttpClient.newHttpClient().send(
            HttpRequest.newBuilder(URI.create("http://" + addr + "/")).build(),
            HttpResponse.BodyHandlers.discarding())), null);
      }
      case "reset/Socket": {
        try (Harness.TcpServer server = Harness.resetServer()) {
          return new Provoked(thrown(() -> {
            try (Socket s = new Socket("127.0.0.1", server.port())) {
              s.getOutputStream().write("hello\n".getBytes());
              s.getInputStream().read();
              s.getInputStream().read();
            }
          }), null);
        }
      }
      case "dns/InetAddress":
        return new Provoked(thrown(() -> InetAddress.getByName((String) p.get("host"))), null);
      case "timeout/Socket":
      case "timeout/HttpClient": {
        int ms = ((Long) p.get("after_ms")).intValue();
        try (Harness.TcpServer server = Harness.blackHole()) {
          if (via.equals("Socket")) {
            return new Provoked(thrown(() -> {
              try (Socket s = new Socket("127.0.0.1", server.port())) {
                s.setSoTimeout(ms);
                s.getInputStream().read();
              }
            }), null);
          }
          return new Provoked(thrown(() -> HttpClient.newHttpClient().send(
              HttpRequest.newBuilder(URI.create("http://" + server.address() + "/"))
                  .timeout(Duration.ofMillis(ms)).build(),
              HttpResponse.BodyHandlers.discarding())), null);
        }
      }
      case "tls_untrusted/SSLSocket": {
        SSLServerSocket server = tlsServer();
        Thread accept = new Thread(() -> {
          try (SSLSocket s = (SSLSocket) server.accept()) {
            s.startHandshake();
          } catch (IOException expected) {
            // the client refuses the certificate
          }
        });
        accept.setDaemon(true);
        accept.start();
        try {
          return new Provoked(thrown(() -> {
            try (SSLSocket s = (SSLSocket) SSLSocketFactory.getDefault().createSocket("127.0.0.1", server.getLocalPort())) {
              s.startHandshake();
            }
          }), null);
        } finally {
          server.close();
          accept.join(5000);
        }
      }
      case "http/HttpClient": {
        int status = ((Long) p.get("status")).intValue();
        Map<String, Object> headers = (Map<String, Object>) p.get("headers");
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", ex -> {
          headers.forEach((k, v) -> ex.getResponseHeaders().set(k, (String) v));
          ex.sendResponseHeaders(status, -1);
          ex.close();
        });
        server.start();
        try {
          HttpResponse<Void> r = HttpClient.newHttpClient().send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/")).build(),
              HttpResponse.BodyHandlers.discarding());
          assertEquals(status, r.statusCode());
          return new Provoked(null, r);
        } finally {
          server.stop(0);
        }
      }
      case "grpc/grpc-java": {
        Map<String, Object> trailers = (Map<String, Object>) p.get("trailers");
        Server server = failingServer(Status.Code.valueOf((String) p.get("code")), (String) p.get("message"), trailers);
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        try {
          Throwable t = thrown(() -> ClientCalls.blockingUnaryCall(channel, PLACE,
              CallOptions.DEFAULT.withDeadlineAfter(5, TimeUnit.SECONDS), new byte[0]));
          return new Provoked(t, null);
        } finally {
          channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
          server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
      }
      case "exec_denied/ProcessBuilder": {
        Path dir = Files.createTempDirectory("retryd-java-exec-");
        Path script = dir.resolve("job.sh");
        Files.writeString(script, "#!/bin/sh\nexit 0\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rw-------"));
        try {
          return new Provoked(thrown(() -> new ProcessBuilder(script.toString()).start().waitFor()), null);
        } finally {
          Files.delete(script);
          Files.delete(dir);
        }
      }
      case "validation/class":
        return new Provoked(new ValidationException((String) p.get("message")), null);
      case "bad_value/Integer.parseInt":
        return new Provoked(thrown(() -> Integer.parseInt((String) p.get("value"))), null);
      default:
        throw new AssertionError("provoke kind " + kind + " via " + via + ": the Java conformance test has no code for it");
    }
  }

  static final MethodDescriptor<byte[], byte[]> PLACE = MethodDescriptor.<byte[], byte[]>newBuilder()
      .setType(MethodDescriptor.MethodType.UNARY)
      .setFullMethodName("downstream.v1.Orders/Place")
      .setRequestMarshaller(new Bytes())
      .setResponseMarshaller(new Bytes())
      .build();

  static final class Bytes implements MethodDescriptor.Marshaller<byte[]> {
    @Override
    public InputStream stream(byte[] value) {
      return new ByteArrayInputStream(value);
    }

    @Override
    public byte[] parse(InputStream stream) {
      try {
        return stream.readAllBytes();
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  /** A gRPC server answering every Place call with code, message and trailers. */
  static Server failingServer(Status.Code code, String message, Map<String, Object> trailers) throws IOException {
    ServerServiceDefinition service = ServerServiceDefinition.builder("downstream.v1.Orders")
        .addMethod(PLACE, (ServerCall<byte[], byte[]> call, Metadata headers) -> {
          Metadata md = new Metadata();
          trailers.forEach((k, v) -> md.put(Metadata.Key.of(k, Metadata.ASCII_STRING_MARSHALLER), (String) v));
          call.close(Status.fromCode(code).withDescription(message), md);
          return new ServerCall.Listener<byte[]>() {};
        })
        .build();
    return NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(service).build().start();
  }

  /** A TLS server socket with the table's self-signed certificate. */
  private static SSLServerSocket tlsServer() throws Exception {
    Path dir = TABLE.getParent().resolve("tls");
    Certificate cert;
    try (InputStream in = Files.newInputStream(dir.resolve("cert.pem"))) {
      cert = CertificateFactory.getInstance("X.509").generateCertificate(in);
    }
    String pem = Files.readString(dir.resolve("key.pem"))
        .replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
    PrivateKey key = KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(pem)));
    KeyStore ks = KeyStore.getInstance("PKCS12");
    ks.load(null, null);
    ks.setKeyEntry("server", key, new char[0], new Certificate[] {cert});
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, new char[0]);
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(kmf.getKeyManagers(), null, null);
    SSLServerSocket s = (SSLServerSocket) ctx.getServerSocketFactory().createServerSocket(0, 16, InetAddress.getByName("127.0.0.1"));
    assertNotNull(s);
    assertFalse(s.isClosed());
    return s;
  }
}
