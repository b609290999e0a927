package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.Tf;
import java.util.Arrays;
import java.util.List;

/** The identity in the forward pass; no gradient flows back through it. */
public final class StopGradientOp extends Op {
  StopGradientOp(MeshGraph g, MeshTensor x) {
    super(g, "stop_gradient", List.of(x));
    addOutput(x.shape(), x.dtype());
  }

  @Override
  public void lower(LoweringContext l) {
    l.set(output(), l.slicewise((tf, p, s) -> Tf.identity(tf, s.get(0)), inputs().get(0)));
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    return Arrays.asList((MeshTensor) null);
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
