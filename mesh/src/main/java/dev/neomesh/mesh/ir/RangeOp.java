package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.Tf;
import dev.neomesh.mesh.lower.LaidOutTensor;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/** {@code 0, 1, ..., n-1} along one dim; each device makes its own part of the range. */
public final class RangeOp extends Op {
  RangeOp(MeshGraph g, Dim dim, DType dtype) {
    super(g, "range", List.of());
    addOutput(Shape.of(dim), dtype);
  }

  @Override
  public boolean hasGradient() {
    return false;
  }

  @Override
  public void lower(LoweringContext l) {
    TensorLayout layout = l.layout(output());
    long len = layout.sliceShape().get(0).size();
    List<Operand<?>> out = new ArrayList<>();
    for (int p = 0; p < l.mesh().size(); p++) {
      out.add(range(l.tf(p), layout.sliceBegin(p)[0], len, output().dtype()));
    }
    l.set(output(), LaidOutTensor.of(out));
  }

  static Operand<?> range(Ops tf, long begin, long len, DType dtype) {
    Operand<?> r = tf.range(tf.constant(begin), tf.constant(begin + len), tf.constant(1L));
    return dtype == DType.INT64 ? r : Tf.cast(tf, r, dtype);
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
