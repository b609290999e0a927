package dev.neomesh.models.train;

import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.List;

/**
 * An update rule written on the mesh graph: given the parameters (variable values), their
 * gradients and the fed learning rate, the new value of every parameter and of every slot
 * variable it creates. Slots are variables with the parameter's shape (or a part of it), so they
 * inherit its layout through the dim names. The caller assigns the values (directly, or gated
 * when microbatching), which keeps the rule itself a few lines of math.
 */
public interface Optimizer {
  /** {@code variable} (a variable's value) takes {@code value} at the end of the step. */
  record Update(MeshTensor variable, MeshTensor value) {}

  /**
   * The new values. {@code lr} is a float32 scalar; {@code feeds} registers any other
   * step-dependent scalar the rule needs.
   */
  List<Update> updates(MeshOps m, List<MeshTensor> params, List<MeshTensor> grads, MeshTensor lr, StepFeeds feeds);

  /**
   * Adds the step's updates to the graph, unconditionally (one microbatch per step): by default
   * assigns {@link #updates}; a rule with a fused kernel may update in place instead.
   */
  default void apply(MeshOps m, List<MeshTensor> params, List<MeshTensor> grads, MeshTensor lr, StepFeeds feeds) {
    for (Update u : updates(m, params, grads, lr, feeds)) {
      m.assign(u.variable(), u.value());
    }
  }

  /**
   * The learning rate of one parameter: the fed rate {@code lr} times {@code multiplier} (the model's
   * per-parameter factor, {@link LanguageModel.Outputs#lrMultiplier}), or {@code lr} itself when it is 1.
   */
  static MeshTensor rate(MeshOps m, MeshTensor lr, double multiplier) {
    return multiplier == 1.0 ? lr : m.mul(lr, multiplier);
  }

  /**
   * The variable's mesh name (for slot names and messages); for a ZeRO sharded view
   * ({@link ZeroSharding#shard}, possibly of the variable read through {@link MeshOps#after}), its
   * variable's, and for a bfloat16 parameter's float32 master ({@link OptimizerTargets}) the
   * parameter's (its checkpoint name), so the slots keep their names under every stage and precision.
   */
  static String nameOf(MeshOps m, MeshTensor param) {
    MeshTensor v = param.op() instanceof dev.neomesh.mesh.ir.ReshapeOp r ? r.inputs().get(0) : param;
    while (v.op() instanceof dev.neomesh.mesh.ir.AfterOp a) {
      v = a.inputs().get(0);
    }
    return m.variableOp(v).checkpointName();
  }
}
