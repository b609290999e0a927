package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.SliceAlign;
import dev.neomesh.mesh.lower.Tf;
import java.util.List;
import org.tensorflow.op.Ops;

/** Sets a variable to a new value: each device assigns its own slice. A step runs all of them. */
public final class AssignOp extends Op {
  private final VariableOp variable;

  AssignOp(MeshGraph g, VariableOp variable, MeshTensor value) {
    super(g, "assign_" + variable.name(), List.of(value));
    if (!value.shape().sameDims(variable.output().shape())) {
      throw new IllegalArgumentException("cannot assign " + value + " to variable " + variable.output());
    }
    if (value.dtype() != variable.output().dtype()) {
      throw new IllegalArgumentException("cannot assign " + value.dtype() + " to " + variable.output());
    }
    this.variable = variable;
  }

  public VariableOp variable() {
    return variable;
  }

  @Override
  public boolean hasGradient() {
    return false;
  }

  @Override
  public void lower(LoweringContext l) {
    LaidOutTensor v = l.get(inputs().get(0));
    List<org.tensorflow.Operand<?>> handles = l.variable(variable).handles();
    int[] perm = SliceAlign.permutation(inputs().get(0).shape(), variable.output().shape());
    for (int p = 0; p < l.mesh().size(); p++) {
      Ops tf = l.tf(p);
      l.addUpdate(tf.assignVariableOp(handles.get(p), Tf.transpose(tf, v.slice(p), perm)));
    }
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
