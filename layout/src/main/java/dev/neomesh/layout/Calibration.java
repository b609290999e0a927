package dev.neomesh.layout;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.comm.Comm;
import dev.neomesh.mesh.comm.Reduction;
import dev.neomesh.mesh.lower.Devices;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.MeshImpl;
import dev.neomesh.mesh.lower.PlacementMeshImpl;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.DeviceSpec;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.types.TFloat32;

/**
 * Measures the {@link MachineConstants} once on this machine with TensorFlow (matmul FLOP/s,
 * elementwise elements/s, bytes/s and latency of a transfer between two virtual devices, the fixed
 * cost of one op, and the host's cores as the concurrency of virtual devices) and stores them as
 * JSON; {@code scripts/neomesh --calibrate} runs {@link #main}. {@link #load} reads a file (the
 * CLI decides which: {@code $NEOMESH_CALIBRATION}, else {@code ~/.neomesh/calibration.json}) and
 * falls back to {@link MachineConstants#DEFAULTS}; nothing else in the library reads it. The
 * cross-task figures (transfers between processes of a cluster) need a cluster and are measured
 * separately by {@link #measureCrossTask}; until then they are the documented defaults.
 */
public final class Calibration {
  private Calibration() {}

  private static final ObjectMapper JSON = new ObjectMapper();

  /** The calibrated constants in {@code path}, or the documented defaults when there is no (readable) file. */
  public static MachineConstants load(Path path) {
    if (!Files.isRegularFile(path)) {
      return MachineConstants.DEFAULTS;
    }
    try {
      ObjectNode n = (ObjectNode) JSON.readTree(path.toFile());
      MachineConstants d = MachineConstants.DEFAULTS;
      return new MachineConstants(n.path("matmul_flops_per_second").asDouble(d.matmulFlopsPerSecond()),
          n.path("elementwise_per_second").asDouble(d.elementwisePerSecond()),
          n.path("bytes_per_second").asDouble(d.bytesPerSecond()),
          n.path("transfer_seconds").asDouble(d.transferSeconds()),
          n.path("cross_task_bytes_per_second").asDouble(d.crossTaskBytesPerSecond()),
          n.path("cross_task_transfer_seconds").asDouble(d.crossTaskTransferSeconds()),
          n.path("op_overhead_seconds").asDouble(d.opOverheadSeconds()),
          n.path("concurrency").asInt(d.concurrency()), path.toString());
    } catch (IOException | ClassCastException e) {
      System.err.println("neomesh: cannot read calibration " + path + " (" + e.getMessage() + "); using defaults");
      return MachineConstants.DEFAULTS;
    }
  }

  public static void save(MachineConstants m, Path path) throws IOException {
    ObjectNode n = JSON.createObjectNode();
    n.put("matmul_flops_per_second", m.matmulFlopsPerSecond());
    n.put("elementwise_per_second", m.elementwisePerSecond());
    n.put("bytes_per_second", m.bytesPerSecond());
    n.put("transfer_seconds", m.transferSeconds());
    n.put("cross_task_bytes_per_second", m.crossTaskBytesPerSecond());
    n.put("cross_task_transfer_seconds", m.crossTaskTransferSeconds());
    n.put("op_overhead_seconds", m.opOverheadSeconds());
    n.put("concurrency", m.concurrency());
    if (path.getParent() != null) {
      Files.createDirectories(path.getParent());
    }
    JSON.writerWithDefaultPrettyPrinter().writeValue(path.toFile(), n);
  }

  /** {@code Calibration PATH}: measures and writes the constants to PATH. */
  public static void main(String[] args) throws IOException {
    if (args.length != 1) {
      System.err.println("usage: Calibration PATH (scripts/neomesh --calibrate writes the CLI's default file)");
      System.exit(2);
    }
    Path path = Path.of(args[0]);
    MachineConstants m = measure();
    save(m, path);
    System.out.printf("matmul %.3g FLOP/s, elementwise %.3g elements/s, transfer %.3g B/s, %.3g s per transfer,"
        + " op overhead %.3g s, concurrency %d; cross-task %.3g B/s, %.3g s per transfer (defaults: measured"
        + " only on a cluster)%nwrote %s%n", m.matmulFlopsPerSecond(), m.elementwisePerSecond(), m.bytesPerSecond(),
        m.transferSeconds(), m.opOverheadSeconds(), m.concurrency(), m.crossTaskBytesPerSecond(),
        m.crossTaskTransferSeconds(), path);
  }

  /** Virtual devices the micro-benchmarks run on (the group sizes 2, 4 and 8 of the collectives need 8). */
  static final int DEVICES = 8;

  /**
   * Runs the micro-benchmarks (about half a minute) on {@value #DEVICES} virtual CPU devices
   * sharing this host's cores, with the lowering's own code ({@code PlacementMeshImpl}): per-op
   * cost (a chain of scalar ops on every device), elementwise rate (chains of multiply-adds),
   * matmul rate (chains of products at three sizes), bytes/s between two devices, and the cost of
   * one transfer, fitted to real lowered allreduces (chain and ring), allconcats, alltoalls and
   * shifts over groups of 2, 4 and 8 once their ops, bytes and elements (counted as
   * {@link PlacementMeshImpl#work} counts them) are paid. Rates are per worker: a measured wall
   * time times the workers (min(devices, cores)) is the work.
   */
  public static MachineConstants measure() {
    return measure(true);
  }

  static MachineConstants measure(boolean print) {
    int cores = Runtime.getRuntime().availableProcessors();
    int d = DEVICES;
    double workers = Math.min(d, cores);
    Devices devices = Devices.virtualCpus(d);
    try (Graph graph = new Graph(); Session session = new Session(graph, devices.config())) {
      PlacementMeshImpl x8 = new PlacementMeshImpl(graph, MeshShape.parse("x:8"), devices);
      // per-op cost: a chain of 1000 sine-then-multiply pairs of small tensors on every device (a
      // chain of unary ops alone is fused into one op by Grappler's arithmetic optimizer)
      int k = 2000;
      LaidOutTensor s0 = x8.slicewise((tf, p, in) -> tf.random.randomUniform(tf.constant(new long[] {4}),
          TFloat32.class), List.of());
      LaidOutTensor s = s0;
      for (int i = 0; i < k / 2; i++) {
        s = x8.slicewise((tf, p, in) -> tf.math.mul(tf.math.sin((Operand<TFloat32>) in.get(0)),
            (Operand<TFloat32>) in.get(1)), List.of(s, s0));
      }
      double base = time(session, s0, 30);
      double opSeconds = Math.max((time(session, s, 30) - base) * workers / (k * d), 1e-8);
      // elementwise: 16 chained multiply-adds of 64K floats on every device
      int len = 1 << 16;
      int ke = 16;
      LaidOutTensor v0 = x8.slicewise((tf, p, in) -> tf.random.randomUniform(tf.constant(new long[] {len}),
          TFloat32.class), List.of());
      LaidOutTensor v = v0;
      for (int i = 0; i < ke; i++) {
        v = x8.slicewise((tf, p, in) -> tf.math.add(tf.math.mul((Operand<TFloat32>) in.get(0), tf.constant(0.5f)),
            (Operand<TFloat32>) in.get(1)), List.of(v, v0));
      }
      double eWork = (time(session, v, 10) - time(session, v0, 10)) * workers - 2.0 * ke * d * opSeconds;
      double elementwise = 2.0 * ke * len * d / Math.max(eWork, 1e-9);
      // matmul: 8 chained products of n x n matrices on every device, n = 64, 128, 256
      double flops = 0;
      double mmWork = 0;
      StringBuilder sizes = new StringBuilder();
      for (int n : new int[] {64, 128, 256}) {
        int km = 8;
        LaidOutTensor a = x8.slicewise((tf, p, in) -> tf.math.mul(tf.random.randomUniform(tf.constant(new long[] {n, n}),
            TFloat32.class), tf.constant(2f / n)), List.of());
        LaidOutTensor mm = a;
        for (int i = 0; i < km; i++) {
          mm = x8.slicewise((tf, p, in) -> tf.linalg.matMul((Operand<TFloat32>) in.get(0), (Operand<TFloat32>) in.get(1)),
              List.of(mm, a));
        }
        double w = (time(session, mm, 10) - time(session, a, 10)) * workers - km * d * opSeconds;
        double f = 2.0 * n * n * n * km * d;
        flops += f;
        mmWork += Math.max(w, 1e-9);
        sizes.append(String.format(" %d: %.3g", n, f / Math.max(w, 1e-9)));
      }
      double matmul = flops / mmWork;
      // bytes/s: a value bounced between two devices, small and 4 MB
      Link link = Link.measure(devices, devices.specs().get(0), devices.specs().get(1));
      double bytesPerSecond = link.bytesPerSecond(elementwise);
      // transfers: real lowered collectives over groups of 2, 4 and 8 of the 8 devices
      MachineConstants known = new MachineConstants(matmul, elementwise, bytesPerSecond, 0,
          MachineConstants.DEFAULT_CROSS_TASK_BYTES_PER_SECOND, MachineConstants.DEFAULT_CROSS_TASK_TRANSFER_SECONDS,
          opSeconds, cores, "");
      List<double[]> fits = new ArrayList<>();
      StringBuilder rows = new StringBuilder();
      for (String shape : new String[] {"x:2,y:4", "x:4,y:2", "x:8"}) {
        PlacementMeshImpl impl = new PlacementMeshImpl(graph, MeshShape.parse(shape), devices);
        int n = impl.shape().axisSize(0);
        for (String kind : new String[] {"chain", "ring", "allconcat", "alltoall", "shift"}) {
          long[] sliceShape = switch (kind) {
            case "ring" -> new long[] {1024 * 2};
            case "allconcat", "alltoall" -> new long[] {8, 8};
            default -> new long[] {4};
          };
          int kc = 10;
          LaidOutTensor c0 = impl.slicewise((tf, p, in) -> tf.random.randomUniform(tf.constant(sliceShape),
              TFloat32.class), List.of());
          LaidOutTensor c = c0;
          long elements = 1;
          for (long e : sliceShape) {
            elements *= e;
          }
          long bytes = 4 * elements;
          Comm step = switch (kind) {
            case "chain", "ring" -> new Comm.AllReduce(new int[] {0}, Reduction.SUM, bytes, elements, n);
            case "allconcat" -> new Comm.AllConcat(0, 0, bytes, elements, n);
            case "alltoall" -> new Comm.AllToAll(0, 0, 1, bytes, elements, n);
            default -> new Comm.Shift(0, 1, true, bytes, elements, n);
          };
          Comm back = kind.equals("allconcat") ? new Comm.AllSplit(0, 0, n)
              : kind.equals("alltoall") ? new Comm.AllToAll(0, 1, 0, bytes, elements, n) : null;
          for (int i = 0; i < kc; i++) {
            c = impl.run(step, c);
            if (back != null) {
              c = impl.run(back, c);
            }
          }
          int per = kind.equals("alltoall") ? 2 : 1;
          double extraOps = kind.equals("allconcat") ? 1 : 0;
          double work = (time(session, c, 10) - time(session, c0, 10)) * workers / (kc * d);
          PlacementMeshImpl.Work w = PlacementMeshImpl.work(step);
          double known0 = per * CostModel.collectiveSeconds(known, step) + extraOps * opSeconds;
          fits.add(new double[] {work, known0, per * w.transfers()});
          rows.append(String.format("  %-9s n=%d: %.3g us of work per device, ops/bytes/elements %.3g us, %.3g transfers%n",
              kind, n, 1e6 * work / per, 1e6 * known0 / per, w.transfers()));
        }
      }
      // the cost of one transfer: the median over the collectives of (work - ops, bytes, elements) / transfers
      double[] perTransfer = fits.stream().mapToDouble(f -> (f[0] - f[1]) / f[2]).sorted().toArray();
      double transfer = Math.max(perTransfer[perTransfer.length / 2], 0);
      if (print) {
        System.out.printf("per op %.3g us, elementwise %.3g /s, matmul FLOP/s%s, bytes %.3g /s%n", 1e6 * opSeconds,
            elementwise, sizes, bytesPerSecond);
        System.out.print(rows);
        System.out.printf("fitted transfer %.3g us; model vs measured per collective:%n", 1e6 * transfer);
        for (double[] f : fits) {
          System.out.printf("  %.3g us vs %.3g us%n", 1e6 * (f[1] + f[2] * transfer), 1e6 * f[0]);
        }
      }
      return new MachineConstants(matmul, elementwise, bytesPerSecond, transfer,
          MachineConstants.DEFAULT_CROSS_TASK_BYTES_PER_SECOND, MachineConstants.DEFAULT_CROSS_TASK_TRANSFER_SECONDS,
          opSeconds, cores, "measured on " + cores + " cores");
    }
  }

  /**
   * {@code base} with its cross-task figures measured on a cluster ({@code clusterDevices}, e.g.
   * {@code ClusterDevices.connect(spec)}, task-major with {@code devicesPerTask} devices per task):
   * a value bounced between the first device of task 0 and the first of task 1 over TensorFlow's
   * gRPC runtime, 4 bytes and 4 MB. A small hop, less the op it runs ({@code base}'s op overhead),
   * is the fixed cost of one transfer; the extra time of the big hop, less its elementwise work,
   * gives the bytes/s. {@code base}'s other figures (measured in one process by {@link #measure})
   * are kept. Takes a few seconds.
   */
  public static MachineConstants measureCrossTask(Devices clusterDevices, int devicesPerTask, MachineConstants base) {
    if (devicesPerTask <= 0 || clusterDevices.size() < 2 * devicesPerTask) {
      throw new IllegalArgumentException("measuring cross-task transfers needs two tasks of " + devicesPerTask
          + " devices; the cluster has " + clusterDevices.size() + " devices");
    }
    Link link = Link.measure(clusterDevices, clusterDevices.specs().get(0), clusterDevices.specs().get(devicesPerTask));
    double transfer = Math.max(link.small() - base.opOverheadSeconds(), 1e-7);
    return base.withCrossTask(link.bytesPerSecond(base.elementwisePerSecond()), transfer,
        base.source() + "; cross-task measured over " + clusterDevices.target());
  }

  /**
   * A session on {@code devices} (in this process, or on the cluster their target names) without
   * Grappler: its arithmetic optimizer removes pairs of negations, which would collapse a bounce
   * to no transfer at all.
   */
  private static Session openUnoptimized(Graph graph, Devices devices) {
    ConfigProto config = devices.withoutGraphOptimizer().config();
    return devices.isRemote() ? org.tensorflow.RemoteSessions.connect(graph, devices.target(), config)
        : new Session(graph, config);
  }

  /** Elements of the big value {@link Link} bounces (4 MB of floats). */
  private static final int BIG = 1 << 20;

  /**
   * Seconds of one hop between two devices (a value bounced to and fro, each hop a negation on the
   * receiving device): of one float ({@code small}) and of {@value #BIG} floats ({@code big}).
   * Shared by the in-process and the cross-task calibration, so both measure the same thing.
   */
  record Link(double small, double big) {
    /** Bounces between {@code a} and {@code b} of {@code devices}, in a graph and session of its own. */
    static Link measure(Devices devices, DeviceSpec a, DeviceSpec b) {
      try (Graph graph = new Graph(); Session session = openUnoptimized(graph, devices)) {
        Ops root = Ops.create(graph);
        Ops d0 = root.withDevice(a);
        Ops d1 = root.withDevice(b);
        return new Link(hopSeconds(d0, d1, session, 1, 20, 80), hopSeconds(d0, d1, session, BIG, 4, 16));
      }
    }

    /** Bytes/s of the big hop beyond the small one, less the negation each hop does at {@code elementwise}/s. */
    double bytesPerSecond(double elementwise) {
      double copy = big - small - BIG / elementwise;
      return copy > 0 ? 4.0 * BIG / copy : 1e12;
    }
  }

  /**
   * Seconds per hop of {@code elements} floats between two devices: the difference of a chain of
   * {@code many} and one of {@code few} hops (each forcing a copy by negating), so the fixed cost of
   * a session run cancels.
   */
  private static double hopSeconds(Ops d0, Ops d1, Session session, int elements, int few, int many) {
    Operand<TFloat32> x = d0.random.randomUniform(d0.constant(new long[] {elements}), TFloat32.class);
    Operand<TFloat32> afterFew = null;
    for (int k = 0; k < many; k++) {
      x = k % 2 == 0 ? d1.math.neg(x) : d0.math.neg(x);
      if (k + 1 == few) {
        afterFew = x;
      }
    }
    List<Operand<TFloat32>> fewHops = List.of(d0.reduceSum(afterFew, d0.constant(new int[] {0})));
    List<Operand<TFloat32>> manyHops = List.of(d0.reduceSum(x, d0.constant(new int[] {0})));
    time(session, manyHops, 1); // warms the buffers of every hop, so the first timing of few pays no allocation
    double tFew = time(session, fewHops, 7);
    double tMany = time(session, manyHops, 7);
    return Math.max(tMany - tFew, 0) / (many - few);
  }

  /**
   * Median seconds of {@code reps} runs (after one warm-up) fetching every slice of {@code t}; also
   * what {@code scripts/bench gpt-step}'s matmul peak is timed with.
   */
  public static double time(Session session, LaidOutTensor t, int reps) {
    return time(session, t.slices(), reps);
  }

  /** Median seconds of {@code reps} runs (after one warm-up) fetching {@code fetches}. */
  private static double time(Session session, List<? extends Operand<?>> fetches, int reps) {
    List<Double> t = new ArrayList<>();
    for (int r = 0; r <= reps; r++) {
      Session.Runner runner = session.runner();
      fetches.forEach(runner::fetch);
      long t0 = System.nanoTime();
      runner.run().close();
      if (r > 0) {
        t.add((System.nanoTime() - t0) / 1e9);
      }
    }
    t.sort(null);
    return t.get(t.size() / 2);
  }
}
