package dev.neomesh.layout;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.neomesh.mesh.lower.Devices;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * Measures the {@link MachineConstants} once on this machine with TensorFlow (matmul FLOP/s,
 * elementwise elements/s, bytes/s and latency of a transfer between two virtual devices, the fixed
 * cost of one op, and the host's cores as the concurrency of virtual devices) and stores them as
 * JSON; {@code scripts/neomesh --calibrate} runs {@link #main}. {@link #load()} reads the file
 * ({@code $NEOMESH_CALIBRATION}, else {@code ~/.neomesh/calibration.json}) and falls back to
 * {@link MachineConstants#DEFAULTS}.
 */
public final class Calibration {
  private Calibration() {}

  private static final ObjectMapper JSON = new ObjectMapper();

  public static Path defaultPath() {
    String env = System.getenv("NEOMESH_CALIBRATION");
    return env != null && !env.isBlank() ? Path.of(env) : Path.of(System.getProperty("user.home"), ".neomesh",
        "calibration.json");
  }

  /** The calibrated constants, or the documented defaults when there is no (readable) calibration file. */
  public static MachineConstants load() {
    return load(defaultPath());
  }

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
          n.path("collective_latency_seconds").asDouble(d.collectiveLatencySeconds()),
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
    n.put("collective_latency_seconds", m.collectiveLatencySeconds());
    n.put("op_overhead_seconds", m.opOverheadSeconds());
    n.put("concurrency", m.concurrency());
    if (path.getParent() != null) {
      Files.createDirectories(path.getParent());
    }
    JSON.writerWithDefaultPrettyPrinter().writeValue(path.toFile(), n);
  }

  /** {@code Calibration [path]}: measures and writes the constants (default path: see {@link #defaultPath()}). */
  public static void main(String[] args) throws IOException {
    Path path = args.length > 0 ? Path.of(args[0]) : defaultPath();
    MachineConstants m = measure();
    save(m, path);
    System.out.printf("matmul %.3g FLOP/s, elementwise %.3g elements/s, transfer %.3g B/s, latency %.3g s,"
        + " op overhead %.3g s, concurrency %d%nwrote %s%n", m.matmulFlopsPerSecond(), m.elementwisePerSecond(),
        m.bytesPerSecond(), m.collectiveLatencySeconds(), m.opOverheadSeconds(), m.concurrency(), path);
  }

  /** Runs the micro-benchmarks (a few seconds) on two virtual CPU devices. */
  public static MachineConstants measure() {
    Devices devices = Devices.virtualCpus(2);
    try (Graph graph = new Graph(); Session session = new Session(graph, devices.config())) {
      Ops root = Ops.create(graph);
      Ops d0 = root.withDevice(devices.specs().get(0));
      Ops d1 = root.withDevice(devices.specs().get(1));
      int n = 512;
      // matmul: a chain of 8 products of n x n matrices
      Operand<TFloat32> a = d0.random.randomStandardNormal(d0.constant(new long[] {n, n}), TFloat32.class);
      Operand<TFloat32> mm = a;
      for (int k = 0; k < 8; k++) {
        mm = d0.math.mul(d0.linalg.matMul(mm, a), d0.constant(1e-3f));
      }
      Operand<TFloat32> mmOut = d0.reduceSum(mm, d0.constant(new int[] {0, 1}));
      double mmSeconds = time(session, mmOut, 5) - 8 * 0; // overhead negligible next to 8 n^3 matmuls
      double matmul = 8 * 2.0 * n * n * n / mmSeconds;
      // elementwise: 32 chained multiply-adds of 1M floats (random operands, so Grappler cannot fold them)
      int len = 1 << 20;
      Operand<TFloat32> v = d0.random.randomUniform(d0.constant(new long[] {len}), TFloat32.class);
      Operand<TFloat32> w = d0.random.randomUniform(d0.constant(new long[] {len}), TFloat32.class);
      Operand<TFloat32> e = v;
      for (int k = 0; k < 16; k++) {
        e = d0.math.add(d0.math.mul(e, w), v);
      }
      double base = time(session, d0.reduceSum(d0.math.add(v, w), d0.constant(new int[] {0})), 5);
      double eSeconds = time(session, d0.reduceSum(e, d0.constant(new int[] {0})), 5) - base;
      double elementwise = 32.0 * len / Math.max(eSeconds, 1e-9);
      // per-op overhead: a chain of 200 scalar sines of a random scalar (nothing to fold)
      Operand<TFloat32> s = d0.random.randomUniform(d0.constant(new long[0]), TFloat32.class);
      for (int k = 0; k < 200; k++) {
        s = d0.math.sin(s);
      }
      double overhead = time(session, s, 20) / 200;
      // transfers: a value bounced between the two devices, small (latency) and 4 MB (bandwidth)
      double latency = bounce(d0, d1, session, 1, 50);
      double big = bounce(d0, d1, session, 1 << 20, 20);
      double bytesPerSecond = 4.0 * (1 << 20) / Math.max(big - latency, 1e-9);
      int cores = Runtime.getRuntime().availableProcessors();
      // the lowering's own costs on 8 virtual devices: one mesh op, and one allreduce step
      double[] mesh = meshCosts(8, cores);
      return new MachineConstants(matmul, elementwise, bytesPerSecond, Math.max(latency, mesh[1]),
          Math.max(overhead, mesh[0]), cores, "measured on " + cores + " cores");
    }
  }

  /**
   * Per device: seconds of one op, and of one step of an allreduce, as neomesh lowers them on
   * {@code n} virtual devices sharing {@code cores} cores (divided by that sharing, as the
   * estimate multiplies it back).
   */
  static double[] meshCosts(int n, int cores) {
    dev.neomesh.mesh.ir.MeshGraph g = new dev.neomesh.mesh.ir.MeshGraph();
    dev.neomesh.mesh.ir.MeshOps m = new dev.neomesh.mesh.ir.MeshOps(g);
    dev.neomesh.mesh.Shape shape = dev.neomesh.mesh.Shape.of(new dev.neomesh.mesh.Dim("a", n * 4));
    dev.neomesh.mesh.ir.MeshTensor x = m.randomUniform(shape, dev.neomesh.mesh.ir.DType.FLOAT32, "c", 0, 1);
    dev.neomesh.mesh.ir.MeshTensor ops = x;
    int k = 100;
    for (int i = 0; i < k; i++) {
      ops = m.sin(ops);
    }
    dev.neomesh.mesh.ir.MeshTensor red = x;
    int r = 30;
    for (int i = 0; i < r; i++) {
      red = m.add(red, m.reduceSum(red, dev.neomesh.mesh.Shape.SCALAR));
    }
    dev.neomesh.mesh.MeshShape mesh = dev.neomesh.mesh.MeshShape.parse("x:" + n);
    double stretch = (double) n / Math.min(n, cores);
    try (dev.neomesh.mesh.lower.MeshRuntime rt = dev.neomesh.mesh.lower.MeshRuntime.onVirtualCpus(g, mesh,
        dev.neomesh.mesh.LayoutRules.parse("a:x"))) {
      double base = time(rt.session(), rt.lowering().get(x).slice(0), 10);
      double opSeconds = (time(rt.session(), rt.lowering().get(ops).slice(0), 10) - base) / k;
      double redSeconds = (time(rt.session(), rt.lowering().get(red).slice(0), 10) - base) / r;
      double step = Math.max(redSeconds - 2 * opSeconds, 0) / (2 * (n - 1));
      return new double[] {opSeconds / stretch, step / stretch};
    }
  }

  /** Seconds per transfer of {@code elements} floats between two devices (a chain of hops, each forcing a copy by adding). */
  private static double bounce(Ops d0, Ops d1, Session session, int elements, int hops) {
    Operand<TFloat32> x = d0.random.randomUniform(d0.constant(new long[] {elements}), TFloat32.class);
    for (int k = 0; k < hops; k++) {
      x = k % 2 == 0 ? d1.math.neg(x) : d0.math.neg(x);
    }
    Operand<TFloat32> out = d0.reduceSum(x, d0.constant(new int[] {0}));
    return time(session, out, 5) / hops;
  }

  /** Median seconds of {@code reps} runs (after one warm-up). */
  private static double time(Session session, Operand<?> fetch, int reps) {
    session.runner().fetch(fetch).run().close();
    List<Double> t = new ArrayList<>();
    for (int r = 0; r < reps; r++) {
      long t0 = System.nanoTime();
      session.runner().fetch(fetch).run().close();
      t.add((System.nanoTime() - t0) / 1e9);
    }
    t.sort(null);
    return t.get(t.size() / 2);
  }
}
