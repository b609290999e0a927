package dev.neomesh.models.bench;

import dev.neomesh.bench.BenchFlags;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.cluster.ClusterDevices;
import dev.neomesh.mesh.cluster.LocalCluster;
import dev.neomesh.mesh.cluster.WorkerJvm;
import dev.neomesh.mesh.lower.Devices;
import dev.neomesh.mesh.lower.LoweringOptions;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.models.cli.GptLanguageModel;
import dev.neomesh.models.cli.Main;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.train.LearningRateSchedule;
import dev.neomesh.models.train.TrainProgram;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.kohsuke.args4j.Option;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.RunMetadata;

/**
 * Data parallel over worker processes: {@code scripts/bench cluster [--cases baby,6l384] [--steps N]
 * [--rounds R] [--bucket_mb MB]}. Per case and round, interleaved: one process pinned to one core
 * (mesh x:1, the whole batch), the same at half the batch (what each worker computes), two such
 * half-batch processes at once on cores 0 and 1 (the bound for any data parallelism here), the half
 * batch on one worker task (the session's own cost), and two worker processes each pinned to its own
 * core (mesh x:2, batch:x, the bench's own process as the client) with one allreduce per gradient
 * and with buckets. Prints median ms/step and tokens/s, the ratio, what the cluster step spends
 * beyond a worker's compute, the bytes each task sent per step as TensorFlow's step statistics
 * record them against the counters' prediction, and what feeding the batch through task 0 costs.
 */
public final class ClusterBench {
  private ClusterBench() {}

  static final class Flags extends BenchFlags {
    @Option(name = "--cases", metaVar = "LIST", usage = "baby (4L/128, 12 x 64) and/or 6l384 (6L/384, 8 x 256)")
    String cases = "baby,6l384";

    @Option(name = "--steps", metaVar = "N", usage = "timed steps per measurement, after 3 warm-up steps")
    int steps = 15;

    @Option(name = "--rounds", metaVar = "R", usage = "interleaved rounds (the median round is reported)")
    int rounds = 3;

    @Option(name = "--bucket_mb", metaVar = "MB", usage = "gradient allreduce buckets of this many MB (0: one per tensor)")
    double bucketMb = LoweringOptions.TRAINING.allreduceBucketBytes() / 1e6;

    @Option(name = "--one_process", metaVar = "CASE:BATCH", usage = "(internal) time one process on this process's cores")
    String oneProcess;
  }

  static GptConfig config(String name, Integer batch) {
    GptConfig cfg = GptConfig.load(Path.of("configs/baby_gpt_shakespeare.json"));
    Map<String, String> o = new LinkedHashMap<>();
    if (name.equals("6l384")) {
      o.putAll(Map.of("n_layer", "6", "n_embd", "384", "n_head", "6", "n_ctx", "256", "train_batch_size", "8",
          "attention_types", "[[[\"global\"], 6]]"));
    } else if (!name.equals("baby")) {
      throw new IllegalArgumentException("unknown case " + name + ": baby or 6l384");
    }
    cfg = cfg.withOverrides(o);
    if (batch != null) {
      cfg = cfg.withOverrides(Map.of("train_batch_size", String.valueOf(batch)));
    }
    return cfg;
  }

  static TrainProgram program(GptConfig cfg) {
    return TrainProgram.build(new GptLanguageModel(cfg), cfg.seed(), cfg.trainBatchSize(), cfg.nCtx(), 1,
        LearningRateSchedule.constant(cfg.lr()), Main.optimizer(cfg));
  }

  /** Median ms per step of {@code program} on {@code rt}. */
  static double time(MeshRuntime rt, TrainProgram program, GptConfig cfg, int steps) {
    Random r = new Random(1);
    int[] tokens = new int[cfg.trainBatchSize() * cfg.nCtx()];
    int[] labels = new int[tokens.length];
    double[] ms = new double[steps];
    for (int s = -3; s < steps; s++) {
      for (int i = 0; i < tokens.length; i++) {
        tokens[i] = r.nextInt(cfg.nVocab());
        labels[i] = r.nextInt(cfg.nVocab());
      }
      long a = System.nanoTime();
      program.runStep(rt, Math.max(s, 0), tokens, labels);
      if (s >= 0) {
        ms[s] = (System.nanoTime() - a) / 1e6;
      }
    }
    Arrays.sort(ms);
    return ms[steps / 2];
  }

  public static void main(String[] args) throws Exception {
    Flags f = BenchFlags.parseOrExit("bench cluster", new Flags(), args);
    if (f.oneProcess != null) { // the pinned one-process measurement, in its own JVM
      String[] cb = f.oneProcess.split(":");
      GptConfig cfg = config(cb[0], Integer.parseInt(cb[1]));
      TrainProgram p = program(cfg);
      try (MeshRuntime rt = MeshRuntime.onVirtualCpus(p.graph(), MeshShape.parse("x:1"), cfg.layoutRules())) {
        rt.initialize();
        System.out.println("ms " + time(rt, p, cfg, f.steps));
      }
      return;
    }
    // this bench's own JVM and class path start the workers and the pinned one-process runs
    WorkerJvm jvm = WorkerJvm.current();
    System.out.printf("%d cores; two workers pinned to cores 0 and 1, one process pinned to core 0%n",
        Runtime.getRuntime().availableProcessors());
    for (String name : f.cases.split(",")) {
      GptConfig whole = config(name, null);
      int batch = whole.trainBatchSize();
      double tokens = (double) batch * whole.nCtx();
      List<double[]> rounds = new ArrayList<>();
      String bytes = "";
      LoweringOptions bucketed = LoweringOptions.DEFAULT.withAllreduceBuckets((long) (f.bucketMb * 1e6));
      GptConfig halfCfg = whole.withOverrides(Map.of("train_batch_size", String.valueOf(batch / 2)));
      GptConfig dp = whole.withOverrides(Map.of("mesh_shape", "x:2", "layout", "batch:x"));
      for (int round = 0; round < f.rounds; round++) {
        double one = pinned(jvm, name, batch, f.steps);
        double half = pinned(jvm, name, batch / 2, f.steps);
        double both = concurrent(jvm, name, batch / 2, f.steps);
        double remote = onCluster(jvm, 1, halfCfg, LoweringOptions.DEFAULT, f.steps, null);
        double perTensor = onCluster(jvm, 2, dp, LoweringOptions.DEFAULT, f.steps, null);
        String[] traced = round == 0 ? new String[1] : null;
        double cluster = onCluster(jvm, 2, dp, bucketed, f.steps, traced);
        if (traced != null) {
          bytes = traced[0] + "\n" + feedCost(jvm, whole, f.steps);
        }
        rounds.add(new double[] {one, half, remote, perTensor, cluster, both});
        System.out.printf(Locale.ROOT, "%s round %d: one process %.1f ms, half batch %.1f ms (%.1f ms with another "
            + "running on the other core), half batch on one worker task %.1f ms, 2 workers %.1f ms (an allreduce per gradient), %.1f ms (%.2g MB buckets)%n", name,
            round + 1, one, half, both, remote, perTensor, cluster, f.bucketMb);
      }
      rounds.sort((x, y) -> Double.compare(x[0] / x[4], y[0] / y[4]));
      double[] m = rounds.get(rounds.size() / 2);
      System.out.printf(Locale.ROOT, "%s (batch %d x %d): one process on one core %.0f tokens/s, two workers %.0f "
          + "tokens/s: x%.2f (median round; x%.2f with an allreduce per gradient; two independent half-batch "
          + "processes at once, the bound for any data parallelism on these cores, x%.2f). Of the cluster's %.1f ms "
          + "step, a worker's compute (half batch, one process) is %.1f ms, %.1f ms while the other core is busy too; "
          + "running it through a worker task's session (feed, RPCs) adds %.1f ms, and the rest, %.1f ms, is the "
          + "gradient allreduce and waiting for the other task%n",
          name, batch, whole.nCtx(), tokens / m[0] * 1000, tokens / m[4] * 1000, m[0] / m[4], m[0] / m[3],
          m[0] / m[5], m[4], m[1], m[5], m[2] - m[1], m[4] - m[2] - (m[5] - m[1]));
      System.out.println(bytes);
    }
  }

  /**
   * Median ms per step of {@code cfg} on {@code tasks} fresh worker processes, each pinned to its own
   * core; when {@code traced} is given, its first element gets the traced step's breakdown and bytes.
   */
  static double onCluster(WorkerJvm jvm, int tasks, GptConfig cfg, LoweringOptions options, int steps,
                          String[] traced) throws Exception {
    TrainProgram p = program(cfg);
    try (LocalCluster workers = LocalCluster.start(jvm, tasks, 1, 1)) {
      Devices d = ClusterDevices.connect(workers.spec());
      try (MeshRuntime rt = MeshRuntime.create(p.graph(), cfg.mesh(), cfg.layoutRules(), d, options)) {
        rt.initialize();
        double ms = time(rt, p, cfg, steps);
        if (traced != null) {
          traced[0] = bytesPerTask(rt, p, cfg);
        }
        return ms;
      }
    }
  }

  /**
   * What feeding the batch through task 0 costs a step, measured on two pinned workers with the
   * training step taken out: a program that imports the batch's ids and labels split over
   * {@code batch:x} and sums each device's rows, against the same program on ids made on the devices
   * (nothing fed). The difference is all that tasks reading their own shards could save.
   */
  static String feedCost(WorkerJvm jvm, GptConfig cfg, int steps) throws Exception {
    int batch = cfg.trainBatchSize();
    int ctx = cfg.nCtx();
    dev.neomesh.mesh.Shape shape = dev.neomesh.mesh.Shape.of(new dev.neomesh.mesh.Dim("batch", batch),
        new dev.neomesh.mesh.Dim("sequence", ctx));
    double[] ms = new double[2];
    try (LocalCluster workers = LocalCluster.start(jvm, 2, 1, 1)) {
      Devices d = ClusterDevices.connect(workers.spec());
      for (int fed = 0; fed < 2; fed++) {
        dev.neomesh.mesh.ir.MeshGraph g = new dev.neomesh.mesh.ir.MeshGraph(1);
        dev.neomesh.mesh.ir.MeshOps m = new dev.neomesh.mesh.ir.MeshOps(g);
        dev.neomesh.mesh.ir.DType i32 = dev.neomesh.mesh.ir.DType.INT32;
        dev.neomesh.mesh.ir.MeshTensor ids = fed == 1 ? m.importTensor("ids", shape, i32) : m.zeros(shape, i32);
        dev.neomesh.mesh.ir.MeshTensor labels = fed == 1 ? m.importTensor("labels", shape, i32) : m.ones(shape, i32);
        dev.neomesh.mesh.ir.MeshTensor sum = m.reduceSum(m.add(ids, labels), "sequence");
        try (MeshRuntime rt = MeshRuntime.create(g, MeshShape.parse("x:2"), dev.neomesh.mesh.LayoutRules.parse("batch:x"),
            d)) {
          double[] t = new double[steps];
          int[] values = new int[batch * ctx];
          for (int s = -3; s < steps; s++) {
            long a = System.nanoTime();
            MeshRuntime.Step step = rt.step().fetch(sum);
            List<org.tensorflow.Tensor> open = new ArrayList<>();
            if (fed == 1) {
              open.add(dev.neomesh.mesh.lower.HostTensors.ofInts(shape, values));
              open.add(dev.neomesh.mesh.lower.HostTensors.ofInts(shape, values));
              step.feed(ids, open.get(0)).feed(labels, open.get(1));
            }
            step.run();
            open.forEach(org.tensorflow.Tensor::close);
            if (s >= 0) {
              t[s] = (System.nanoTime() - a) / 1e6;
            }
          }
          Arrays.sort(t);
          ms[fed] = t[steps / 2];
        }
      }
    }
    return String.format(Locale.ROOT, "feeding the batch (%d x %d ids and labels, %d bytes) through task 0: a step that "
        + "only sums each device's rows takes %.2f ms fed against %.2f ms on ids made on the devices, so feeding costs "
        + "%.2f ms a step", batch, ctx, 2L * batch * ctx * 4, ms[1], ms[0], ms[1] - ms[0]);
  }

  /** Runs the one-process measurement pinned to core 0 in a fresh JVM (a JVM cannot pin itself). */
  static double pinned(WorkerJvm jvm, String name, int batch, int steps) throws Exception {
    return msOf(startPinned(jvm, name, batch, steps, 0));
  }

  /**
   * Two one-process half-batch runs at once, pinned to cores 0 and 1, sharing nothing: the slower
   * one's ms per step. No data-parallel scheme on these two cores can beat this, so it separates
   * what the machine gives two busy cores (shared caches, memory bandwidth, the host's other load)
   * from what the cluster's communication costs.
   */
  static double concurrent(WorkerJvm jvm, String name, int batch, int steps) throws Exception {
    Process a = startPinned(jvm, name, batch, steps, 0);
    Process b = startPinned(jvm, name, batch, steps, 1);
    return Math.max(msOf(a), msOf(b));
  }

  private static Process startPinned(WorkerJvm jvm, String name, int batch, int steps, int core) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("taskset", "-c", String.valueOf(core)));
    cmd.addAll(jvm.command(ClusterBench.class.getName(), List.of("--one_process", name + ":" + batch, "--steps",
        String.valueOf(steps))));
    return new ProcessBuilder(cmd).redirectErrorStream(true).start();
  }

  private static double msOf(Process p) throws Exception {
    String ms = null;
    StringBuilder all = new StringBuilder();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = r.readLine()) != null; ) {
        all.append(line).append('\n');
        if (line.startsWith("ms ")) {
          ms = line.substring(3);
        }
      }
    }
    if (p.waitFor() != 0 || ms == null) {
      throw new IllegalStateException("the one-process run failed:\n" + all);
    }
    return Double.parseDouble(ms);
  }

  /**
   * The bytes each task sent the other in one traced step, from TensorFlow's step statistics: one
   * {@code RecvTensor} RPC per cross-task transfer, labelled {@code [SIZE] [RATE] edge_N_SRC from
   * TASK...}. The label rounds sizes of 1 KB and more ("0.1MB"), so each transfer is sized exactly from
   * its source op's output in the graph (all shapes here are static); the label's figure is the fallback.
   */
  private static final java.util.regex.Pattern RECV = java.util.regex.Pattern.compile(
      "^\\[([0-9.]+)(B|KB|MB|GB)\\] \\[[^]]*\\] edge_\\d+_(\\S+) from /job:[^/]+/replica:\\d+/task:(\\d+)/");

  static long transferBytes(org.tensorflow.Graph g, java.util.regex.Matcher m) {
    org.tensorflow.GraphOperation src = g.operation(m.group(3));
    if (src != null && src.numOutputs() > 0 && !src.output(0).shape().hasUnknownDimension()) {
      org.tensorflow.Output<?> out = src.output(0);
      for (dev.neomesh.mesh.ir.DType t : dev.neomesh.mesh.ir.DType.values()) { // the mesh's own byte widths
        if (t.tfType() == out.type()) {
          return out.shape().size() * t.bytes();
        }
      }
    }
    double unit = switch (m.group(2)) {
      case "B" -> 1;
      case "KB" -> 1e3;
      case "MB" -> 1e6;
      default -> 1e9;
    };
    return Math.round(Double.parseDouble(m.group(1)) * unit);
  }

  /** Adds each cross-task {@code RecvTensor} of {@code md} to its sending task's bytes and transfers. */
  private static void countTransfers(RunMetadata md, org.tensorflow.Graph g, long[] sent, int[] transfers) {
    for (var dev : md.getStepStats().getDevStatsList()) {
      int task = dev.getDevice().contains("task:1") ? 1 : 0;
      for (NodeExecStats n : dev.getNodeStatsList()) {
        // a cross-task transfer is a RecvTensor RPC: "[3072B] [..Mb/s] edge_12_x from /job:worker/.../task:1/... to ..."
        java.util.regex.Matcher m = RECV.matcher(n.getTimelineLabel());
        if (n.getNodeName().equals("RecvTensor") && m.find()) {
          int from = Integer.parseInt(m.group(4));
          if (from != task) {
            sent[from] += transferBytes(g, m);
            transfers[from]++;
          }
        }
      }
    }
  }

  static String bytesPerTask(MeshRuntime rt, TrainProgram p, GptConfig cfg) {
    int[] tokens = new int[cfg.trainBatchSize() * cfg.nCtx()];
    long[] sent = new long[2];
    int[] transfers = new int[2];
    // a traced cluster step's metadata sometimes lacks a task's device stats (2026-12-07: none of task 1's
    // receives, printed as task 0 sending "0 in 0 transfers"), so such a step is traced again
    for (int attempt = 0; attempt < 3 && (transfers[0] == 0 || transfers[1] == 0); attempt++) {
      Arrays.fill(sent, 0);
      Arrays.fill(transfers, 0);
      p.runStep(rt, 5 + attempt, tokens, tokens, true);
      countTransfers(rt.lastRunMetadata(), rt.graph(), sent, transfers);
    }
    long predicted = rt.counters().totalBytes();
    return String.format(Locale.ROOT, "bytes each task sent the other in one step (TensorFlow's RecvTensor stats): "
        + "task 0 %d in %d transfers, task 1 %d in %d; the counters' prediction per device %d (%+.1f%%, %+.1f%%): %s", sent[0], transfers[0],
        sent[1], transfers[1], predicted, 100.0 * (sent[0] - predicted) / predicted, 100.0 * (sent[1] - predicted) / predicted, rt.counters());
  }
}
