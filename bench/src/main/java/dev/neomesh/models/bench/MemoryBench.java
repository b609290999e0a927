package dev.neomesh.models.bench;

import dev.neomesh.bench.BenchFlags;
import dev.neomesh.layout.CostModel;
import dev.neomesh.layout.MachineConstants;
import dev.neomesh.mesh.cluster.ClusterDevices;
import dev.neomesh.mesh.cluster.LocalCluster;
import dev.neomesh.mesh.cluster.WorkerJvm;
import dev.neomesh.mesh.lower.Devices;
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
 * Memory per device of data parallelism against the ZeRO stages, with and without recompute, in
 * the form of DeepSpeed's benchmark: {@code scripts/bench memory [--model
 * configs/bench_memory_activations.json] [--meshes x:4,x:8] [--stages 0,1,2] [--recompute
 * false,true] [--batch N] [--n_ctx N] [--steps 3] [--processes]}. Per mesh (layout {@code batch:x}), stage and
 * recompute_grad, on virtual CPU devices lowered as the trainer lowers: the bytes of parameters
 * and of optimizer slots one device holds (its variables' slices); the peak bytes a training step
 * allocates on a device beyond them (TensorFlow's allocation records of one traced step run one op
 * at a time, or with {@code --processes} on worker processes of one device each, {@code LocalCluster},
 * whose sends do not wait for their receivers either: activations, gradients and temporaries), beside the cost model's estimate of the same
 * peak, and the peak of the activations alone (the buffers the forward pass's ops allocated,
 * recomputed copies included, {@link #traced}); the bytes a device receives (and sends) per step
 * by the collectives' algorithms ({@code Counters#transferredBytesPerDevice}); and the median step
 * time (one mesh's cases held at once, their steps interleaved, so load from elsewhere falls on
 * all alike).
 */
public final class MemoryBench {
  private MemoryBench() {}

  static final class Flags extends BenchFlags {
    @Option(name = "--model", metaVar = "configs/X.json", usage = "the model config")
    String model = "configs/bench_memory_activations.json";

    @Option(name = "--meshes", metaVar = "x:4,x:8", usage = "the meshes (each with layout batch:x)")
    String meshes = "x:4,x:8";

    @Option(name = "--stages", metaVar = "0,1,2", usage = "the zero_stage values")
    String stages = "0,1,2";

    @Option(name = "--recompute", metaVar = "false,true", usage = "the recompute_grad values")
    String recompute = "false,true";

    @Option(name = "--batch", metaVar = "N", usage = "train_batch_size (default: the config's)")
    int batch = 0;

    @Option(name = "--n_ctx", metaVar = "N", usage = "n_ctx, the tokens per row (default: the config's)")
    int nCtx = 0;

    @Option(name = "--steps", metaVar = "N", usage = "timed steps per case, after one warm-up step")
    int steps = 3;

    @Option(name = "--processes", usage = "trace on worker processes of one device each (TensorFlow's default"
        + " threads) instead of virtual CPUs run one op at a time")
    boolean processes;
  }

  record Case(String mesh, int stage, boolean recompute, TrainProgram program, MeshRuntime rt, Traced traced,
      long estimate) {}

  /**
   * Of the traced step: the largest device's peak, the median device's ({@link StepMemory#median}), and
   * the largest device's activations' own peak.
   */
  record Traced(long peak, long medianPeak, long activations) {}

  public static void main(String[] args) throws Exception {
    Flags flags = BenchFlags.parseOrExit("bench memory", new Flags(), args);
    GptConfig base = GptConfig.load(Path.of(flags.model));
    if (flags.batch > 0) {
      base = base.withOverrides(Map.of("train_batch_size", String.valueOf(flags.batch)));
    }
    if (flags.nCtx > 0) {
      base = base.withOverrides(Map.of("n_ctx", String.valueOf(flags.nCtx)));
    }
    System.out.printf("%s: n_layer %d, n_embd %d, n_ctx %d, batch %d; layout batch:x; traced on %s%n", flags.model,
        base.nLayer(), base.nEmbd(), base.nCtx(), base.trainBatchSize(),
        flags.processes ? "worker processes of one device each" : "virtual CPUs, one op at a time");
    // this bench's own JVM and class path start the workers
    WorkerJvm jvm = flags.processes ? WorkerJvm.current() : null;
    System.out.printf("%-5s %-5s %-9s %10s %10s %11s %11s %11s %11s %11s %9s%n", "mesh", "stage", "recompute",
        "params MiB", "slots MiB", "peak MiB", "median MiB", "model MiB", "act. MiB", "moved MiB", "ms/step");
    for (String mesh : flags.meshes.split(",")) {
      List<Case> cases = new ArrayList<>();
      try {
        for (String st : flags.stages.split(",")) {
          for (String rc : flags.recompute.split(",")) {
            cases.add(build(base, mesh, Integer.parseInt(st.trim()), Boolean.parseBoolean(rc.trim()), jvm));
          }
        }
        double[][] times = time(cases, base, flags.steps);
        for (int c = 0; c < cases.size(); c++) {
          Case k = cases.get(c);
          long[] state = stateBytes(k.rt().lowering());
          double[] t = times[c].clone();
          Arrays.sort(t);
          System.out.printf("%-5s %-5d %-9s %10.1f %10.1f %11.1f %11.1f %11.1f %11.1f %11.1f %9.0f%n", k.mesh(),
              k.stage(), k.recompute(), mib(state[0]), mib(state[1]), mib(k.traced().peak()),
              mib(k.traced().medianPeak()), mib(k.estimate()),
              mib(k.traced().activations()), mib(k.rt().counters().transferredBytesPerDevice()), t[t.length / 2]);
        }
      } finally {
        cases.forEach(k -> k.rt().close());
      }
    }
  }

  /** One case, traced on worker processes started with {@code jvm}, or (null) on virtual CPUs one op at a time. */
  private static Case build(GptConfig base, String mesh, int stage, boolean recompute, WorkerJvm jvm) {
    GptConfig cfg = base.withOverrides(Map.of("mesh_shape", mesh, "layout", "batch:x", "zero_stage",
        String.valueOf(stage), "recompute_grad", String.valueOf(recompute)));
    TrainProgram p = TrainProgram.build(new GptLanguageModel(cfg), cfg.seed(), cfg.trainBatchSize(), cfg.nCtx(), 1,
        LearningRateSchedule.constant(cfg.lr()), Main.optimizer(cfg));
    // the timed runtime's session first: TensorFlow makes a process's intra-op pool once, at its first
    // session, and the timed steps should run on Devices.virtualCpus' threads, not the traced session's
    MeshRuntime rt = MeshRuntime.create(p.graph(), cfg.mesh(), cfg.layoutRules(),
        Devices.virtualCpus(cfg.mesh().size()), LoweringOptions.TRAINING);
    rt.initialize();
    Traced traced;
    if (jvm == null) {
      traced = traced(p, cfg, StepMemory.oneOpAtATime(cfg.mesh().size()));
    } else {
      try (LocalCluster workers = LocalCluster.start(jvm, cfg.mesh().size(), 1, 0)) {
        traced = traced(p, cfg, ClusterDevices.connect(workers.spec()));
      }
    }
    long estimate = new CostModel(p.graph(), CostModel.Options.adam(MachineConstants.DEFAULTS).withOptimizerSlots(0)
        .withFetches(List.of(p.loss()))).estimate(cfg.mesh(), cfg.layoutRules()).memory().stepPeak();
    return new Case(mesh, stage, recompute, p, rt, traced, estimate);
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

  /**
   * One traced step on {@code devices} (virtual CPUs run one op at a time, or worker processes): the largest device's peak of its allocations beyond the
   * variables, and of its activations alone ({@link StepMemory#activations}): the buffers (outputs and
   * temporaries) that the TensorFlow ops of the forward pass allocated, read from TensorFlow's
   * allocation records by the mesh op that made them: the ops up to the loss and the blocks' copies
   * that recompute builds for the backward, of those that depend on the batch (not the weights'
   * gathers and casts). Its peak is the most the forward's buffers hold at once, whoever reads them.
   */
  private static Traced traced(TrainProgram program, GptConfig cfg, Devices devices) {
    try (MeshRuntime rt = MeshRuntime.create(program.graph(), cfg.mesh(), cfg.layoutRules(), devices,
        LoweringOptions.TRAINING)) {
      rt.initialize();
      int n = cfg.trainBatchSize() * cfg.nCtx();
      program.runStep(rt, 0, new int[n], new int[n], true);
      long[] peaks = StepMemory.of(rt.lastRunMetadata()).stream().mapToLong(StepMemory.Device::peak).toArray();
      long act = StepMemory.activations(rt.lastRunMetadata(), rt.meshOpsOfNodes(), program.graph(), program.loss())
          .stream().mapToLong(StepMemory.Device::peak).max().orElse(0);
      return new Traced(Arrays.stream(peaks).max().orElse(0), StepMemory.median(peaks), act);
    }
  }

  private static double mib(long bytes) {
    return bytes / (1024.0 * 1024.0);
  }
}
