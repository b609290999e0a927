package dev.neomesh.mesh.demo;

import dev.neomesh.mesh.NeomeshException;
import java.io.PrintStream;
import java.util.Locale;

/**
 * {@code scripts/mesh_demo}: trains {@link MlpDemo} on a mesh and layout given as flags and
 * prints one JSON object per line, {@code {"step":1,"loss":...}} for each step and then
 * {@code {"counters":{...}}}, the collectives of one step with each device's bytes. A mistake in
 * a flag, the mesh shape or the layout prints its message (no stack trace) and exits non-zero.
 */
public final class MeshDemo {
  private MeshDemo() {}

  static final String USAGE = """
      usage: scripts/mesh_demo [--mesh_shape S] [--layout L] [--steps N] [--seed K]
        --mesh_shape S   mesh axes and sizes, e.g. "x:2,y:4" (default "x:1")
        --layout L       layout rules over the dims batch:32, io:16, hidden:64, out:8,
                         e.g. "batch:x,hidden:y" (default "": nothing split)
        --steps N        SGD steps to run, N >= 0 (default 10)
        --seed K         seed of the weights and the data (default 1)""";

  /** A bad command line; the message says which flag and what is expected. */
  static final class FlagException extends NeomeshException {
    FlagException(String message) {
      super(message);
    }
  }

  /** The parsed flags. */
  record Flags(String meshShape, String layout, int steps, long seed, boolean help) {}

  /** Parses {@code --name value} or {@code --name=value} for the four flags (and {@code --help}). */
  static Flags parse(String... args) {
    String mesh = "x:1";
    String layout = "";
    int steps = 10;
    long seed = 1;
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (arg.equals("--help") || arg.equals("-h")) {
        return new Flags(mesh, layout, steps, seed, true);
      }
      if (!arg.startsWith("--")) {
        throw new FlagException("unexpected argument \"" + arg + "\": every argument is a --flag with a value");
      }
      String name = arg.substring(2);
      String value;
      int eq = name.indexOf('=');
      if (eq >= 0) {
        value = name.substring(eq + 1);
        name = name.substring(0, eq);
      } else if (i + 1 < args.length && !args[i + 1].startsWith("--")) {
        value = args[++i];
      } else {
        throw new FlagException("flag --" + name + " needs a value");
      }
      switch (name) {
        case "mesh_shape" -> mesh = value;
        case "layout" -> layout = value;
        case "steps" -> steps = (int) number(name, value, 0, Integer.MAX_VALUE);
        case "seed" -> seed = number(name, value, Long.MIN_VALUE, Long.MAX_VALUE);
        default -> throw new FlagException("unknown flag --" + name
            + ": the flags are --mesh_shape, --layout, --steps and --seed");
      }
    }
    return new Flags(mesh, layout, steps, seed, false);
  }

  private static long number(String flag, String value, long min, long max) {
    try {
      long v = Long.parseLong(value.trim());
      if (v < min || v > max) {
        throw new NumberFormatException();
      }
      return v;
    } catch (NumberFormatException e) {
      throw new FlagException("flag --" + flag + " is \"" + value + "\": expected an integer"
          + (min == 0 ? " >= 0" : ""));
    }
  }

  /** Runs the demo with {@code args}, writing JSON lines to {@code out} and errors to {@code err}; returns the exit code. */
  static int run(String[] args, PrintStream out, PrintStream err) {
    Flags flags;
    try {
      flags = parse(args);
    } catch (FlagException e) {
      err.println("mesh_demo: " + e.getMessage());
      err.println(USAGE);
      return 2;
    }
    if (flags.help()) {
      out.println(USAGE);
      return 0;
    }
    try {
      MlpDemo.Config config = MlpDemo.Config.of(flags.meshShape(), flags.layout(), flags.steps(), flags.seed());
      MlpDemo.Result result = MlpDemo.train(config,
          (step, loss) -> out.println(String.format(Locale.ROOT, "{\"step\":%d,\"loss\":%s}", step, json(loss))));
      out.println("{\"counters\":" + result.counters().toJson() + "}");
      out.flush();
      return 0;
    } catch (NeomeshException e) {
      out.flush();
      err.println("mesh_demo: " + e.getMessage());
      return 1;
    }
  }

  private static String json(double v) {
    return Double.isFinite(v) ? Double.toString(v) : "\"" + v + "\"";
  }

  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }
}
