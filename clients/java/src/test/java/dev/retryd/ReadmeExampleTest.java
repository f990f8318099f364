package dev.retryd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The README's example programs, as written, each against a sidecar with the built-in policies. */
class ReadmeExampleTest {
  record Example(String name, String source, String output) {}

  static List<Example> examples() throws Exception {
    String readme = Files.readString(Harness.root().resolve("clients/java/README.md"));
    // Every fenced block in order: a program is a java block with a main class, its output the
    // text block that comes next.
    Matcher m = Pattern.compile("(?s)```(\\w*)\n(.*?)```").matcher(readme);
    List<String[]> blocks = new ArrayList<>();
    while (m.find()) {
      blocks.add(new String[] {m.group(1), m.group(2)});
    }
    Pattern main = Pattern.compile("(?s)^import dev\\.retryd.*public class (\\w+) ");
    List<Example> out = new ArrayList<>();
    for (int i = 0; i + 1 < blocks.size(); i++) {
      Matcher c = main.matcher(blocks.get(i)[1]);
      if (blocks.get(i)[0].equals("java") && c.find() && blocks.get(i + 1)[0].equals("text")) {
        out.add(new Example(c.group(1), blocks.get(i)[1], blocks.get(i + 1)[1]));
      }
    }
    return out;
  }

  @Test
  void theExamplesPrintWhatTheReadmeSays() throws Exception {
    List<Example> examples = examples();
    assertEquals(List.of("Example", "WorkerExample"), examples.stream().map(Example::name).toList(),
        "README.md's example classes followed by their output");
    for (Example e : examples) {
      run(e);
    }
  }

  private static void run(Example e) throws Exception {
    String classPath = System.getenv("RETRYD_JAVA_CLASSPATH");
    assertNotNull(classPath, "RETRYD_JAVA_CLASSPATH (set by clients/java/test) is the client's class path");
    Path dir = Files.createTempDirectory("retryd-java-example-");
    Path source = dir.resolve(e.name() + ".java");
    Files.writeString(source, e.source());
    try (Harness.Sidecar sidecar = new Harness.Sidecar("", "127.0.0.1:0")) {
      // C1 only and the serial collector: a cold JVM on a busy machine otherwise spends the
      // first call's 500 ms timeout on its JIT threads (the program is the README's as written).
      ProcessBuilder pb = new ProcessBuilder("java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
          "-cp", classPath, source.toString());
      pb.environment().put("RETRYD_ADDR", sidecar.address);
      pb.redirectError(dir.resolve("stderr").toFile());
      Process p = pb.start();
      String out = new String(p.getInputStream().readAllBytes());
      boolean finished = p.waitFor(60, TimeUnit.SECONDS);
      if (!finished) {
        p.destroyForcibly().waitFor();
      }
      assertTrue(finished, e.name() + " did not finish");
      assertEquals(0, p.exitValue(), e.name() + ": " + out + Files.readString(dir.resolve("stderr")));
      assertEquals(e.output(), out, e.name());
    } finally {
      Files.deleteIfExists(source);
      Files.deleteIfExists(dir.resolve("stderr"));
      Files.delete(dir);
    }
  }
}
