package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.Tf;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;

/** A tensor filled with one value; every device builds its own slice. */
public final class ConstantOp extends Op {
  private final double value;

  ConstantOp(MeshGraph g, double value, Shape shape, DType dtype) {
    super(g, "constant", List.of());
    this.value = value;
    addOutput(shape, dtype);
  }

  public double value() {
    return value;
  }

  @Override
  public void lower(LoweringContext l) {
    long[] slice = l.layout(output()).sliceShape().sizes();
    List<Operand<?>> out = new ArrayList<>();
    for (int p = 0; p < l.mesh().size(); p++) {
      out.add(slice.length == 0 ? Tf.constant(l.tf(p), value, output().dtype())
          : Tf.fill(l.tf(p), slice, value, output().dtype()));
    }
    l.set(output(), LaidOutTensor.of(out));
  }

  @Override
  public boolean hasGradient() {
    return false;
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
