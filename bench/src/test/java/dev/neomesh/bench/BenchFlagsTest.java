package dev.neomesh.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.kohsuke.args4j.Argument;
import org.kohsuke.args4j.Option;

/** The shared flag parser: both value syntaxes, defaults, --help, bad flags and {@code check()}. */
class BenchFlagsTest {
  static final class Flags extends BenchFlags {
    @Option(name = "--steps", metaVar = "N", usage = "steps")
    int steps = 10;

    @Option(name = "--layout", metaVar = "L", usage = "layout rules")
    String layout = "";

    @Option(name = "--profile", usage = "profile")
    boolean profile;

    @Argument(index = 0, metaVar = "TEXT", usage = "a file")
    String text = "in.txt";

    @Override
    protected void check() {
      if (steps < 0) {
        throw new FlagException("--steps is " + steps + ": expected N >= 0");
      }
    }
  }

  final ByteArrayOutputStream out = new ByteArrayOutputStream();
  final ByteArrayOutputStream err = new ByteArrayOutputStream();

  OptionalInt parse(Flags flags, String... args) {
    return BenchFlags.parse("bench test", flags, args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  @Test
  void parsesBothSyntaxesAndKeepsDefaults() {
    Flags f = new Flags();
    assertEquals(OptionalInt.empty(), parse(f, "--steps", "3", "--layout=batch:x,hidden:y", "--profile", "a.txt"));
    assertEquals(3, f.steps);
    assertEquals("batch:x,hidden:y", f.layout);
    assertTrue(f.profile);
    assertEquals("a.txt", f.text);
    Flags d = new Flags();
    assertEquals(OptionalInt.empty(), parse(d));
    assertEquals(10, d.steps);
    assertEquals("in.txt", d.text);
    assertEquals("", err.toString(StandardCharsets.UTF_8));
  }

  @Test
  void helpPrintsUsageWithDefaultsAndExitsZero() {
    assertEquals(OptionalInt.of(0), parse(new Flags(), "--help"));
    String usage = out.toString(StandardCharsets.UTF_8);
    assertTrue(usage.startsWith("usage: scripts/bench test [TEXT] [--steps N]"), usage);
    assertTrue(usage.contains("(default: 10)"), usage);
    assertEquals(OptionalInt.of(0), parse(new Flags(), "-h"));
  }

  @Test
  void badFlagsPrintMessageAndUsageAndExitTwo() {
    assertEquals(OptionalInt.of(2), parse(new Flags(), "--stepz", "3"));
    String e = err.toString(StandardCharsets.UTF_8);
    assertTrue(e.startsWith("bench test: \"--stepz\" is not a valid option"), e);
    assertTrue(e.contains("usage: scripts/bench test"), e);
    err.reset();
    assertEquals(OptionalInt.of(2), parse(new Flags(), "--steps", "many"));
    assertTrue(err.toString(StandardCharsets.UTF_8).startsWith("bench test: \"many\" is not a valid value for \"--steps\""),
        err.toString(StandardCharsets.UTF_8));
    err.reset();
    assertEquals(OptionalInt.of(2), parse(new Flags(), "--steps=-1"));
    assertTrue(err.toString(StandardCharsets.UTF_8).startsWith("bench test: --steps is -1: expected N >= 0"),
        err.toString(StandardCharsets.UTF_8));
    err.reset();
    assertEquals(OptionalInt.of(2), parse(new Flags(), "a.txt", "b.txt"));
    assertTrue(err.toString(StandardCharsets.UTF_8).startsWith("bench test: Too many arguments: b.txt"),
        err.toString(StandardCharsets.UTF_8));
  }
}
