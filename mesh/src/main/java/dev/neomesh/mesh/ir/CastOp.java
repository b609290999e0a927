package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.comm.CommPlan;
import dev.neomesh.mesh.comm.PlanContext;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.Tf;
import java.util.Arrays;
import java.util.List;

/**
 * Converts the element type; slicewise. Its gradient is cast back to {@code gradDtype}: the input's
 * dtype, or for {@link MeshOps#castWithGradient} another (float32 for a bfloat16 parameter, whose
 * gradient is then summed over the data-parallel axes in float32). That gradient cast
 * {@code keepsSum}: it casts each device's partial sum and leaves the sum pending, so the sum is
 * carried out later in the wider dtype instead of in the narrow one before the cast.
 */
public final class CastOp extends Op {
  private final DType gradDtype;
  private final boolean keepsSum;

  CastOp(MeshGraph g, MeshTensor x, DType to) {
    this(g, x, to, x.dtype(), false);
  }

  CastOp(MeshGraph g, MeshTensor x, DType to, DType gradDtype, boolean keepsSum) {
    super(g, "cast", List.of(x));
    this.gradDtype = gradDtype;
    this.keepsSum = keepsSum;
    addOutput(x.shape(), to);
  }

  @Override
  public boolean hasGradient() {
    return inputs().get(0).dtype().isFloating() && output().dtype().isFloating();
  }

  @Override
  public CommPlan plan(PlanContext c) {
    return keepsSum ? CommPlan.builder(c).pendingSum(c.pendingSum(inputs().get(0))).build() : super.plan(c);
  }

  @Override
  public void lower(LoweringContext l) {
    DType to = output().dtype();
    MeshTensor x = inputs().get(0);
    l.set(output(), l.slicewise((tf, p, s) -> Tf.cast(tf, s.get(0), to),
        List.of(keepsSum ? l.partial(x) : l.get(x))));
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    if (gradDtype == inputs().get(0).dtype()) {
      return Arrays.asList(new MeshOps(graph()).cast(dys.get(0), gradDtype));
    }
    return Arrays.asList(dys.get(0).dtype() == gradDtype ? dys.get(0)
        : new CastOp(graph(), dys.get(0), gradDtype, dys.get(0).dtype(), true).output());
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
