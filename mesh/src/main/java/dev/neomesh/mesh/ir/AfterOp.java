package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.comm.CommPlan;
import dev.neomesh.mesh.comm.PlanContext;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.Tf;
import java.util.Arrays;
import java.util.List;

/**
 * {@code x}, but only once every trigger has been computed: on each device an identity of x's slice
 * with control dependencies on that device's slices of the triggers, so it communicates nothing
 * (a trigger may even be a pending sum: only its existence is awaited). Recomputation
 * ({@link MeshOps#recompute}) reads a segment's inputs through it, gated on the gradient arriving at
 * the segment's outputs and on the parameter gradients of the segment differentiated before it, so
 * TensorFlow can neither run the recomputed forward early and keep its activations alive, which
 * would undo the memory it saves, nor hold two segments' copies at once. The gradient flows to x alone.
 */
public final class AfterOp extends Op {
  AfterOp(MeshGraph g, MeshTensor x, List<MeshTensor> triggers) {
    super(g, "after", concat(x, triggers));
    addOutput(x.shape(), x.dtype());
  }

  private static List<MeshTensor> concat(MeshTensor x, List<MeshTensor> triggers) {
    if (triggers.isEmpty()) {
      throw new IllegalArgumentException("after(" + x + ") needs at least one trigger");
    }
    List<MeshTensor> all = new java.util.ArrayList<>(List.of(x));
    all.addAll(triggers);
    return all;
  }

  /** Resolves a pending sum of x only; the triggers are awaited as they are. */
  @Override
  public CommPlan plan(PlanContext c) {
    return CommPlan.resolving(c, inputs().subList(0, 1));
  }

  @Override
  public void lower(LoweringContext l) {
    List<dev.neomesh.mesh.lower.LaidOutTensor> ins = new java.util.ArrayList<>(List.of(l.get(inputs().get(0))));
    for (MeshTensor t : inputs().subList(1, inputs().size())) {
      ins.add(l.partial(t));
    }
    l.set(output(), l.slicewise((tf, p, s) -> Tf.identity(
        tf.withControlDependencies(new java.util.ArrayList<org.tensorflow.op.Op>(s.subList(1, s.size()))), s.get(0)),
        ins));
  }

  @Override
  public boolean hasGradient() {
    return inputs().get(0).dtype().isFloating();
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    MeshTensor[] dxs = new MeshTensor[inputs().size()];
    dxs[0] = dys.get(0);
    return Arrays.asList(dxs);
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
