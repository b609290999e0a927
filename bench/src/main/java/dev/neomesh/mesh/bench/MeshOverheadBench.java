package dev.neomesh.mesh.bench;

import dev.neomesh.bench.BenchFlags;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.demo.MlpDemo;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.kohsuke.args4j.Option;
import org.tensorflow.Graph;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.VarHandleOp;
import org.tensorflow.op.linalg.MatMul;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.RunOptions;
import org.tensorflow.proto.StepStats;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.family.TFloating;

/**
 * {@code scripts/bench mesh-overhead}: what a one-device mesh costs. Builds the demo MLP's
 * training step (teacher forward, student forward and backward, SGD on both weights) twice, (a)
 * through neomesh on mesh {@code x:1} and (b) written directly in TensorFlow Java (MatMul with
 * transpose flags, ReluGrad, resource variables updated with AssignVariableOp), starts both from
 * the same weights, checks they compute the same losses, then times them alternately in this JVM
 * and prints the median per-step times and their ratio. The steps on {@code x:4} and
 * {@code x:2,y:2} are timed too, for information. {@code --profile} adds a per-op-type time
 * breakdown of one traced step of each program, to find what the lowering adds.
 */
public final class MeshOverheadBench {
  private MeshOverheadBench() {}

  record Options(MlpDemo.Sizes sizes, DType dtype, int warmup, int steps, int reps, boolean profile, boolean others) {}

  /** One program that runs a training step on a fixed fed input. */
  interface Stepper extends AutoCloseable {
    double step();

    RunMetadata trace();

    Graph graph();

    @Override
    void close();
  }

  static final double LR = 0.01;

  /** The demo program lowered by neomesh on {@code mesh} under {@code layout}. */
  static final class MeshStepper implements Stepper {
    final MlpDemo.Program program;
    final MeshRuntime runtime;
    final Tensor input;

    MeshStepper(Options o, String mesh, String layout, double[] x) {
      program = MlpDemo.build(o.sizes(), 1, LR, o.dtype());
      runtime = MeshRuntime.onVirtualCpus(program.graph(), MeshShape.parse(mesh), LayoutRules.parse(layout));
      runtime.exported(program.loss());
      runtime.initialize();
      input = HostTensors.of(program.input().shape(), o.dtype(), x);
    }

    /** The initial values of w1, w2, teacher_w1, teacher_w2 (row-major, [io,hidden] / [hidden,out]). */
    List<double[]> weights() {
      MeshRuntime.Step s = runtime.step();
      program.weights().forEach(s::fetch);
      program.teacher().forEach(s::fetch);
      return s.run();
    }

    @Override
    public double step() {
      return runtime.step().feed(program.input(), input).fetch(program.loss()).withUpdates().run().get(0)[0];
    }

    @Override
    public RunMetadata trace() {
      Session.Runner r = runtime.session().runner().feed(runtime.lowering().placeholder(program.input()), input)
          .fetch(runtime.exported(program.loss()));
      runtime.lowering().updates().forEach(r::addTarget);
      try (Result res = r.setOptions(fullTrace()).runAndFetchMetadata()) {
        return res.getMetadata().orElseThrow();
      }
    }

    @Override
    public Graph graph() {
      return runtime.graph();
    }

    @Override
    public void close() {
      input.close();
      runtime.close();
    }
  }

  /** The same step written by hand on TensorFlow Java ops, gradients derived on paper. */
  @SuppressWarnings({"unchecked", "rawtypes"})
  static final class DirectStepper implements Stepper {
    final Graph g = new Graph();
    final Session session;
    final Operand<?> x;
    final Operand<?> loss;
    final List<org.tensorflow.op.Op> updates = new ArrayList<>();
    final Tensor input;

    DirectStepper(Options o, List<double[]> init, double[] xValues) {
      MlpDemo.Sizes s = o.sizes();
      Class<? extends TFloating> t = o.dtype() == DType.FLOAT32 ? TFloat32.class : TFloat64.class;
      Ops tf = Ops.create(g);
      x = tf.withName("x").placeholder(t, Placeholder.shape(org.tensorflow.ndarray.Shape.of(s.batch(), s.io())));
      long[][] shapes = {{s.io(), s.hidden()}, {s.hidden(), s.out()}, {s.io(), s.hidden()}, {s.hidden(), s.out()}};
      String[] names = {"w1", "w2", "teacher_w1", "teacher_w2"};
      Operand[] handles = new Operand[4];
      Operand[] reads = new Operand[4];
      List<org.tensorflow.op.Op> inits = new ArrayList<>();
      List<Tensor> initTensors = new ArrayList<>();
      Session.Runner initRunner;
      session = new Session(g);
      initRunner = session.runner();
      for (int i = 0; i < 4; i++) {
        handles[i] = tf.withName(names[i]).varHandleOp(t, org.tensorflow.ndarray.Shape.of(shapes[i]),
            VarHandleOp.sharedName(names[i]));
        Operand ph = tf.placeholder(t, Placeholder.shape(org.tensorflow.ndarray.Shape.of(shapes[i])));
        inits.add(tf.assignVariableOp(handles[i], ph));
        Tensor v = HostTensors.of(dev.neomesh.mesh.Shape.of(new dev.neomesh.mesh.Dim("a", (int) shapes[i][0]),
            new dev.neomesh.mesh.Dim("b", (int) shapes[i][1])), o.dtype(), init.get(i));
        initTensors.add(v);
        initRunner.feed(ph, v);
        reads[i] = tf.readVariableOp(handles[i], t);
      }
      Operand target = tf.linalg.matMul(tf.math.tanh(tf.linalg.matMul((Operand) x, reads[2])), reads[3]);
      Operand z1 = tf.linalg.matMul((Operand) x, reads[0]);
      Operand h = tf.nn.relu(z1);
      Operand pred = tf.linalg.matMul(h, reads[1]);
      Operand d = tf.math.sub(pred, target);
      double c = 1.0 / ((double) s.batch() * s.out());
      loss = tf.reduceSum(tf.math.mul(tf.math.square(d), scalar(tf, c, o.dtype())), tf.constant(new int[] {0, 1}));
      Operand dp = tf.math.mul(d, scalar(tf, 2 * c, o.dtype()));
      Operand gw2 = tf.linalg.matMul(h, dp, MatMul.transposeA(true));
      Operand dh = tf.linalg.matMul(dp, reads[1], MatMul.transposeB(true));
      Operand dz1 = tf.nn.reluGrad(dh, z1);
      Operand gw1 = tf.linalg.matMul((Operand) x, dz1, MatMul.transposeA(true));
      Operand lr = scalar(tf, LR, o.dtype());
      updates.add(tf.assignVariableOp(handles[0], tf.math.sub(reads[0], tf.math.mul(gw1, lr))));
      updates.add(tf.assignVariableOp(handles[1], tf.math.sub(reads[1], tf.math.mul(gw2, lr))));
      inits.forEach(initRunner::addTarget);
      initRunner.run().close();
      initTensors.forEach(Tensor::close);
      input = HostTensors.of(dev.neomesh.mesh.Shape.of(new dev.neomesh.mesh.Dim("batch", s.batch()),
          new dev.neomesh.mesh.Dim("io", s.io())), o.dtype(), xValues);
    }

    private static Operand scalar(Ops tf, double v, DType dtype) {
      return dtype == DType.FLOAT32 ? tf.constant((float) v) : tf.constant(v);
    }

    private Session.Runner runner() {
      Session.Runner r = session.runner().feed(x, input).fetch(loss);
      updates.forEach(r::addTarget);
      return r;
    }

    @Override
    public double step() {
      try (Result r = runner().run()) {
        return HostTensors.toDoubles(r.get(0))[0];
      }
    }

    @Override
    public RunMetadata trace() {
      try (Result r = runner().setOptions(fullTrace()).runAndFetchMetadata()) {
        return r.getMetadata().orElseThrow();
      }
    }

    @Override
    public Graph graph() {
      return g;
    }

    @Override
    public void close() {
      input.close();
      session.close();
      g.close();
    }
  }

  static RunOptions fullTrace() {
    return RunOptions.newBuilder().setTraceLevel(RunOptions.TraceLevel.FULL_TRACE).build();
  }

  static final int TRACED_STEPS = 5;

  /**
   * Microseconds per op type over {@link #TRACED_STEPS} traced steps (summed over devices); each
   * matmul-like node (Einsum, MatMul, Transpose) also gets its own line, keyed by its equation or
   * transpose flags and its input shapes.
   */
  static Map<String, Long> profile(Stepper s) {
    Map<String, Long> byType = new TreeMap<>();
    for (int i = 0; i < 3; i++) {
      s.step();
    }
    for (int i = 0; i < TRACED_STEPS; i++) {
      StepStats stats = s.trace().getStepStats();
      stats.getDevStatsList().forEach(dev -> {
        for (NodeExecStats n : dev.getNodeStatsList()) {
          GraphOperation op = s.graph().operation(n.getNodeName());
          String type = op == null ? n.getNodeName().replaceAll("_\\d+$", "") : op.type();
          long us = n.getOpEndRelMicros() - n.getOpStartRelMicros();
          byType.merge(type, us, Long::sum);
          if (op != null && (type.equals("Einsum") || type.equals("MatMul") || type.equals("Transpose"))) {
            byType.merge("  " + describe(op), us, Long::sum);
          }
        }
      });
    }
    return byType;
  }

  private static String describe(GraphOperation op) {
    StringBuilder sb = new StringBuilder(op.type());
    switch (op.type()) {
      case "Einsum" -> sb.append(' ').append(op.attributes().getAttrString("equation"));
      case "MatMul" -> sb.append(op.attributes().getAttrBool("transpose_a") ? " T" : " N")
          .append(op.attributes().getAttrBool("transpose_b") ? "T" : "N");
      default -> { }
    }
    for (int i = 0; i < op.numInputs(); i++) {
      if (i < 2) {
        sb.append(' ').append(op.input(i).shape());
      }
    }
    return sb.toString();
  }

  static double median(double[] v) {
    double[] c = v.clone();
    Arrays.sort(c);
    return c.length % 2 == 1 ? c[c.length / 2] : (c[c.length / 2 - 1] + c[c.length / 2]) / 2;
  }

  /** Milliseconds of one step. */
  static double timeStep(Stepper s) {
    long t0 = System.nanoTime();
    s.step();
    return (System.nanoTime() - t0) / 1e6;
  }

  /** Median milliseconds per step over {@code o.steps()} timed steps. */
  static double time(Stepper s, Options o) {
    for (int i = 0; i < o.warmup(); i++) {
      s.step();
    }
    double[] ms = new double[o.steps()];
    for (int i = 0; i < ms.length; i++) {
      ms[i] = timeStep(s);
    }
    return median(ms);
  }

  /**
   * Medians per step of {@code a} and {@code b} over {@code o.steps()} steps each, interleaved step
   * by step so both see the same background load.
   */
  static double[] timePair(Stepper a, Stepper b, Options o, List<Double> pairRatios) {
    for (int i = 0; i < o.warmup(); i++) {
      a.step();
      b.step();
    }
    double[] ta = new double[o.steps()];
    double[] tb = new double[o.steps()];
    for (int i = 0; i < ta.length; i++) {
      if (i % 2 == 0) {
        ta[i] = timeStep(a);
        tb[i] = timeStep(b);
      } else {
        tb[i] = timeStep(b);
        ta[i] = timeStep(a);
      }
      pairRatios.add(ta[i] / tb[i]);
    }
    return new double[] {median(ta), median(tb)};
  }

  /** The flags, with their defaults. */
  static final class Flags extends BenchFlags {
    @Option(name = "--batch", metaVar = "B", usage = "rows of the batch")
    int batch = 1024;

    @Option(name = "--io", metaVar = "I", usage = "input width")
    int io = 256;

    @Option(name = "--hidden", metaVar = "H", usage = "hidden width")
    int hidden = 1024;

    @Option(name = "--out", metaVar = "O", usage = "output width")
    int out = 256;

    @Option(name = "--dtype", metaVar = "float32|float64", usage = "the precision of both programs")
    String dtype = "float32";

    @Option(name = "--warmup", metaVar = "N", usage = "untimed steps before each repetition")
    int warmup = 5;

    @Option(name = "--steps", metaVar = "N", usage = "timed steps per repetition")
    int steps = 20;

    @Option(name = "--reps", metaVar = "N", usage = "repetitions")
    int reps = 7;

    @Option(name = "--profile", usage = "add a per-op-type time breakdown of " + TRACED_STEPS + " traced steps")
    boolean profile;

    @Option(name = "--no_other_meshes", usage = "skip the steps on x:4 and x:2,y:2")
    boolean noOtherMeshes;

    DType dtype() {
      return switch (dtype) {
        case "float32" -> DType.FLOAT32;
        case "float64" -> DType.FLOAT64;
        default -> throw new FlagException("--dtype is \"" + dtype + "\": use float32 or float64");
      };
    }

    @Override
    protected void check() {
      dtype();
    }

    Options options() {
      return new Options(new MlpDemo.Sizes(batch, io, hidden, out), dtype(), warmup, steps, reps, profile,
          !noOtherMeshes);
    }
  }

  public static void main(String[] args) {
    Options o = BenchFlags.parseOrExit("bench mesh-overhead", new Flags(), args).options();
    MlpDemo.Sizes s = o.sizes();
    double[] x = new MlpDemo.Inputs(s, 1).next();
    System.out.printf(Locale.ROOT, "mesh-overhead: MLP batch=%d io=%d hidden=%d out=%d %s, %d warm-up + %d timed"
        + " steps per repetition, %d repetitions, interleaved step by step%n", s.batch(), s.io(), s.hidden(), s.out(),
        o.dtype().name().toLowerCase(), o.warmup(), o.steps(), o.reps());
    try (MeshStepper mesh = new MeshStepper(o, "x:1", "", x);
         DirectStepper direct = new DirectStepper(o, mesh.weights(), x)) {
      double[] lm = {mesh.step(), mesh.step()};
      double[] ld = {direct.step(), direct.step()};
      System.out.printf(Locale.ROOT, "same computation: losses of two steps, neomesh %.6g %.6g, direct %.6g %.6g%n",
          lm[0], lm[1], ld[0], ld[1]);
      double[] tm = new double[o.reps()];
      double[] td = new double[o.reps()];
      List<Double> pairRatios = new ArrayList<>();
      for (int r = 0; r < o.reps(); r++) {
        double[] t = timePair(mesh, direct, o, pairRatios);
        tm[r] = t[0];
        td[r] = t[1];
        System.out.printf(Locale.ROOT, "rep %d: neomesh x:1 %.2f ms/step, direct TF %.2f ms/step, ratio %.3f%n",
            r + 1, tm[r], td[r], tm[r] / td[r]);
      }
      double m = median(tm);
      double d = median(td);
      System.out.printf(Locale.ROOT, "median of repetitions: neomesh x:1 %.2f ms/step, direct TF %.2f ms/step, ratio %.3f (goal <= 1.05)%n",
          m, d, m / d);
      System.out.printf(Locale.ROOT, "median of %d step-by-step paired ratios neomesh/direct: %.3f%n",
          pairRatios.size(), median(pairRatios.stream().mapToDouble(Double::doubleValue).toArray()));
      if (o.profile()) {
        Map<String, Long> pm = profile(mesh);
        Map<String, Long> pd = profile(direct);
        TreeMap<String, Long> all = new TreeMap<>(pm);
        pd.forEach(all::putIfAbsent);
        System.out.println("traced steps, microseconds per op type, summed over " + TRACED_STEPS
            + " steps (neomesh x:1 | direct):");
        all.keySet().stream().sorted((a, b) -> Long.compare(pm.getOrDefault(b, 0L) + pd.getOrDefault(b, 0L),
                pm.getOrDefault(a, 0L) + pd.getOrDefault(a, 0L)))
            .forEach(k -> System.out.printf(Locale.ROOT, "  %-22s %9d | %9d%n", k, pm.getOrDefault(k, 0L),
                pd.getOrDefault(k, 0L)));
        System.out.printf(Locale.ROOT, "  %-22s %9d | %9d%n", "total", pm.values().stream().mapToLong(Long::longValue)
            .sum(), pd.values().stream().mapToLong(Long::longValue).sum());
      }
    }
    if (o.others()) {
      for (String[] ml : new String[][] {{"x:4", "batch:x"}, {"x:2,y:2", "batch:x,hidden:y"}}) {
        try (MeshStepper other = new MeshStepper(o, ml[0], ml[1], x)) {
          double[] t = new double[Math.max(1, o.reps() / 2)];
          for (int r = 0; r < t.length; r++) {
            t[r] = time(other, o);
          }
          System.out.printf(Locale.ROOT, "for information: neomesh %s layout %s %.2f ms/step (virtual CPUs sharing"
              + " this machine's cores)%n", ml[0], ml[1], median(t));
        }
      }
    }
  }
}
