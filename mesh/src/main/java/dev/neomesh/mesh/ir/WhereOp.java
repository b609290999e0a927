package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.SliceAlign;
import java.util.Arrays;
import java.util.List;
import org.tensorflow.Operand;

/** {@code cond ? a : b} elementwise, with broadcasting by dim name; slicewise. */
public final class WhereOp extends Op {
  WhereOp(MeshGraph g, MeshTensor cond, MeshTensor a, MeshTensor b) {
    super(g, "where", List.of(cond, a, b));
    if (cond.dtype() != DType.BOOL || a.dtype() != b.dtype()) {
      throw new IllegalArgumentException("where needs a bool condition and equal dtypes: " + inputs());
    }
    addOutput(BinaryOp.broadcastShape(BinaryOp.broadcastShape(a.shape(), b.shape()), cond.shape()), a.dtype());
  }

  @Override
  public void lower(LoweringContext l) {
    Shape out = output().shape();
    Shape outSlice = l.layout(output()).sliceShape();
    Shape[] in = inputs().stream().map(t -> l.layout(t).sliceShape()).toArray(Shape[]::new);
    long[] full = outSlice.sizes();
    l.set(output(), l.slicewise((tf, p, s) -> select(tf,
        SliceAlign.expandTo(tf, s.get(0), in[0], out, outSlice), SliceAlign.expandTo(tf, s.get(1), in[1], out, outSlice),
        SliceAlign.expandTo(tf, s.get(2), in[2], out, outSlice), full), inputs().toArray(MeshTensor[]::new)));
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static Operand<?> select(org.tensorflow.op.Ops tf, Operand c, Operand a, Operand b, long[] shape) {
    Operand<?> full = tf.constant(shape);
    return tf.select(tf.broadcastTo(c, (Operand) full), tf.broadcastTo(a, (Operand) full), tf.broadcastTo(b, (Operand) full));
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    MeshOps m = new MeshOps(graph());
    MeshTensor dy = dys.get(0);
    MeshTensor zero = m.constant(0.0, Shape.SCALAR, dy.dtype());
    MeshTensor cond = inputs().get(0);
    return Arrays.asList(null, m.sumTo(m.where(cond, dy, zero), inputs().get(1).shape()),
        m.sumTo(m.where(cond, zero, dy), inputs().get(2).shape()));
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
