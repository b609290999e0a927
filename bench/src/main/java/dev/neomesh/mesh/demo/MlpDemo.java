package dev.neomesh.mesh.demo;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.Gradients;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.Counters;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.BiConsumer;
import org.tensorflow.Tensor;

/**
 * The compiler's end-to-end demonstration: a two-layer MLP written on named dims
 * ({@code batch}, {@code io}, {@code hidden}, {@code out}) learns to imitate a fixed random
 * "teacher" MLP by plain SGD. The program never mentions a device; the mesh shape and layout
 * rules are given at run time, and since the weights come from layout-invariant random ops and
 * the inputs from a seeded host generator, every valid mesh and layout trains through the same
 * losses as the single-device run.
 *
 * <pre>
 *   target = tanh(x . T1) . T2           (teacher, non-trainable)
 *   pred   = relu(x . W1) . W2           (student)
 *   loss   = mean((pred - target)^2)     W := W - lr * dloss/dW
 * </pre>
 */
public final class MlpDemo {
  private MlpDemo() {}

  /** The sizes of the four named dims. The defaults divide by 8, so every layout over {@code x:2,y:4} fits. */
  public record Sizes(int batch, int io, int hidden, int out) {
    public static final Sizes DEFAULT = new Sizes(32, 16, 64, 8);

    public Dim batchDim() {
      return new Dim("batch", batch);
    }

    public Dim ioDim() {
      return new Dim("io", io);
    }

    public Dim hiddenDim() {
      return new Dim("hidden", hidden);
    }

    public Dim outDim() {
      return new Dim("out", out);
    }
  }

  /** One training run: where, how long, from which seed, at which size, step size and precision. */
  public record Config(String meshShape, String layout, int steps, long seed, Sizes sizes, double learningRate,
                       DType dtype) {
    public static final double DEFAULT_LEARNING_RATE = 0.05;

    /** The demo's defaults (float64, so losses agree across layouts far below 1e-5 for any step count). */
    public static Config of(String meshShape, String layout, int steps, long seed) {
      return new Config(meshShape, layout, steps, seed, Sizes.DEFAULT, DEFAULT_LEARNING_RATE, DType.FLOAT64);
    }
  }

  /** The loss of each step (before its update) and what one step communicates. */
  public record Result(List<Double> losses, Counters counters) {}

  /**
   * The mesh program: the fed input, the loss, the student weights {@code w1, w2} (their SGD
   * assignments are in the graph) and the teacher's {@code teacher_w1, teacher_w2}.
   */
  public record Program(MeshGraph graph, MeshTensor input, MeshTensor loss, List<MeshTensor> weights,
                        List<MeshTensor> teacher) {}

  /** Builds forward pass, gradients and SGD updates on a fresh graph seeded with {@code seed}. */
  public static Program build(Sizes s, long seed, double learningRate, DType dtype) {
    MeshGraph g = new MeshGraph(seed);
    MeshOps m = new MeshOps(g);
    Dim batch = s.batchDim();
    Dim io = s.ioDim();
    Dim hidden = s.hiddenDim();
    Dim out = s.outDim();
    double inScale = 1 / Math.sqrt(io.size());
    double hiddenScale = 1 / Math.sqrt(hidden.size());

    MeshTensor x = m.importTensor("x", Shape.of(batch, io), dtype);
    MeshTensor t1 = m.variable("teacher_w1", m.randomNormal(Shape.of(io, hidden), dtype, "teacher_w1", 0, inScale), false);
    MeshTensor t2 = m.variable("teacher_w2", m.randomNormal(Shape.of(hidden, out), dtype, "teacher_w2", 0, hiddenScale),
        false);
    MeshTensor w1 = m.variable("w1", m.randomNormal(Shape.of(io, hidden), dtype, "w1", 0, inScale));
    MeshTensor w2 = m.variable("w2", m.randomNormal(Shape.of(hidden, out), dtype, "w2", 0, hiddenScale));

    MeshTensor target = m.matmul(m.tanh(m.matmul(x, t1, Shape.of(batch, hidden))), t2, Shape.of(batch, out));
    MeshTensor pred = m.matmul(m.relu(m.matmul(x, w1, Shape.of(batch, hidden))), w2, Shape.of(batch, out));
    // The mean as a sum of pre-scaled squares: reduceMean(..., SCALAR) scales a scalar by a scalar, and the
    // gradient of that product is an einsum of two scalars, which EinsumOp lowers to the invalid equation "->".
    MeshTensor loss = m.reduceSum(m.mul(m.square(m.sub(pred, target)), 1.0 / (batch.size() * out.size())),
        Shape.SCALAR);

    List<MeshTensor> weights = List.of(w1, w2);
    List<MeshTensor> grads = Gradients.of(loss, weights);
    for (int i = 0; i < weights.size(); i++) {
      m.assign(weights.get(i), m.sub(weights.get(i), m.mul(grads.get(i), learningRate)));
    }
    return new Program(g, x, loss, weights, List.of(t1, t2));
  }

  /**
   * The host inputs of every step, {@code batch x io} standard normals per step, row-major: drawn
   * from one {@link Random} seeded with {@code seed}, so every mesh sees identical data.
   */
  public static final class Inputs {
    private final Random random;
    private final Sizes sizes;

    public Inputs(Sizes sizes, long seed) {
      this.sizes = sizes;
      this.random = new Random(seed);
    }

    public double[] next() {
      double[] v = new double[sizes.batch() * sizes.io()];
      for (int i = 0; i < v.length; i++) {
        v[i] = random.nextGaussian();
      }
      return v;
    }
  }

  /**
   * Trains for {@code config.steps()} steps and reports each loss to {@code onStep} as it comes
   * (step numbers from 1). Throws {@link dev.neomesh.mesh.LayoutException} for a mesh shape or
   * layout that cannot be used, before any step runs.
   */
  public static Result train(Config config, BiConsumer<Integer, Double> onStep) {
    MeshShape mesh = MeshShape.parse(config.meshShape());
    LayoutRules rules = LayoutRules.parse(config.layout());
    Program program = build(config.sizes(), config.seed(), config.learningRate(), config.dtype());
    Inputs inputs = new Inputs(config.sizes(), config.seed());
    Shape inputShape = program.input().shape();
    List<Double> losses = new ArrayList<>();
    try (MeshRuntime runtime = MeshRuntime.onVirtualCpus(program.graph(), mesh, rules)) {
      runtime.exported(program.loss()); // lowers the loss's fetch now, so the counters hold all of one step
      runtime.initialize();
      for (int step = 1; step <= config.steps(); step++) {
        double loss;
        try (Tensor x = HostTensors.of(inputShape, config.dtype(), inputs.next())) {
          loss = runtime.step().feed(program.input(), x).fetch(program.loss()).withUpdates().run().get(0)[0];
        }
        losses.add(loss);
        onStep.accept(step, loss);
      }
      return new Result(List.copyOf(losses), runtime.counters());
    }
  }

  public static Result train(Config config) {
    return train(config, (step, loss) -> {});
  }
}
