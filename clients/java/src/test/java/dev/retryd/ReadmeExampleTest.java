package dev.retryd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The README's example, as written, against a sidecar with the built-in policies. */
class ReadmeExampleTest {
  @Test
  void theExamplePrintsWhatTheReadmeSays() throws Exception {
    String readme = Files.readString(Harness.root().resolve("clients/java/README.md"));
    Matcher m = Pattern.compile("(?s)```java\n(import dev\\.retryd.*?public class Example .*?)```\\s*\n.*?```text\n(.*?)```")
        .matcher(readme);
    assertTrue(m.find(), "README.md has no Example class followed by its output");
    String classPath = System.getenv("RETRYD_JAVA_CLASSPATH");
    assertNotNull(classPath, "RETRYD_JAVA_CLASSPATH (set by clients/java/test) is the client's class path");
    Path dir = Files.createTempDirectory("retryd-java-example-");
    Path source = dir.resolve("Example.java");
    Files.writeString(source, m.group(1));
    try (Harness.Sidecar sidecar = new Harness.Sidecar("", "127.0.0.1:0")) {
      ProcessBuilder pb = new ProcessBuilder("java", "-cp", classPath, source.toString());
      pb.environment().put("RETRYD_ADDR", sidecar.address);
      pb.redirectError(dir.resolve("stderr").toFile());
      Process p = pb.start();
      String out = new String(p.getInputStream().readAllBytes());
      assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the example did not finish");
      assertEquals(0, p.exitValue(), out + Files.readString(dir.resolve("stderr")));
      assertEquals(m.group(2), out);
    } finally {
      Files.deleteIfExists(source);
      Files.deleteIfExists(dir.resolve("stderr"));
      Files.delete(dir);
    }
  }
}
