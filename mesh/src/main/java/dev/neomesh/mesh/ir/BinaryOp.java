package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.comm.CommPlan;
import dev.neomesh.mesh.comm.PlanContext;
import dev.neomesh.mesh.lower.BiasAdd;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.SliceAlign;
import java.util.Arrays;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/**
 * An elementwise function of two tensors with broadcasting by dim name: the output has the dims
 * of both (the larger shape's order when one contains the other). Slicewise, no communication;
 * adding two partial sums over the same mesh axes stays a partial sum (one reduction later).
 */
public final class BinaryOp extends Op {
  /** The functions; comparisons and logic produce bool tensors and have no gradient. */
  public enum Kind {
    ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM, POW, FLOOR_MOD, FLOOR_DIV,
    EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL, LOGICAL_AND, LOGICAL_OR,
    /** The backward kernels of relu, tanh and sigmoid: one fused pass instead of three ops. */
    RELU_GRAD, TANH_GRAD, SIGMOID_GRAD;

    boolean isComparison() {
      return ordinal() >= EQUAL.ordinal() && ordinal() <= LOGICAL_OR.ordinal();
    }

    boolean isDifferentiable() {
      return ordinal() <= POW.ordinal();
    }
  }

  private final Kind kind;
  /** Whether a partial sum plus a partial sum can stay one: ADD or SUB of equal shapes. */
  private final boolean sumOfEqualShapes;

  BinaryOp(MeshGraph g, Kind kind, MeshTensor a, MeshTensor b) {
    super(g, kind.name().toLowerCase(), List.of(a, b));
    if (a.dtype() != b.dtype()) {
      throw new IllegalArgumentException(kind + " of different dtypes: " + a + " and " + b);
    }
    this.kind = kind;
    this.sumOfEqualShapes = (kind == Kind.ADD || kind == Kind.SUB) && a.shape().equals(b.shape());
    addOutput(broadcastShape(a.shape(), b.shape()), kind.isComparison() ? DType.BOOL : a.dtype());
  }

  static Shape broadcastShape(Shape a, Shape b) {
    if (a.dims().containsAll(b.dims())) {
      return a;
    }
    if (b.dims().containsAll(a.dims())) {
      return b;
    }
    return a.union(b);
  }

  public Kind kind() {
    return kind;
  }

  @Override
  public boolean hasGradient() {
    return kind.isDifferentiable() && super.hasGradient();
  }

  /**
   * ADD/SUB of two partial sums over the same mesh axes (and equal shapes) stays a partial sum, one
   * reduction later instead of two; anything else reads both inputs whole.
   */
  @Override
  public CommPlan plan(PlanContext c) {
    MeshTensor a = inputs().get(0);
    MeshTensor b = inputs().get(1);
    int[] pendingA = c.pendingSum(a);
    boolean keepPending = sumOfEqualShapes && pendingA.length > 0 && Arrays.equals(pendingA, c.pendingSum(b));
    return keepPending ? CommPlan.builder(c).pendingSum(pendingA).build() : CommPlan.resolving(c, inputs());
  }

  @Override
  public void lower(LoweringContext l) {
    MeshTensor a = inputs().get(0);
    MeshTensor b = inputs().get(1);
    Shape out = output().shape();
    Shape outSlice = l.layout(output()).sliceShape();
    Shape aSlice = l.layout(a).sliceShape();
    Shape bSlice = l.layout(b).sliceShape();
    boolean biasAdd = kind == Kind.ADD && l.options().fusedKernels();
    // partial values where the plan keeps the sum pending; whole ones otherwise (the plan resolved them)
    l.set(output(), l.slicewise((tf, p, s) -> {
      Operand<?> fused = biasAdd ? fusedBiasAdd(tf, s.get(0), aSlice, s.get(1), bSlice, outSlice) : null;
      return fused != null ? fused : apply(tf, SliceAlign.expandTo(tf, s.get(0), aSlice, out, outSlice),
          SliceAlign.expandTo(tf, s.get(1), bSlice, out, outSlice));
    }, List.of(l.partial(a), l.partial(b))));
  }

  /** A dense layer's {@code matmul + bias}, either operand order, in the form TensorFlow fuses; else null. */
  private static Operand<?> fusedBiasAdd(Ops tf, Operand<?> x, Shape xSlice, Operand<?> y, Shape ySlice,
      Shape outSlice) {
    if (xSlice.equals(outSlice)) {
      return BiasAdd.fused(tf, x, xSlice, y, ySlice);
    }
    return ySlice.equals(outSlice) ? BiasAdd.fused(tf, y, ySlice, x, xSlice) : null;
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private Operand<?> apply(Ops tf, Operand x, Operand y) {
    return switch (kind) {
      case ADD -> tf.math.add(x, y);
      case SUB -> tf.math.sub(x, y);
      case MUL -> tf.math.mul(x, y);
      case DIV -> tf.math.div(x, y);
      case MAXIMUM -> tf.math.maximum(x, y);
      case MINIMUM -> tf.math.minimum(x, y);
      case POW -> tf.math.pow(x, y);
      case FLOOR_MOD -> tf.math.floorMod(x, y);
      case FLOOR_DIV -> tf.math.floorDiv(x, y);
      case EQUAL -> tf.math.equal(x, y);
      case NOT_EQUAL -> tf.math.notEqual(x, y);
      case LESS -> tf.math.less(x, y);
      case LESS_EQUAL -> tf.math.lessEqual(x, y);
      case GREATER -> tf.math.greater(x, y);
      case GREATER_EQUAL -> tf.math.greaterEqual(x, y);
      case LOGICAL_AND -> tf.math.logicalAnd(x, y);
      case LOGICAL_OR -> tf.math.logicalOr(x, y);
      case RELU_GRAD -> tf.nn.reluGrad(x, y);
      case TANH_GRAD -> tf.math.tanhGrad(x, y);
      case SIGMOID_GRAD -> tf.math.sigmoidGrad(x, y);
    };
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    MeshOps m = new MeshOps(graph());
    MeshTensor dy = dys.get(0);
    MeshTensor a = inputs().get(0);
    MeshTensor b = inputs().get(1);
    return switch (kind) {
      case ADD -> List.of(m.sumTo(dy, a.shape()), m.sumTo(dy, b.shape()));
      case SUB -> List.of(m.sumTo(dy, a.shape()), m.neg(m.sumTo(dy, b.shape())));
      case MUL -> List.of(m.einsum(List.of(dy, b), a.shape()), m.einsum(List.of(dy, a), b.shape()));
      case DIV -> List.of(m.einsum(List.of(dy, m.reciprocal(b)), a.shape()),
          m.sumTo(m.neg(m.div(m.mul(dy, a), m.square(b))), b.shape()));
      case MAXIMUM -> List.of(m.sumTo(m.mul(dy, m.cast(m.greaterEqual(a, b), dy.dtype())), a.shape()),
          m.sumTo(m.mul(dy, m.cast(m.less(a, b), dy.dtype())), b.shape()));
      case MINIMUM -> List.of(m.sumTo(m.mul(dy, m.cast(m.lessEqual(a, b), dy.dtype())), a.shape()),
          m.sumTo(m.mul(dy, m.cast(m.greater(a, b), dy.dtype())), b.shape()));
      case POW -> List.of(m.sumTo(m.mul(dy, m.mul(b, m.pow(a, m.sub(b, 1.0)))), a.shape()),
          m.sumTo(m.mul(dy, m.mul(m.log(a), output())), b.shape()));
      default -> Arrays.asList(null, null);
    };
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
