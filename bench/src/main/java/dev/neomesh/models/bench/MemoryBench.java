package dev.neomesh.models.bench;

import dev.neomesh.bench.BenchFlags;
import dev.neomesh.mesh.lower.Lowering;
import dev.neomesh.mesh.lower.LoweringOptions;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.mesh.lower.StepMemory;
import dev.neomesh.models.cli.GptLanguageModel;
import dev.neomesh.models.cli.Main;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.train.LearningRateSchedule;
import dev.neomesh.models.train.TrainProgram;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.kohsuke.args4j.Option;

/**
 * Memory per device of data parallelism against the ZeRO stages, in the form of DeepSpeed's
 * benchmark: {@code scripts/bench memory [--model configs/bench_memory.json] [--meshes x:4,x:8]
 * [--stages 0,1,2] [--steps 3]}. Per mesh (layout {@code batch:x}) and stage, on virtual CPU devices
 * lowered as the trainer lowers: the bytes of parameters and of optimizer slots one device holds
 * (its variables' slices), the peak bytes a training step allocates on a device beyond them
 * (TensorFlow's allocation records of one traced step run one op at a time: activations, gradients
 * and temporaries), the bytes each device sends per step by the counters, and the median step time
 * (the cases' steps interleaved, so load from elsewhere falls on all alike).
 */
public final class MemoryBench {
  private MemoryBench() {}

  static final class Flags extends BenchFlags {
    @Option(name = "--model", metaVar = "configs/X.json", usage = "the model config")
    String model = "configs/bench_memory.json";

    @Option(name = "--meshes", metaVar = "x:4,x:8", usage = "the meshes (each with layout batch:x)")
    String meshes = "x:4,x:8";

    @Option(name = "--stages", metaVar = "0,1,2", usage = "the zero_stage values")
    String stages = "0,1,2";

    @Option(name = "--steps", metaVar = "N", usage = "timed steps per case, after one warm-up step")
    int steps = 3;
  }

  record Case(String mesh, int stage, TrainProgram program, MeshRuntime rt, long peak) {}

  public static void main(String[] args) throws Exception {
    Flags flags = BenchFlags.parseOrExit("bench memory", new Flags(), args);
    GptConfig base = GptConfig.load(Path.of(flags.model));
    List<Case> cases = new ArrayList<>();
    System.out.printf("%s: n_layer %d, n_embd %d, n_ctx %d, batch %d; layout batch:x%n", flags.model, base.nLayer(),
        base.nEmbd(), base.nCtx(), base.trainBatchSize());
    System.out.printf("%-5s %-5s %12s %12s %14s %14s %12s%n", "mesh", "stage", "params MiB", "slots MiB",
        "step peak MiB", "sent MiB/step", "ms/step");
    try {
      for (String mesh : flags.meshes.split(",")) {
        for (String st : flags.stages.split(",")) {
          GptConfig cfg = base.withOverrides(Map.of("mesh_shape", mesh, "layout", "batch:x", "zero_stage", st.trim()));
          TrainProgram p = TrainProgram.build(new GptLanguageModel(cfg), cfg.seed(), cfg.trainBatchSize(), cfg.nCtx(), 1,
              LearningRateSchedule.constant(cfg.lr()), Main.optimizer(cfg));
          long peak = peakBytes(p, cfg);
          MeshRuntime rt = MeshRuntime.create(p.graph(), cfg.mesh(), cfg.layoutRules(),
              dev.neomesh.mesh.lower.Devices.virtualCpus(cfg.mesh().size()), LoweringOptions.TRAINING);
          rt.initialize();
          cases.add(new Case(mesh, Integer.parseInt(st.trim()), p, rt, peak));
        }
      }
      double[][] times = new double[cases.size()][flags.steps];
      Random r = new Random(1);
      int n = base.trainBatchSize() * base.nCtx();
      int[] tokens = new int[n];
      int[] labels = new int[n];
      for (int s = -1; s < flags.steps; s++) {
        for (int c = 0; c < cases.size(); c++) {
          for (int i = 0; i < n; i++) {
            tokens[i] = r.nextInt(base.nVocab());
            labels[i] = r.nextInt(base.nVocab());
          }
          long t0 = System.nanoTime();
          cases.get(c).program().runStep(cases.get(c).rt(), Math.max(s, 0), tokens, labels);
          if (s >= 0) {
            times[c][s] = (System.nanoTime() - t0) / 1e6;
          }
        }
      }
      for (int c = 0; c < cases.size(); c++) {
        Case k = cases.get(c);
        long[] state = stateBytes(k.rt().lowering());
        double[] t = times[c].clone();
        Arrays.sort(t);
        System.out.printf("%-5s %-5d %12.1f %12.1f %14.1f %14.1f %12.0f%n", k.mesh(), k.stage(), mib(state[0]),
            mib(state[1]), mib(k.peak()), mib(k.rt().counters().totalBytes()), t[t.length / 2]);
      }
    } finally {
      cases.forEach(k -> k.rt().close());
    }
  }

  /** Bytes device 0 holds of trainable variables (parameters) and of the other variables (slots). */
  static long[] stateBytes(Lowering l) {
    long params = 0;
    long slots = 0;
    for (Lowering.LoweredVariable v : l.variables()) {
      long bytes = v.layout().sliceShape().size() * v.variable().output().dtype().bytes();
      if (v.variable().trainable()) {
        params += bytes;
      } else {
        slots += bytes;
      }
    }
    return new long[] {params, slots};
  }

  /** The largest peak over the devices of one traced step, run one op at a time (allocations beyond the variables). */
  private static long peakBytes(TrainProgram program, GptConfig cfg) {
    try (MeshRuntime rt = MeshRuntime.create(program.graph(), cfg.mesh(), cfg.layoutRules(),
        StepMemory.oneOpAtATime(cfg.mesh().size()), LoweringOptions.TRAINING)) {
      rt.initialize();
      int n = cfg.trainBatchSize() * cfg.nCtx();
      program.runStep(rt, 0, new int[n], new int[n], true);
      return StepMemory.of(rt.lastRunMetadata()).stream().mapToLong(StepMemory.Device::peak).max().orElse(0);
    }
  }

  private static double mib(long bytes) {
    return bytes / (1024.0 * 1024.0);
  }
}
