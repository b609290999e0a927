package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.Tf;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/**
 * {@code onehot[..., d] = (indices[...] == d)} for a new dim {@code d}. When that dim is split
 * (a split vocabulary), each device compares against its own index range: no communication.
 */
public final class OneHotOp extends Op {
  private final Dim dim;

  OneHotOp(MeshGraph g, MeshTensor indices, Dim dim, DType dtype) {
    super(g, "one_hot", List.of(indices));
    if (indices.dtype() != DType.INT32 && indices.dtype() != DType.INT64) {
      throw new IllegalArgumentException("one_hot needs integer indices, got " + indices);
    }
    this.dim = dim;
    addOutput(indices.shape().union(dev.neomesh.mesh.Shape.of(dim)), dtype);
  }

  @Override
  public boolean hasGradient() {
    return false;
  }

  @Override
  public void lower(LoweringContext l) {
    TensorLayout layout = l.layout(output());
    int d = output().shape().rank() - 1;
    int depth = (int) layout.sliceShape().get(d).size();
    DType dtype = output().dtype();
    DType idx = inputs().get(0).dtype();
    l.set(output(), l.slicewise((tf, p, s) -> oneHot(tf, s.get(0), layout.sliceBegin(p)[d], depth, dtype, idx),
        inputs().get(0)));
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static Operand<?> oneHot(Ops tf, Operand<?> indices, long begin, int depth, DType dtype, DType idx) {
    Operand local = begin == 0 ? indices : tf.math.sub((Operand) indices, (Operand) Tf.constant(tf, begin, idx));
    return tf.oneHot(local, tf.constant(depth), (Operand) Tf.constant(tf, 1, dtype), (Operand) Tf.constant(tf, 0, dtype));
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
