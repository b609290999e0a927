package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.comm.Comm;
import dev.neomesh.mesh.comm.CommPlan;
import dev.neomesh.mesh.comm.PlanContext;
import dev.neomesh.mesh.comm.Reduction;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.SliceAlign;
import dev.neomesh.mesh.lower.Tf;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/**
 * Sum, sum of squares, max or min over the dims missing from the output shape: a local reduction,
 * then an allreduce over the mesh axes of the reduced dims that are split (kept pending for sums).
 */
public final class ReduceOp extends Op {
  /** The reductions. */
  public enum Kind {
    SUM,
    /**
     * Σx², one pass over x: TensorFlow's {@code L2Loss} kernel where the slice reduces to a scalar
     * (a gradient's share of the global norm), with no x²-sized temporary; else {@code Sum(Square)}.
     */
    SUM_OF_SQUARES,
    MAX,
    MIN
  }

  private final Kind kind;
  /** Positions in the input of the dims the output lacks. */
  private final int[] reducedDims;

  ReduceOp(MeshGraph g, Kind kind, MeshTensor x, Shape output) {
    super(g, "reduce_" + kind.name().toLowerCase(), List.of(x));
    if (!x.shape().dims().containsAll(output.dims())) {
      throw new IllegalArgumentException("reduce output " + output + " is not a subset of " + x.shape());
    }
    this.kind = kind;
    Shape in = x.shape();
    this.reducedDims = IntStream.range(0, in.rank()).filter(i -> !output.contains(in.get(i).name())).toArray();
    addOutput(output, x.dtype());
  }

  public Kind kind() {
    return kind;
  }

  /**
   * SUM: a pending input stays pending (a sum of partial sums is one later reduction); the output
   * is a pending sum over the split reduced axes and those. MAX/MIN: the input whole, then an
   * allreduce of the output slice over the split reduced axes.
   */
  @Override
  public CommPlan plan(PlanContext c) {
    MeshTensor x = inputs().get(0);
    int[] axes = reducedSplitAxes(c.layout(x));
    CommPlan.Builder b = CommPlan.builder(c);
    if (kind == Kind.SUM_OF_SQUARES) { // the square of a partial sum is not a partial sum: x whole first
      return b.resolve(x).pendingSum(axes).build();
    }
    if (kind == Kind.SUM) {
      int[] pending = c.pendingSum(x);
      int[] all = Arrays.copyOf(axes, axes.length + pending.length);
      System.arraycopy(pending, 0, all, axes.length, pending.length);
      return b.pendingSum(all).build();
    }
    return b.resolve(x).allreduce(axes, kind == Kind.MAX ? Reduction.MAX : Reduction.MIN, c.sliceBytes(output()),
        c.sliceElements(output())).build();
  }

  private int[] reducedSplitAxes(TensorLayout layout) {
    int[] axes = new int[reducedDims.length];
    int n = 0;
    for (int i : reducedDims) {
      if (layout.meshAxisOf(i) >= 0) {
        axes[n++] = layout.meshAxisOf(i);
      }
    }
    return n == axes.length ? axes : Arrays.copyOf(axes, n);
  }

  @Override
  public void lower(LoweringContext l) {
    MeshTensor x = inputs().get(0);
    Shape in = x.shape();
    Shape out = output().shape();
    Shape kept = new Shape(in.dims().stream().filter(d -> out.contains(d.name())).toList());
    int[] perm = SliceAlign.permutation(kept, out);
    LaidOutTensor local = l.slicewise((tf, p, s) -> Tf.transpose(tf, reduce(tf, s.get(0)), perm),
        List.of(l.partial(x))); // a SUM's plan may keep x a partial sum; otherwise x is whole by now
    for (Comm step : l.plan().steps()) {
      local = l.run(step, local);
    }
    l.set(output(), local);
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private Operand<?> reduce(Ops tf, Operand x) {
    int[] dims = reducedDims;
    if (kind == Kind.SUM_OF_SQUARES && dims.length == inputs().get(0).shape().rank() && dims.length > 0) {
      // L2Loss is Σx²/2; doubling is exact
      return tf.math.mul(tf.nn.l2Loss(x), (Operand) Tf.constant(tf, 2, inputs().get(0).dtype()));
    }
    if (kind == Kind.SUM_OF_SQUARES) {
      x = tf.math.square(x);
    }
    if (dims.length == 0) {
      return x;
    }
    Operand<?> axes = tf.constant(dims);
    return switch (kind) {
      case SUM, SUM_OF_SQUARES -> tf.reduceSum(x, (Operand) axes);
      case MAX -> tf.reduceMax(x, (Operand) axes);
      case MIN -> tf.reduceMin(x, (Operand) axes);
    };
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    MeshOps m = new MeshOps(graph());
    MeshTensor x = inputs().get(0);
    MeshTensor dy = dys.get(0);
    MeshTensor broadcastDy = m.broadcastTo(dy, x.shape());
    if (kind == Kind.SUM) {
      return List.of(broadcastDy);
    }
    if (kind == Kind.SUM_OF_SQUARES) {
      return List.of(m.mul(broadcastDy, m.mul(x, 2.0)));
    }
    MeshTensor mask = m.cast(m.equal(x, output()), x.dtype());
    return List.of(m.mul(broadcastDy, mask));
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
