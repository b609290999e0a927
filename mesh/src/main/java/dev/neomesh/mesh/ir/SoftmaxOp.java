package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.comm.Comm;
import dev.neomesh.mesh.comm.CommPlan;
import dev.neomesh.mesh.comm.PlanContext;
import dev.neomesh.mesh.comm.Reduction;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.SliceAlign;
import dev.neomesh.mesh.lower.Tf;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.ReduceMax;
import org.tensorflow.op.core.ReduceSum;

/**
 * {@code softmax(x)} along one dim, as one op so that it lowers to TensorFlow's fused
 * {@code Softmax} kernel when the dim is whole on each device (one pass instead of the eight ops
 * of {@code exp(x - logsumexp(x))}), and its gradient is the four-op {@code y (dy - sum(dy y))}.
 * When the dim is split the slices are combined as Mesh-TensorFlow would: a local max, a MAX
 * allreduce over the dim's mesh axis, the shifted exponentials, a local sum and a SUM allreduce,
 * then the division (the same two collectives the composite form needs).
 */
public final class SoftmaxOp extends Op {
  private final String dim;

  SoftmaxOp(MeshGraph g, MeshTensor x, String dim) {
    super(g, "softmax", List.of(x));
    if (!x.shape().contains(dim)) {
      throw new IllegalArgumentException("softmax over " + dim + ", which " + x + " does not have");
    }
    if (!x.dtype().isFloating()) {
      throw new IllegalArgumentException("softmax needs a floating-point tensor, got " + x);
    }
    this.dim = dim;
    addOutput(x.shape(), x.dtype());
  }

  public String dim() {
    return dim;
  }

  /** The input whole; when the dim is split, a MAX then a SUM allreduce of the reduced slice over its axis. */
  @Override
  public CommPlan plan(PlanContext c) {
    MeshTensor x = inputs().get(0);
    CommPlan.Builder b = CommPlan.builder(c).resolve(x);
    int axis = c.axisOf(x, dim);
    if (axis >= 0) {
      long size = c.layout(x).sliceShape().dim(dim).size();
      long elements = c.sliceElements(x) / size;
      b.allreduce(new int[] {axis}, Reduction.MAX, elements * x.dtype().bytes(), elements)
          .allreduce(new int[] {axis}, Reduction.SUM, elements * x.dtype().bytes(), elements);
    }
    return b.build();
  }

  @Override
  public void lower(LoweringContext l) {
    MeshTensor x = inputs().get(0);
    List<Comm> steps = l.plan().steps(); // empty when the dim is whole on every device
    int d = x.shape().indexOf(dim);
    if (steps.isEmpty() && l.options().fusedKernels()) {
      // TensorFlow's Softmax works on the last dim: move the dim there and back when it is not
      Shape along = Shape.of(x.shape().get(d));
      Shape last = x.shape().minus(along).union(along);
      int[] toLast = SliceAlign.permutation(x.shape(), last);
      int[] back = SliceAlign.permutation(last, x.shape());
      l.set(output(), l.slicewise((tf, p, s) -> Tf.transpose(tf, softmax(tf, Tf.transpose(tf, s.get(0), toLast)),
          back), x));
      return;
    }
    LaidOutTensor xs = l.get(x);
    LaidOutTensor max = l.slicewise((tf, p, s) -> reduceMax(tf, s.get(0), d), List.of(xs));
    if (!steps.isEmpty()) {
      max = l.run(steps.get(0), max);
    }
    LaidOutTensor exp = l.slicewise((tf, p, s) -> exp(tf, s.get(0), s.get(1)), List.of(xs, max));
    LaidOutTensor sum = l.slicewise((tf, p, s) -> reduceSum(tf, s.get(0), d), List.of(exp));
    if (!steps.isEmpty()) {
      sum = l.run(steps.get(1), sum);
    }
    l.set(output(), l.slicewise((tf, p, s) -> div(tf, s.get(0), s.get(1)), List.of(exp, sum)));
  }

  /** TensorFlow's CPU Softmax (oneDNN's) takes at most 5 dims: a slice of more is softmaxed as [rest, last]. */
  @SuppressWarnings({"unchecked", "rawtypes"})
  private static Operand<?> softmax(Ops tf, Operand x) {
    long[] shape = x.shape().asArray();
    if (shape.length <= 5) {
      return tf.nn.softmax(x);
    }
    Operand flat = Tf.reshape(tf, x, new long[] {-1, shape[shape.length - 1]});
    return Tf.reshape(tf, tf.nn.softmax(flat), shape);
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static Operand<?> reduceMax(Ops tf, Operand x, int d) {
    return tf.reduceMax(x, tf.constant(new int[] {d}), ReduceMax.keepDims(true));
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static Operand<?> reduceSum(Ops tf, Operand x, int d) {
    return tf.reduceSum(x, tf.constant(new int[] {d}), ReduceSum.keepDims(true));
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static Operand<?> exp(Ops tf, Operand x, Operand max) {
    return tf.math.exp(tf.math.sub(x, max));
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static Operand<?> div(Ops tf, Operand e, Operand sum) {
    return tf.math.div(e, sum);
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    MeshOps m = new MeshOps(graph());
    MeshTensor y = output();
    MeshTensor dy = dys.get(0);
    MeshTensor dot = m.reduceSum(m.mul(dy, y), dim);
    return List.of(m.mul(y, m.sub(dy, dot)));
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
