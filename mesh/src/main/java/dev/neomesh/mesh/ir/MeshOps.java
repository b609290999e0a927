package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;

/**
 * The operations a model is written with, on named dims: the small op set of the IR plus what is
 * built from it (mean, softmax, log-sum-exp, gather, cumsum, dropout, ...). Every method adds ops
 * to the graph and returns the new tensor; nothing here knows about devices.
 */
public final class MeshOps {
  private final MeshGraph g;

  public MeshOps(MeshGraph graph) {
    this.g = graph;
  }

  public MeshGraph graph() {
    return g;
  }

  // ---- sources ------------------------------------------------------------------------------

  public MeshTensor constant(double value, Shape shape, DType dtype) {
    return new ConstantOp(g, value, shape, dtype).output();
  }

  public MeshTensor scalar(double value, DType dtype) {
    return constant(value, Shape.SCALAR, dtype);
  }

  public MeshTensor zeros(Shape shape, DType dtype) {
    return constant(0, shape, dtype);
  }

  public MeshTensor ones(Shape shape, DType dtype) {
    return constant(1, shape, dtype);
  }

  /** A tensor fed from the host each step under {@code name}. */
  public MeshTensor importTensor(String name, Shape shape, DType dtype) {
    return new ImportOp(g, name, shape, dtype).output();
  }

  public MeshTensor range(Dim dim, DType dtype) {
    return new RangeOp(g, dim, dtype).output();
  }

  /**
   * Layout-invariant random values: element i is a function of (graph seed, key, i) only. Use a
   * stable key (e.g. the variable name) so weights do not change when unrelated ops are added.
   */
  public MeshTensor randomUniform(Shape shape, DType dtype, String key, double min, double max) {
    return new RandomOp(g, RandomOp.Kind.UNIFORM, shape, dtype, key, min, max, null).output();
  }

  public MeshTensor randomNormal(Shape shape, DType dtype, String key, double mean, double stddev) {
    return new RandomOp(g, RandomOp.Kind.NORMAL, shape, dtype, key, mean, stddev, null).output();
  }

  public MeshTensor truncatedNormal(Shape shape, DType dtype, String key, double mean, double stddev) {
    return new RandomOp(g, RandomOp.Kind.TRUNCATED_NORMAL, shape, dtype, key, mean, stddev, null).output();
  }

  /** Uniform values that also depend on the run's random step ({@link MeshGraph#randomStep}): new each step. */
  public MeshTensor randomUniformPerStep(Shape shape, DType dtype, String key, double min, double max) {
    return new RandomOp(g, RandomOp.Kind.UNIFORM, shape, dtype, key, min, max, g.randomStep()).output();
  }

  /** A variable whose initial value is {@code init} (build it from the random ops for layout-invariant weights). */
  public MeshTensor variable(String name, MeshTensor init, boolean trainable) {
    return new VariableOp(g, name, init, trainable).output();
  }

  /**
   * A variable checkpointed as tensor {@code checkpointName} of {@code checkpointDtype} ({@link VariableOp}):
   * a bfloat16 parameter and its float32 master share the float32 tensor of the parameter's name.
   */
  public MeshTensor variable(String name, MeshTensor init, boolean trainable, String checkpointName,
      DType checkpointDtype) {
    return new VariableOp(g, name, init, trainable, checkpointName, checkpointDtype).output();
  }

  public MeshTensor variable(String name, MeshTensor init) {
    return variable(name, init, true);
  }

  /**
   * One in-place Adam step of {@code param} with slots {@code m} and {@code v} (variables of its
   * shape), see {@link AdamUpdateOp}; {@code beta1Power}, {@code beta2Power} are β1ᵗ, β2ᵗ (zeros: no
   * bias correction). Like an assignment, it runs with a step's updates.
   */
  public void applyAdam(MeshTensor param, MeshTensor m, MeshTensor v, MeshTensor grad, MeshTensor lr,
                        MeshTensor beta1Power, MeshTensor beta2Power, double beta1, double beta2, double epsilon,
                        double weightDecay) {
    new AdamUpdateOp(g, variableOp(param), variableOp(m), variableOp(v), grad, lr, beta1Power, beta2Power, beta1,
        beta2, epsilon, weightDecay);
  }

  public VariableOp variableOp(MeshTensor variableValue) {
    if (!(variableValue.op() instanceof VariableOp v)) {
      throw new IllegalArgumentException(variableValue + " is not a variable");
    }
    return v;
  }

  public void assign(MeshTensor variableValue, MeshTensor newValue) {
    new AssignOp(g, variableOp(variableValue), newValue);
  }

  /**
   * Sets state variable {@code variableValue} to {@code newValue} when the output is computed, and
   * returns its value after the write ({@link StateWriteOp}).
   */
  public MeshTensor writeState(MeshTensor variableValue, MeshTensor newValue) {
    return new StateWriteOp(g, variableOp(variableValue), newValue, null, null, false).output();
  }

  /**
   * Writes {@code block} into state variable {@code variableValue} at {@code [offset, offset+B)} of
   * {@code dim}, in place, where the block has the variable's dims with {@code dim} replaced by an
   * unsplit dim of size B; returns the variable's value after the write ({@link StateWriteOp}).
   */
  public MeshTensor writeStateBlock(MeshTensor variableValue, MeshTensor block, String dim, MeshTensor offset) {
    return new StateWriteOp(g, variableOp(variableValue), block, offset, dim, false).output();
  }

  /**
   * {@link #writeStateBlock} into a ring buffer: the offset is taken modulo the size of {@code dim},
   * and a block running past the end continues at its start.
   */
  public MeshTensor writeStateRing(MeshTensor variableValue, MeshTensor block, String dim, MeshTensor offset) {
    return new StateWriteOp(g, variableOp(variableValue), block, offset, dim, true).output();
  }

  // ---- einsum and relayout ----------------------------------------------------------------------

  public MeshTensor einsum(List<MeshTensor> xs, Shape output) {
    return new EinsumOp(g, xs, output).output();
  }

  /** Contracts the dims two tensors share (and that {@code output} lacks). */
  public MeshTensor matmul(MeshTensor a, MeshTensor b, Shape output) {
    return einsum(List.of(a, b), output);
  }

  public MeshTensor reshape(MeshTensor x, Shape shape) {
    return x.shape().equals(shape) ? x : new ReshapeOp(g, x, shape).output();
  }

  /** Renames one dim; a relayout when the two names have different layout rules. */
  public MeshTensor rename(MeshTensor x, String from, String to) {
    return reshape(x, x.shape().rename(from, to));
  }

  public MeshTensor transpose(MeshTensor x, Shape order) {
    if (!new HashSet<>(x.shape().dims()).equals(new HashSet<>(order.dims()))) {
      throw new IllegalArgumentException("transpose of " + x.shape() + " to " + order + " changes its dims");
    }
    return reshape(x, order);
  }

  public MeshTensor broadcastTo(MeshTensor x, Shape shape) {
    return x.shape().equals(shape) ? x : einsum(List.of(x), shape);
  }

  /** Sums {@code x} down to {@code shape} (the gradient of a broadcast). */
  public MeshTensor sumTo(MeshTensor x, Shape shape) {
    if (x.shape().equals(shape)) {
      return x;
    }
    if (new HashSet<>(x.shape().dims()).equals(new HashSet<>(shape.dims()))) {
      return reshape(x, shape);
    }
    return reduceSum(x, shape);
  }

  // ---- elementwise ------------------------------------------------------------------------------

  private MeshTensor unary(UnaryOp.Kind kind, MeshTensor x) {
    return new UnaryOp(g, kind, x).output();
  }

  private MeshTensor binary(BinaryOp.Kind kind, MeshTensor a, MeshTensor b) {
    return new BinaryOp(g, kind, a, b).output();
  }

  public MeshTensor neg(MeshTensor x) { return unary(UnaryOp.Kind.NEG, x); }
  public MeshTensor exp(MeshTensor x) { return unary(UnaryOp.Kind.EXP, x); }
  public MeshTensor log(MeshTensor x) { return unary(UnaryOp.Kind.LOG, x); }
  public MeshTensor sqrt(MeshTensor x) { return unary(UnaryOp.Kind.SQRT, x); }
  public MeshTensor rsqrt(MeshTensor x) { return unary(UnaryOp.Kind.RSQRT, x); }
  public MeshTensor tanh(MeshTensor x) { return unary(UnaryOp.Kind.TANH, x); }
  public MeshTensor sigmoid(MeshTensor x) { return unary(UnaryOp.Kind.SIGMOID, x); }
  public MeshTensor relu(MeshTensor x) { return unary(UnaryOp.Kind.RELU, x); }
  public MeshTensor abs(MeshTensor x) { return unary(UnaryOp.Kind.ABS, x); }
  public MeshTensor sin(MeshTensor x) { return unary(UnaryOp.Kind.SIN, x); }
  public MeshTensor cos(MeshTensor x) { return unary(UnaryOp.Kind.COS, x); }
  public MeshTensor sign(MeshTensor x) { return unary(UnaryOp.Kind.SIGN, x); }
  public MeshTensor square(MeshTensor x) { return unary(UnaryOp.Kind.SQUARE, x); }
  public MeshTensor softplus(MeshTensor x) { return unary(UnaryOp.Kind.SOFTPLUS, x); }
  public MeshTensor erf(MeshTensor x) { return unary(UnaryOp.Kind.ERF, x); }
  public MeshTensor reciprocal(MeshTensor x) { return unary(UnaryOp.Kind.RECIPROCAL, x); }
  public MeshTensor log1p(MeshTensor x) { return unary(UnaryOp.Kind.LOG1P, x); }
  public MeshTensor floor(MeshTensor x) { return unary(UnaryOp.Kind.FLOOR, x); }
  public MeshTensor logicalNot(MeshTensor x) { return unary(UnaryOp.Kind.LOGICAL_NOT, x); }
  public MeshTensor identity(MeshTensor x) { return unary(UnaryOp.Kind.IDENTITY, x); }

  public MeshTensor add(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.ADD, a, b); }
  public MeshTensor sub(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.SUB, a, b); }
  public MeshTensor mul(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.MUL, a, b); }
  public MeshTensor div(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.DIV, a, b); }
  public MeshTensor maximum(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.MAXIMUM, a, b); }
  public MeshTensor minimum(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.MINIMUM, a, b); }
  public MeshTensor pow(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.POW, a, b); }
  public MeshTensor floorMod(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.FLOOR_MOD, a, b); }
  public MeshTensor floorDiv(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.FLOOR_DIV, a, b); }
  public MeshTensor equal(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.EQUAL, a, b); }
  public MeshTensor notEqual(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.NOT_EQUAL, a, b); }
  public MeshTensor less(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.LESS, a, b); }
  public MeshTensor lessEqual(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.LESS_EQUAL, a, b); }
  public MeshTensor greater(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.GREATER, a, b); }
  public MeshTensor greaterEqual(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.GREATER_EQUAL, a, b); }
  public MeshTensor logicalAnd(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.LOGICAL_AND, a, b); }
  public MeshTensor logicalOr(MeshTensor a, MeshTensor b) { return binary(BinaryOp.Kind.LOGICAL_OR, a, b); }

  /** {@code dy * (x > 0)} in one fused kernel: the gradient of relu. */
  public MeshTensor reluGrad(MeshTensor dy, MeshTensor x) { return binary(BinaryOp.Kind.RELU_GRAD, dy, x); }
  /** {@code dy * (1 - y^2)} for {@code y = tanh(x)}. */
  public MeshTensor tanhGrad(MeshTensor y, MeshTensor dy) { return binary(BinaryOp.Kind.TANH_GRAD, y, dy); }
  /** {@code dy * y * (1 - y)} for {@code y = sigmoid(x)}. */
  public MeshTensor sigmoidGrad(MeshTensor y, MeshTensor dy) { return binary(BinaryOp.Kind.SIGMOID_GRAD, y, dy); }

  private MeshTensor s(double v, MeshTensor like) {
    return scalar(v, like.dtype());
  }

  public MeshTensor add(MeshTensor a, double b) { return add(a, s(b, a)); }
  public MeshTensor sub(MeshTensor a, double b) { return sub(a, s(b, a)); }
  public MeshTensor sub(double a, MeshTensor b) { return sub(s(a, b), b); }
  public MeshTensor mul(MeshTensor a, double b) { return mul(a, s(b, a)); }
  public MeshTensor div(MeshTensor a, double b) { return div(a, s(b, a)); }
  public MeshTensor pow(MeshTensor a, double b) { return pow(a, s(b, a)); }
  public MeshTensor maximum(MeshTensor a, double b) { return maximum(a, s(b, a)); }
  public MeshTensor minimum(MeshTensor a, double b) { return minimum(a, s(b, a)); }
  public MeshTensor greater(MeshTensor a, double b) { return greater(a, s(b, a)); }
  public MeshTensor less(MeshTensor a, double b) { return less(a, s(b, a)); }
  public MeshTensor equal(MeshTensor a, double b) { return equal(a, s(b, a)); }

  public MeshTensor cast(MeshTensor x, DType to) {
    return x.dtype() == to ? x : new CastOp(g, x, to).output();
  }

  /**
   * {@code x} cast to {@code to}, whose gradient is {@code gradDtype} rather than x's dtype. The
   * gradient cast keeps a pending sum pending ({@link CastOp}): a bfloat16 parameter read as
   * {@code castWithGradient(w, act, FLOAT32)} gets a float32 gradient, allreduced or reduce-scattered in
   * float32, whatever the activation dtype.
   */
  public MeshTensor castWithGradient(MeshTensor x, DType to, DType gradDtype) {
    return x.dtype() == to && gradDtype == x.dtype() ? x : new CastOp(g, x, to, gradDtype, false).output();
  }

  public MeshTensor where(MeshTensor cond, MeshTensor a, MeshTensor b) {
    return new WhereOp(g, cond, a, b).output();
  }

  public MeshTensor stopGradient(MeshTensor x) {
    return new StopGradientOp(g, x).output();
  }

  /** {@code x}, read only once {@code trigger} has been computed ({@link AfterOp}). */
  public MeshTensor after(MeshTensor x, MeshTensor trigger) {
    return after(x, List.of(trigger));
  }

  /** {@code x}, read only once every one of {@code triggers} has been computed ({@link AfterOp}). */
  public MeshTensor after(MeshTensor x, List<MeshTensor> triggers) {
    return new AfterOp(g, x, triggers).output();
  }

  /**
   * {@code body(inputs)}, with its activations recomputed in the backward pass instead of kept
   * (Mesh-TensorFlow's {@code recompute_grad}, activation checkpointing): {@link Gradients#of} builds
   * the body again from the inputs, gated on the gradient reaching its outputs, and differentiates
   * that copy, so between the forward and the backward only the inputs stay alive; the copy reads
   * the variables through the same gates ({@link MeshGraph#isRecomputedCopy} marks its ops). The body must
   * build the same ops each call: variables made once by name, random ops keyed by name and step
   * (so dropout draws the same masks again), and nothing but its outputs read outside it. Inside a
   * recomputation, or when nothing of the body is differentiable, this is just {@code body(inputs)}.
   */
  public List<MeshTensor> recompute(List<MeshTensor> inputs, java.util.function.Function<List<MeshTensor>,
      List<MeshTensor>> body) {
    if (g.recomputing()) {
      return body.apply(inputs);
    }
    int first = g.ops().size();
    List<MeshTensor> outputs = List.copyOf(body.apply(inputs));
    int last = g.ops().size() - 1;
    if (last >= first) {
      g.addRecompute(new MeshGraph.Recompute(List.copyOf(inputs), outputs, body, first, last));
    }
    return outputs;
  }

  /**
   * GELU, tanh approximation (as GPT-2 and Mesh-TensorFlow): {@code 0.5·x·(1 + tanh(k·(x + c·x³)))}
   * with k = √(2/π), c = 0.044715, computed as the equal {@code x·sigmoid(x·(2k + 2kc·x²))}
   * (0.5·(1 + tanh z) = sigmoid(2z)): 6 elementwise ops forward and 9 backward instead of 9 and 13,
   * on the largest activation of the MLP.
   */
  public MeshTensor gelu(MeshTensor x) {
    double k = Math.sqrt(2 / Math.PI);
    MeshTensor z = mul(x, add(mul(square(x), 2 * k * 0.044715), 2 * k));
    return mul(x, sigmoid(z));
  }

  // ---- reductions -----------------------------------------------------------------------------

  /** Σx² over the dims {@code output} lacks, in one pass (see {@link ReduceOp.Kind#SUM_OF_SQUARES}). */
  public MeshTensor sumOfSquares(MeshTensor x, Shape output) {
    return new ReduceOp(g, ReduceOp.Kind.SUM_OF_SQUARES, x, output).output();
  }

  public MeshTensor reduceSum(MeshTensor x, Shape output) {
    return new ReduceOp(g, ReduceOp.Kind.SUM, x, output).output();
  }

  public MeshTensor reduceMax(MeshTensor x, Shape output) {
    return new ReduceOp(g, ReduceOp.Kind.MAX, x, output).output();
  }

  public MeshTensor reduceMin(MeshTensor x, Shape output) {
    return new ReduceOp(g, ReduceOp.Kind.MIN, x, output).output();
  }

  public MeshTensor reduceMean(MeshTensor x, Shape output) {
    return mul(reduceSum(x, output), 1.0 * output.size() / x.shape().size());
  }

  /** The shape of {@code x} without the named dims. */
  public static Shape without(MeshTensor x, String... dims) {
    List<String> names = Arrays.asList(dims);
    for (String d : dims) {
      x.shape().dim(d);
    }
    return new Shape(x.shape().dims().stream().filter(d -> !names.contains(d.name())).toList());
  }

  public MeshTensor reduceSum(MeshTensor x, String... dims) {
    return reduceSum(x, without(x, dims));
  }

  public MeshTensor reduceMean(MeshTensor x, String... dims) {
    return reduceMean(x, without(x, dims));
  }

  public MeshTensor reduceMax(MeshTensor x, String... dims) {
    return reduceMax(x, without(x, dims));
  }

  /** {@code log(sum(exp(x)))} over one dim, stabilised by the (gradient-free) max. */
  public MeshTensor logSumExp(MeshTensor x, String dim) {
    MeshTensor max = stopGradient(reduceMax(x, dim));
    return add(log(reduceSum(exp(sub(x, max)), dim)), max);
  }

  /** One {@link SoftmaxOp}: TensorFlow's fused kernel when {@code dim} is whole on each device. */
  public MeshTensor softmax(MeshTensor x, String dim) {
    return new SoftmaxOp(g, x, dim).output();
  }

  public MeshTensor logSoftmax(MeshTensor x, String dim) {
    return sub(x, logSumExp(x, dim));
  }

  // ---- indexing -------------------------------------------------------------------------------

  public MeshTensor oneHot(MeshTensor indices, Dim dim, DType dtype) {
    return new OneHotOp(g, indices, dim, dtype).output();
  }

  /** Rows of {@code table} picked by {@code indices} along {@code dim}: a one-hot einsum. */
  public MeshTensor gather(MeshTensor table, MeshTensor indices, String dim) {
    Dim d = table.shape().dim(dim);
    Shape out = indices.shape().union(table.shape().minus(Shape.of(d)));
    return einsum(List.of(oneHot(indices, d, table.dtype()), table), out);
  }

  /** The k largest values along {@code dim} and their int32 indices, in new dim {@code kDim}. */
  public List<MeshTensor> topK(MeshTensor x, String dim, Dim kDim) {
    return new TopKOp(g, x, dim, kDim).outputs();
  }

  /** Cumulative sum along unsplit {@code dim} in linear time ({@link CumsumOp}); not differentiable. */
  public MeshTensor cumsumUnsplit(MeshTensor x, String dim, boolean exclusive) {
    return new CumsumOp(g, x, dim, exclusive).output();
  }

  /**
   * Cumulative sum along {@code dim}: an einsum with a triangular mask (quadratic in the dim,
   * which is fine for the group and sequence lengths it serves, and correct on any layout).
   */
  public MeshTensor cumsum(MeshTensor x, String dim, boolean exclusive) {
    Dim d = x.shape().dim(dim);
    Dim to = new Dim(dim + "_cumsum_to", d.size());
    MeshTensor i = range(d, DType.INT32);
    MeshTensor j = range(to, DType.INT32);
    MeshTensor mask = cast(exclusive ? less(i, j) : lessEqual(i, j), x.dtype());
    MeshTensor y = einsum(List.of(x, mask), x.shape().rename(dim, to.name()));
    return rename(y, to.name(), dim);
  }

  public MeshTensor slice(MeshTensor x, String dim, int begin, int size) {
    return new SliceOp(g, x, dim, begin, size).output();
  }

  public MeshTensor pad(MeshTensor x, String dim, int before, int after) {
    return new PadOp(g, x, dim, before, after).output();
  }

  public MeshTensor concat(List<MeshTensor> xs, String dim) {
    return new ConcatOp(g, xs, dim).output();
  }

  public MeshTensor shift(MeshTensor x, String dim, int offset, boolean wrap) {
    return new ShiftOp(g, x, dim, offset, wrap).output();
  }

  /**
   * Inverted dropout. The mask is layout-invariant and keyed by {@code key} and the run's random
   * step, so it changes every step (the trainer feeds the step) and is the same on every layout.
   */
  public MeshTensor dropout(MeshTensor x, double rate, String key) {
    if (rate <= 0) {
      return x;
    }
    DType drawn = x.dtype() == DType.BFLOAT16 ? DType.FLOAT32 : x.dtype(); // bf16 has too few bits for a rate
    MeshTensor u = randomUniformPerStep(x.shape(), drawn, key, 0, 1);
    MeshTensor keep = cast(greaterEqual(u, scalar(rate, drawn)), x.dtype());
    return mul(x, mul(keep, 1.0 / (1.0 - rate)));
  }
}
