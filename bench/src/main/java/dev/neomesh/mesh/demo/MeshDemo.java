package dev.neomesh.mesh.demo;

import dev.neomesh.bench.BenchFlags;
import dev.neomesh.mesh.NeomeshException;
import java.io.PrintStream;
import java.util.Locale;
import java.util.OptionalInt;
import org.kohsuke.args4j.Option;

/**
 * {@code scripts/mesh_demo}: trains {@link MlpDemo} on a mesh and layout given as flags and
 * prints one JSON object per line, {@code {"step":1,"loss":...}} for each step and then
 * {@code {"counters":{...}}}, the collectives of one step with each device's bytes. A mistake in
 * a flag, the mesh shape or the layout prints its message (no stack trace) and exits non-zero.
 */
public final class MeshDemo {
  private MeshDemo() {}

  /** The flags, with their defaults. */
  static final class Flags extends BenchFlags {
    @Option(name = "--mesh_shape", metaVar = "S", usage = "mesh axes and sizes, e.g. \"x:2,y:4\"")
    String meshShape = "x:1";

    @Option(name = "--layout", metaVar = "L", usage = "layout rules over the dims batch:32, io:16, hidden:64, out:8,"
        + " e.g. \"batch:x,hidden:y\"; empty: nothing split")
    String layout = "";

    @Option(name = "--steps", metaVar = "N", usage = "SGD steps to run, N >= 0")
    int steps = 10;

    @Option(name = "--seed", metaVar = "K", usage = "seed of the weights and the data")
    long seed = 1;

    @Override
    protected void check() {
      if (steps < 0) {
        throw new FlagException("flag --steps is \"" + steps + "\": expected an integer >= 0");
      }
    }
  }

  /** Runs the demo with {@code args}, writing JSON lines to {@code out} and errors to {@code err}; returns the exit code. */
  static int run(String[] args, PrintStream out, PrintStream err) {
    Flags flags = new Flags();
    OptionalInt exit = BenchFlags.parse("mesh_demo", flags, args, out, err);
    if (exit.isPresent()) {
      return exit.getAsInt();
    }
    try {
      MlpDemo.Config config = MlpDemo.Config.of(flags.meshShape, flags.layout, flags.steps, flags.seed);
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
