package dev.neomesh.models.bench;

import dev.neomesh.bench.BenchFlags;
import dev.neomesh.layout.Cost;
import dev.neomesh.layout.CostModel;
import dev.neomesh.layout.MachineConstants;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.lower.Devices;
import dev.neomesh.mesh.lower.LoweringOptions;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.mesh.lower.StepMemory;
import dev.neomesh.models.cli.GptLanguageModel;
import dev.neomesh.models.cli.Main;
import dev.neomesh.models.config.AttentionType;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.train.LearningRateSchedule;
import dev.neomesh.models.train.TrainProgram;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.kohsuke.args4j.Option;

/**
 * Times the full training step (forward, backward, clipping, Adam) of a model config on random
 * tokens: {@code scripts/bench gpt-step [--model configs/X.json] [--mesh_shape S --layout L]
 * [--steps N] [--profile [--top N]] [--compare_unfused] [--compare_banded_local] [--op_types]}. Reports ms/step
 * and tokens/s; {@code --profile}
 * adds the TensorFlow ops that take the time (by type, summed over devices, one traced step) and the
 * {@code --top} (15) slowest single ops.
 * {@code --compare_unfused} lowers the same program a second time without the fused kernels
 * ({@link dev.neomesh.mesh.lower.LoweringOptions#UNFUSED}) and alternates steps between the two, so
 * that load from other processes falls on both alike: the paired ratio is what the kernels buy.
 * {@code --compare_banded_local} does the same with local layers blocked (the default) and banded
 * ({@code local_attention_blocked: false}), then measures one step of each, one op at a time, by
 * TensorFlow's allocation records ({@link StepMemory}): the peak bytes live on a device, and the same
 * with every layer's attention off ({@code attention_types: none}), whose difference is attention's part.
 */
public final class GptStepBench {
  private GptStepBench() {}

  /** The flags, with their defaults; {@code --mesh_shape} and {@code --layout} default to the config's. */
  static final class Flags extends BenchFlags {
    @Option(name = "--model", metaVar = "configs/X.json", usage = "the model config")
    String model = "configs/baby_gpt_shakespeare.json";

    @Option(name = "--mesh_shape", metaVar = "S", usage = "override the config's mesh_shape")
    String meshShape;

    @Option(name = "--layout", metaVar = "L", usage = "override the config's layout")
    String layout;

    @Option(name = "--steps", metaVar = "N", usage = "timed steps, after 5 warm-up steps")
    int steps = 30;

    @Option(name = "--profile", usage = "add the TensorFlow op time by type and the slowest ops of one traced step")
    boolean profile;

    @Option(name = "--top", metaVar = "N", usage = "how many slowest ops --profile lists")
    int top = 15;

    @Option(name = "--compare_unfused", usage = "alternate steps with the same program lowered without fused kernels")
    boolean compareUnfused;

    @Option(name = "--compare_banded_local",
        usage = "alternate steps with local layers banded (local_attention_blocked false); peak memory of both")
    boolean compareBandedLocal;

    @Option(name = "--bucket_mb", metaVar = "MB",
        usage = "gradient allreduce buckets of this many MB, as training lowers them (0: one allreduce per gradient)")
    double bucketMb = LoweringOptions.TRAINING.allreduceBucketBytes() / 1e6;

    @Option(name = "--jit", metaVar = "none|device|elementwise", usage = "what of each device's step XLA compiles")
    String jit = "none";

    @Option(name = "--compare_jit", metaVar = "device|elementwise",
        usage = "alternate steps of the program compiled so with the same program without XLA")
    String compareJit;

    @Option(name = "--threads", metaVar = "N", usage = "TensorFlow intra-op threads (0: Devices.virtualCpus's default for the mesh)")
    int threads;

    @Option(name = "--inter_op_threads", metaVar = "N", usage = "TensorFlow inter-op threads (0: Devices.virtualCpus's default for the mesh)")
    int interOpThreads;

    @Option(name = "--op_types", usage = "list the 20 most frequent TensorFlow op types of the lowered graph")
    boolean opTypes;
  }

  public static void main(String[] args) throws Exception {
    Flags flags = BenchFlags.parseOrExit("bench gpt-step", new Flags(), args);
    GptConfig cfg = GptConfig.load(Path.of(flags.model));
    Map<String, String> overrides = new HashMap<>();
    if (flags.meshShape != null) {
      overrides.put("mesh_shape", flags.meshShape);
    }
    if (flags.layout != null) {
      overrides.put("layout", flags.layout);
    }
    cfg = cfg.withOverrides(overrides);
    int steps = flags.steps;
    int batch = cfg.trainBatchSize();
    int nCtx = cfg.nCtx();
    long t0 = System.nanoTime();
    TrainProgram program = program(cfg, true);
    System.out.printf("graph: %d mesh ops%n", program.graph().ops().size());
    Random r = new Random(1);
    int[] tokens = new int[batch * nCtx];
    int[] labels = new int[batch * nCtx];
    if (flags.compareUnfused) {
      compare("fused kernels", program, LoweringOptions.DEFAULT, "without", program(cfg, false),
          LoweringOptions.UNFUSED, cfg, steps, tokens, labels, r);
      return;
    }
    if (flags.compareJit != null) {
      LoweringOptions.Jit jit = LoweringOptions.Jit.parse(flags.compareJit);
      compare("XLA " + jit.name().toLowerCase(java.util.Locale.ROOT), program, LoweringOptions.DEFAULT.withJit(jit),
          "without XLA", program(cfg, true), LoweringOptions.DEFAULT, cfg, steps, tokens, labels, r);
      return;
    }
    if (flags.compareBandedLocal) {
      compareBandedLocal(program, cfg, steps, tokens, labels, r);
      return;
    }
    LoweringOptions options = LoweringOptions.DEFAULT.withJit(LoweringOptions.Jit.parse(flags.jit))
        .withAllreduceBuckets((long) (flags.bucketMb * 1e6));
    Devices devices = Devices.virtualCpus(cfg.mesh().size()).withThreadsWhereGiven(flags.threads, flags.interOpThreads);
    try (MeshRuntime rt = MeshRuntime.create(program.graph(), cfg.mesh(), cfg.layoutRules(), devices, options)) {
      rt.initialize();
      System.out.printf("build + lower + init: %.1f s, %d TensorFlow ops%n", (System.nanoTime() - t0) / 1e9,
          StepProfile.countOps(rt, flags.opTypes));
      double[] times = new double[steps];
      for (int s = -5; s < steps; s++) {
        randomTokens(r, cfg.nVocab(), tokens, labels);
        long a = System.nanoTime();
        program.runStep(rt, Math.max(s, 0), tokens, labels);
        if (s >= 0) {
          times[s] = (System.nanoTime() - a) / 1e6;
        }
      }
      Arrays.sort(times);
      double median = times[steps / 2];
      System.out.printf("mesh %s layout \"%s\": median %.1f ms/step, %.0f tokens/s (batch %d x n_ctx %d; %s)%n",
          cfg.meshShape(), cfg.layout(), median, batch * nCtx / (median / 1000), batch, nCtx, devices.threadsDescription());
      double stepFlops = einsumFlops(program, cfg);
      double peak = MatmulPeak.flopsPerSecond(devices);
      System.out.printf("matmul utilisation: %.3g FLOP a step in einsums (the cost model's count, all devices), %.3g"
          + " FLOP/s; TensorFlow's 2048^3 matmul on these devices and threads %.3g FLOP/s: %.0f%%%n", stepFlops,
          stepFlops / (median / 1000), peak, 100 * stepFlops / (median / 1000) / peak);
      program.runStep(rt, steps + 5, tokens, labels, true);
      StepProfile.executedOps(rt.lastRunMetadata(), flags.opTypes ? 20 : 0);
      if (flags.profile) {
        profile(rt, program, tokens, labels, flags.top);
      }
    }
  }

  /**
   * Alternates steps of program {@code a} lowered with {@code oa} and {@code b} lowered with {@code ob}
   * on the config's mesh; prints both medians (labelled {@code la}, {@code lb}) and the median paired
   * ratio a/b.
   */
  private static void compare(String la, TrainProgram a, LoweringOptions oa, String lb, TrainProgram b,
                              LoweringOptions ob, GptConfig cfg, int steps, int[] tokens, int[] labels, Random r) {
    MeshShape mesh = cfg.mesh();
    LayoutRules rules = cfg.layoutRules();
    try (MeshRuntime ra = MeshRuntime.onVirtualCpus(a.graph(), mesh, rules, oa);
         MeshRuntime rb = MeshRuntime.onVirtualCpus(b.graph(), mesh, rules, ob)) {
      double[] t = alternate(a, ra, b, rb, cfg, steps, tokens, labels, r);
      System.out.printf("%s %.1f ms/step, %s %.1f ms/step (medians of %d alternating steps); median paired ratio"
          + " %.3f%n", la, t[0], lb, t[1], steps, t[2]);
    }
  }

  /**
   * Local layers blocked against banded: alternating step times, then each one's peak memory and
   * attention's part of it (the peak less that of the same model without attention).
   */
  private static void compareBandedLocal(TrainProgram blocked, GptConfig cfg, int steps, int[] tokens, int[] labels,
                                         Random r) {
    if (!cfg.attentionTypes().contains(AttentionType.LOCAL) || !cfg.localAttentionBlocked(cfg.nCtx())) {
      System.out.printf("no blocked local layers to compare (local layers need n_ctx %d a multiple of"
          + " local_attention_radius %d with two blocks or more)%n", cfg.nCtx(), cfg.localAttentionRadius());
      return;
    }
    TrainProgram banded = program(cfg.withOverrides(Map.of("local_attention_blocked", "false")), true);
    compare("local layers blocked", blocked, LoweringOptions.DEFAULT, "banded", banded, LoweringOptions.DEFAULT, cfg,
        steps, tokens, labels, r);
    String none = "[[[\"none\"], " + cfg.nLayer() + "]]";
    long base = peakBytes(program(cfg.withOverrides(Map.of("attention_types", none)), true), cfg, tokens, labels);
    long pa = peakBytes(blocked, cfg, tokens, labels);
    long pb = peakBytes(banded, cfg, tokens, labels);
    System.out.printf("peak bytes live on a device in one step (TensorFlow allocation records, one op at a time):"
        + " blocked %.1f MiB, banded %.1f MiB, without attention %.1f MiB; attention's part blocked %.1f MiB,"
        + " banded %.1f MiB (banded/blocked %.2f)%n", mib(pa), mib(pb), mib(base), mib(pa - base), mib(pb - base),
        (double) (pb - base) / (pa - base));
  }

  /**
   * Steps of two programs in turn (after 5 warm-up pairs), so that load from other processes falls on
   * both alike: {a's median ms, b's median ms, the median paired ratio a/b}.
   */
  private static double[] alternate(TrainProgram pa, MeshRuntime ra, TrainProgram pb, MeshRuntime rb, GptConfig cfg,
                                    int steps, int[] tokens, int[] labels, Random r) {
    ra.initialize();
    rb.initialize();
    double[] a = new double[steps];
    double[] b = new double[steps];
    double[] ratio = new double[steps];
    for (int s = -5; s < steps; s++) {
      randomTokens(r, cfg.nVocab(), tokens, labels);
      long t0 = System.nanoTime();
      pa.runStep(ra, Math.max(s, 0), tokens, labels);
      long t1 = System.nanoTime();
      pb.runStep(rb, Math.max(s, 0), tokens, labels);
      long t2 = System.nanoTime();
      if (s >= 0) {
        a[s] = (t1 - t0) / 1e6;
        b[s] = (t2 - t1) / 1e6;
        ratio[s] = a[s] / b[s];
      }
    }
    Arrays.sort(a);
    Arrays.sort(b);
    Arrays.sort(ratio);
    return new double[] {a[steps / 2], b[steps / 2], ratio[steps / 2]};
  }

  /** The largest peak over the devices of one traced training step, run one op at a time. */
  private static long peakBytes(TrainProgram program, GptConfig cfg, int[] tokens, int[] labels) {
    try (MeshRuntime rt = MeshRuntime.create(program.graph(), cfg.mesh(), cfg.layoutRules(),
        StepMemory.oneOpAtATime(cfg.mesh().size()))) {
      rt.initialize();
      program.runStep(rt, 0, tokens, labels, true);
      return StepMemory.of(rt.lastRunMetadata()).stream().mapToLong(StepMemory.Device::peak).max().orElse(0);
    }
  }

  private static double mib(long bytes) {
    return bytes / (1024.0 * 1024.0);
  }

  /** The step's einsum FLOPs summed over the mesh's devices, as the cost model counts them (what the matmuls do). */
  private static double einsumFlops(TrainProgram program, GptConfig cfg) {
    Cost cost = new CostModel(program.graph(), CostModel.Options.adam(MachineConstants.DEFAULTS)
        .withFetches(List.of(program.loss()))).estimate(cfg.mesh(), cfg.layoutRules());
    return cost.work().flops() * cfg.mesh().size(); // per device; the defaults stretch nothing
  }

  /**
   * The config's training step, the model and optimizer exactly as scripts/neomesh builds them (one
   * microbatch); {@code fused} picks Adam's in-place kernel or its mesh-op form.
   */
  private static TrainProgram program(GptConfig cfg, boolean fused) {
    return TrainProgram.build(new GptLanguageModel(cfg), cfg.seed(), cfg.trainBatchSize(), cfg.nCtx(), 1,
        LearningRateSchedule.constant(cfg.lr()), Main.optimizer(cfg).withFusedAdam(fused));
  }

  private static void randomTokens(Random r, int vocab, int[] tokens, int[] labels) {
    for (int i = 0; i < tokens.length; i++) {
      tokens[i] = r.nextInt(vocab);
      labels[i] = r.nextInt(vocab);
    }
  }

  private static void profile(MeshRuntime rt, TrainProgram program, int[] tokens, int[] labels, int top) {
    program.runStep(rt, 10, tokens, labels, true);
    StepProfile.print(rt.lastRunMetadata(), top);
  }
}
