package dev.neomesh.models.bench;

import dev.neomesh.bench.BenchFlags;
import dev.neomesh.layout.CostModel;
import dev.neomesh.layout.MachineConstants;
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
 * Memory per device of data parallelism against the ZeRO stages, with and without recompute, in the
 * form of DeepSpeed's benchmark: {@code scripts/bench memory [--model configs/bench_memory.json]
 * [--meshes x:4,x:8] [--stages 0,1,2] [--recompute false,true] [--steps 3]}. Per mesh (layout
 * {@code batch:x}), stage and recompute_grad, on virtual CPU devices lowered as the trainer lowers:
 * the bytes of parameters and of optimizer slots one device holds (its variables' slices); the peak
 * bytes a training step allocates on a device beyond them (TensorFlow's allocation records of one
 * traced step run one op at a time: activations, gradients and temporaries), beside the cost model's
 * estimate of the same peak and the peak less one gradient per parameter (a lower bound of what the
 * activations take); the bytes a device receives (and sends) per step by the collectives' algorithms
 * ({@code Counters#transferredBytesPerDevice}); and the median step time
 * (one mesh's cases held at once, their steps interleaved, so load from elsewhere falls on all alike).
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

    @Option(name = "--recompute", metaVar = "false,true", usage = "the recompute_grad values")
    String recompute = "false,true";

    @Option(name = "--steps", metaVar = "N", usage = "timed steps per case, after one warm-up step")
    int steps = 3;
  }

  record Case(String mesh, int stage, boolean recompute, TrainProgram program, MeshRuntime rt, long peak,
      long estimate) {}

  public static void main(String[] args) throws Exception {
    Flags flags = BenchFlags.parseOrExit("bench memory", new Flags(), args);
    GptConfig base = GptConfig.load(Path.of(flags.model));
    System.out.printf("%s: n_layer %d, n_embd %d, n_ctx %d, batch %d; layout batch:x%n", flags.model, base.nLayer(),
        base.nEmbd(), base.nCtx(), base.trainBatchSize());
    System.out.printf("%-5s %-5s %-9s %10s %10s %11s %11s %11s %11s %9s%n", "mesh", "stage", "recompute",
        "params MiB", "slots MiB", "peak MiB", "model MiB", "beyond-grad", "moved MiB", "ms/step");
    for (String mesh : flags.meshes.split(",")) {
      List<Case> cases = new ArrayList<>();
      try {
        for (String st : flags.stages.split(",")) {
          for (String rc : flags.recompute.split(",")) {
            cases.add(build(base, mesh, Integer.parseInt(st.trim()), Boolean.parseBoolean(rc.trim())));
          }
        }
        double[][] times = time(cases, base, flags.steps);
        for (int c = 0; c < cases.size(); c++) {
          Case k = cases.get(c);
          long[] state = stateBytes(k.rt().lowering());
          double[] t = times[c].clone();
          Arrays.sort(t);
          // beyond-grad: the peak less one full gradient per parameter, a lower bound of the activations kept
          System.out.printf("%-5s %-5d %-9s %10.1f %10.1f %11.1f %11.1f %11.1f %11.1f %9.0f%n", k.mesh(), k.stage(),
              k.recompute(), mib(state[0]), mib(state[1]), mib(k.peak()), mib(k.estimate()),
              mib(k.peak() - state[0]), mib(k.rt().counters().transferredBytesPerDevice()), t[t.length / 2]);
        }
      } finally {
        cases.forEach(k -> k.rt().close());
      }
    }
  }

  private static Case build(GptConfig base, String mesh, int stage, boolean recompute) {
    GptConfig cfg = base.withOverrides(Map.of("mesh_shape", mesh, "layout", "batch:x", "zero_stage",
        String.valueOf(stage), "recompute_grad", String.valueOf(recompute)));
    TrainProgram p = TrainProgram.build(new GptLanguageModel(cfg), cfg.seed(), cfg.trainBatchSize(), cfg.nCtx(), 1,
        LearningRateSchedule.constant(cfg.lr()), Main.optimizer(cfg));
    long peak = peakBytes(p, cfg);
    long estimate = new CostModel(p.graph(), CostModel.Options.adam(MachineConstants.DEFAULTS).withOptimizerSlots(0)
        .withFetches(List.of(p.loss()))).estimate(cfg.mesh(), cfg.layoutRules()).memory().stepPeak();
    MeshRuntime rt = MeshRuntime.create(p.graph(), cfg.mesh(), cfg.layoutRules(),
        dev.neomesh.mesh.lower.Devices.virtualCpus(cfg.mesh().size()), LoweringOptions.TRAINING);
    rt.initialize();
    return new Case(mesh, stage, recompute, p, rt, peak, estimate);
  }

  /** ms of each case's steps, after one warm-up step each, the cases' steps interleaved. */
  private static double[][] time(List<Case> cases, GptConfig base, int steps) {
    double[][] times = new double[cases.size()][steps];
    Random r = new Random(1);
    int n = base.trainBatchSize() * base.nCtx();
    int[] tokens = new int[n];
    int[] labels = new int[n];
    for (int s = -1; s < steps; s++) {
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
    return times;
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
