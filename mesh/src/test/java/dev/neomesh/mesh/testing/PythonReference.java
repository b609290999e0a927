package dev.neomesh.mesh.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Runs the Python reference scripts of {@code tests/python/} (TensorFlow, PyTorch, HuggingFace
 * transformers) from JUnit tests, so neomesh can be checked against the tools its files must
 * interoperate with.
 *
 * <p>The interpreter is {@code $NEOMESH_PYTHON}, else {@code <repo root>/.venv/bin/python} (the
 * virtual environment {@code .ci/run} makes). When it is missing, or lacks a module a test needs,
 * the test is <em>skipped</em> with a message naming the missing piece and the command that makes
 * it, so {@code mvn test} still passes on a machine without Python; with
 * {@code NEOMESH_REQUIRE_PYTHON} set (as {@code .ci/run} does) the test <em>fails</em> instead, so
 * CI cannot silently stop comparing.
 *
 * <pre>{@code
 * PythonReference py = PythonReference.require("tensorflow");
 * String out = py.run("read_tf_checkpoint.py", Duration.ofMinutes(2), prefix.toString());
 * }</pre>
 */
public final class PythonReference {
  /** Set (to anything) to make a missing interpreter or module a test failure rather than a skip. */
  public static final String REQUIRE_ENV = "NEOMESH_REQUIRE_PYTHON";
  /** The interpreter to use instead of {@code <repo root>/.venv/bin/python}. */
  public static final String PYTHON_ENV = "NEOMESH_PYTHON";

  /** The packages' pins live once, in tests/python/requirements.txt (what .ci/run installs). */
  private static final String MAKE_IT = "run .ci/run (it creates .venv with the pinned packages), or, in the "
      + "repository root: python3 -m venv .venv && .venv/bin/pip install --retries 0 -r tests/python/requirements.txt"
      + "; or point " + PYTHON_ENV + " at an interpreter that has them";

  /** Import checks already done in this JVM (importing TensorFlow takes seconds): interpreter+modules → missing. */
  private static final Map<String, String> CHECKED = new ConcurrentHashMap<>();

  private final Path python;
  private final Path root;

  private PythonReference(Path python, Path root) {
    this.python = python;
    this.root = root;
  }

  /**
   * The interpreter, checked to import every one of {@code modules} (Python names: "tensorflow",
   * "torch", "transformers", ...); skips the calling test (or fails it, under
   * {@value #REQUIRE_ENV}) when it cannot.
   */
  public static PythonReference require(String... modules) {
    Path root = repoRoot();
    if (root == null) {
      unavailable("cannot find the neomesh repository root (a folder with .ci/) above " + Path.of("").toAbsolutePath());
    }
    String env = System.getenv(PYTHON_ENV);
    Path python = env != null && !env.isBlank() ? Path.of(env) : root.resolve(".venv/bin/python");
    if (!Files.isExecutable(python)) {
      unavailable("no Python interpreter at " + python + (env != null && !env.isBlank() ? " (from $" + PYTHON_ENV + ")"
          : "") + ": " + MAKE_IT);
    }
    String key = python + " " + String.join(",", modules);
    String missing = CHECKED.computeIfAbsent(key, k -> missingModules(python, root, modules));
    if (!missing.isEmpty()) {
      unavailable(python + " cannot import " + missing + ": " + MAKE_IT);
    }
    return new PythonReference(python, root);
  }

  /** {@code tests/python/<name>}, where the reference scripts live. */
  public Path script(String name) {
    return root.resolve("tests/python").resolve(name);
  }

  public Path python() {
    return python;
  }

  /**
   * Runs {@code tests/python/<script>} with {@code args} and returns its standard output; fails the
   * test with the script's standard error when it exits non-zero or runs past {@code timeout}.
   */
  public String run(String script, Duration timeout, String... args) {
    List<String> cmd = new ArrayList<>(List.of(python.toString(), script(script).toString()));
    cmd.addAll(Arrays.asList(args));
    Result r = exec(cmd, root, timeout);
    if (r.timedOut) {
      fail("Python reference " + script + " ran past " + timeout.toSeconds() + " s and was stopped: " + cmd
          + "\n--- stderr ---\n" + r.stderr);
    }
    if (r.exit != 0) {
      fail("Python reference " + script + " exited with " + r.exit + ": " + cmd + "\n--- stderr ---\n" + r.stderr);
    }
    return r.stdout;
  }

  /** The directory above the working directory that holds {@code .ci/} (surefire runs in the module's folder). */
  public static Path repoRoot() {
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      if (Files.isDirectory(p.resolve(".ci"))) {
        return p;
      }
    }
    return null;
  }

  // ------------------------------------------------------------------------------------ helpers

  private static void unavailable(String why) {
    if (System.getenv(REQUIRE_ENV) != null) {
      fail("Python reference unavailable and " + REQUIRE_ENV + " is set: " + why);
    }
    Assumptions.abort("skipped, Python reference unavailable: " + why);
  }

  /** The modules the interpreter fails to import, with Python's reason ("" when all import). */
  private static String missingModules(Path python, Path root, String... modules) {
    String check = String.join("\n",
        "import importlib, sys",
        "for m in sys.argv[1:]:",
        "    try:",
        "        importlib.import_module(m)",
        "    except Exception as e:",
        "        print(m + ' (' + type(e).__name__ + ': ' + str(e) + ')')");
    List<String> cmd = new ArrayList<>(List.of(python.toString(), "-c", check));
    cmd.addAll(Arrays.asList(modules));
    Result r = exec(cmd, root, Duration.ofMinutes(3));
    if (r.timedOut || r.exit != 0) {
      return String.join(", ", modules) + " (the import check " + (r.timedOut ? "timed out" : "exited with " + r.exit)
          + ": " + r.stderr.strip() + ")";
    }
    return String.join(", ", r.stdout.strip().lines().toList());
  }

  private record Result(int exit, boolean timedOut, String stdout, String stderr) {}

  /** Runs {@code cmd}; stdout and stderr go to files, so neither pipe can fill up and stall the process. */
  private static Result exec(List<String> cmd, Path dir, Duration timeout) {
    Path out = null;
    Path err = null;
    try {
      out = Files.createTempFile("neomesh-py", ".out");
      err = Files.createTempFile("neomesh-py", ".err");
      ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile())
          .redirectOutput(out.toFile()).redirectError(err.toFile());
      pb.environment().put("TF_CPP_MIN_LOG_LEVEL", "2"); // TensorFlow's start-up chatter off stderr
      pb.environment().put("PYTHONDONTWRITEBYTECODE", "1"); // no __pycache__ in tests/python
      Process p = pb.start();
      boolean done = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
      if (!done) {
        p.destroyForcibly().waitFor();
      }
      return new Result(done ? p.exitValue() : -1, !done, Files.readString(out, StandardCharsets.UTF_8),
          Files.readString(err, StandardCharsets.UTF_8));
    } catch (IOException e) {
      return new Result(-1, false, "", "cannot run " + cmd + ": " + e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new Result(-1, false, "", "interrupted while running " + cmd);
    } finally {
      for (Path f : new Path[] {out, err}) {
        try {
          if (f != null) {
            Files.deleteIfExists(f);
          }
        } catch (IOException ignored) {
          // a leftover temp file is harmless
        }
      }
    }
  }
}
