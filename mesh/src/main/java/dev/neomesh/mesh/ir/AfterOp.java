package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.comm.CommPlan;
import dev.neomesh.mesh.comm.PlanContext;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.Tf;
import java.util.Arrays;
import java.util.List;

/**
 * {@code x}, but only once {@code trigger} has been computed: on each device an identity of x's slice
 * with a control dependency on that device's slice of {@code trigger}, so it communicates nothing
 * (trigger may even be a pending sum: only its existence is awaited). Recomputation
 * ({@link MeshOps#recompute}) reads a segment's inputs through it, gated on the gradient arriving at
 * the segment's outputs, so TensorFlow cannot run the recomputed forward early and keep its
 * activations alive, which would undo the memory it saves. The gradient flows to x alone.
 */
public final class AfterOp extends Op {
  AfterOp(MeshGraph g, MeshTensor x, MeshTensor trigger) {
    super(g, "after", List.of(x, trigger));
    addOutput(x.shape(), x.dtype());
  }

  /** Resolves a pending sum of x only; the trigger is awaited as it is. */
  @Override
  public CommPlan plan(PlanContext c) {
    return CommPlan.resolving(c, inputs().subList(0, 1));
  }

  @Override
  public void lower(LoweringContext l) {
    l.set(output(), l.slicewise(
        (tf, p, s) -> Tf.identity(tf.withControlDependencies(List.of(s.get(1))), s.get(0)),
        List.of(l.get(inputs().get(0)), l.partial(inputs().get(1)))));
  }

  @Override
  public boolean hasGradient() {
    return inputs().get(0).dtype().isFloating();
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    return Arrays.asList(dys.get(0), null);
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
