package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.Tf;
import java.util.Arrays;
import java.util.List;

/** Converts the element type; slicewise. */
public final class CastOp extends Op {
  CastOp(MeshGraph g, MeshTensor x, DType to) {
    super(g, "cast", List.of(x));
    addOutput(x.shape(), to);
  }

  @Override
  public boolean hasGradient() {
    return inputs().get(0).dtype().isFloating() && output().dtype().isFloating();
  }

  @Override
  public void lower(LoweringContext l) {
    DType to = output().dtype();
    l.set(output(), l.slicewise((tf, p, s) -> Tf.cast(tf, s.get(0), to), inputs().get(0)));
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    return Arrays.asList(new MeshOps(graph()).cast(dys.get(0), inputs().get(0).dtype()));
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
