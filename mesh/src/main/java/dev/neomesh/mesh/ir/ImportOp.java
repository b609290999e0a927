package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.Tf;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;

/**
 * A tensor fed from the host each step (inputs, labels, learning rate). Lowered to one
 * full-shape placeholder on device 0, cut there into the slices the layout asks for, so each
 * device receives only its part.
 */
public final class ImportOp extends Op {
  ImportOp(MeshGraph g, String name, Shape shape, DType dtype) {
    super(g, name, List.of());
    addOutput(shape, dtype);
  }

  @Override
  public boolean hasGradient() {
    return false;
  }

  @Override
  public void lower(LoweringContext l) {
    Ops host = l.tf(0);
    long[] full = output().shape().sizes();
    Operand<?> ph = host.withName(name()).placeholder(output().dtype().tfType(),
        Placeholder.shape(org.tensorflow.ndarray.Shape.of(full)));
    l.registerPlaceholder(output(), ph);
    TensorLayout layout = l.layout(output());
    long[] len = layout.sliceShape().sizes();
    List<Operand<?>> slices = new ArrayList<>();
    for (int p = 0; p < l.mesh().size(); p++) {
      slices.add(layout.isReplicated() ? ph : Tf.slice(host, ph, layout.sliceBegin(p), len));
    }
    l.set(output(), LaidOutTensor.of(slices));
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
