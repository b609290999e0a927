package dev.neomesh.models.train;

import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the optimizer updates for each trainable parameter, with which gradient, and how the new
 * value gets back to the parameter: the one place for ZeRO's and the masters' bookkeeping, so the
 * step with and without microbatching differ only in their gradients and gates.
 * <ul>
 * <li>The target is the parameter itself (no ZeRO, or stage 3, whose parameters are stored as
 *     sharded views), or under stages 1 and 2 its sharded view ({@link ZeroSharding#shard}), whose
 *     gradient is the reduce-scatter of the pending sum; the new value is gathered back.
 * <li>A bfloat16 parameter ({@code parameter_precision: bfloat16}) is trained through a float32
 *     master {@code <name>/master}, a non-trainable variable of the target's shape (so under ZeRO it
 *     is sharded like the slots, otherwise replicated like the parameter): the optimizer reads and
 *     writes the master, and the parameter is set to bfloat16 of the new master (cast before the
 *     gather, so stages 1 and 2 gather bfloat16). The master is checkpointed as the float32
 *     parameter itself ({@link dev.neomesh.mesh.ir.VariableOp#checkpointName}), and the slots and
 *     gradients are float32, so the optimizer cannot tell it from a float32 parameter.
 * </ul>
 */
final class OptimizerTargets {
  private final List<MeshTensor> params;
  private final List<MeshTensor> targets;
  private final List<MeshTensor> grads;
  private final boolean views;
  private final Map<MeshTensor, Integer> index = new IdentityHashMap<>();

  private OptimizerTargets(List<MeshTensor> params, List<MeshTensor> targets, List<MeshTensor> grads, boolean views) {
    this.params = params;
    this.targets = targets;
    this.grads = grads;
    this.views = views;
    for (int i = 0; i < targets.size(); i++) {
      index.put(targets.get(i), i);
    }
  }

  /** The targets of {@code params} with gradients {@code grads} (one microbatch's) under {@code zeroStage}. */
  static OptimizerTargets of(MeshOps m, List<MeshTensor> params, List<MeshTensor> grads, int zeroStage) {
    boolean views = zeroStage > 0 && !ZeroSharding.stores(zeroStage);
    if (zeroStage > 0) {
      ZeroSharding.declare(m, params);
    }
    if (ZeroSharding.stores(zeroStage)) {
      for (MeshTensor p : params) {
        if (p.shape().rank() > 0 && !p.shape().dims().get(0).name().startsWith(ZeroSharding.PREFIX)) {
          throw new IllegalArgumentException("zero_stage 3 needs the model to store its parameters as sharded views, "
              + "but " + Optimizer.nameOf(m, p) + " is " + p.shape() + ": build the model with zero_stage 3 too");
        }
      }
    }
    List<MeshTensor> targets = new ArrayList<>();
    List<MeshTensor> targetGrads = new ArrayList<>();
    for (int i = 0; i < params.size(); i++) {
      MeshTensor p = params.get(i);
      MeshTensor g = views ? ZeroSharding.shard(m, grads.get(i)) : grads.get(i);
      // a view is sliced from its parameter once the gradient's shard exists, not held from the step's start
      MeshTensor target = views ? ZeroSharding.shard(m, m.after(p, g)) : p;
      if (p.dtype() != DType.FLOAT32) {
        String name = m.variableOp(p).checkpointName();
        // starts at the parameter's initial value, which is bf16-rounded: master and parameter agree from step 0
        MeshTensor init = m.cast(m.variableOp(p).initialValue(), DType.FLOAT32);
        target = m.variable(name + "/master", views ? ZeroSharding.shard(m, init) : init, false, name, DType.FLOAT32);
        g = m.cast(g, DType.FLOAT32); // already float32 for a read through castWithGradient
      }
      targets.add(target);
      targetGrads.add(g);
    }
    return new OptimizerTargets(params, targets, targetGrads, views);
  }

  /** What the optimizer updates, in the order of the parameters. */
  List<MeshTensor> targets() {
    return targets;
  }

  /** Their gradients (float32 for a master; reduce-scattered for a view). */
  List<MeshTensor> grads() {
    return grads;
  }

  /**
   * Adds {@code optimizer}'s step on the targets with {@code grads} (the targets' gradients after
   * accumulation and clipping): every variable takes its new value where {@code gate} is true, and
   * keeps its value elsewhere ({@code gate} null: unconditionally, and a rule's fused kernel may update
   * the parameters in place when they are their own targets).
   */
  void apply(MeshOps m, Optimizer optimizer, List<MeshTensor> grads, MeshTensor lr, StepFeeds feeds,
      MeshTensor gate) {
    boolean direct = !views && params.stream().allMatch(p -> p.dtype() == DType.FLOAT32);
    if (gate == null && direct) {
      optimizer.apply(m, targets, grads, lr, feeds);
      return;
    }
    for (Optimizer.Update u : optimizer.updates(m, targets, grads, lr, feeds)) {
      Integer i = index.get(u.variable());
      if (i == null) { // a slot: a variable of the target's shape
        assign(m, u.variable(), u.value(), gate);
        continue;
      }
      MeshTensor value = u.value();
      MeshTensor p = params.get(i);
      if (p.dtype() != DType.FLOAT32) {
        assign(m, u.variable(), value, gate);
        value = m.cast(value, p.dtype());
      }
      assign(m, p, views ? ZeroSharding.gather(m, value, p.shape()) : value, gate);
    }
  }

  private static void assign(MeshOps m, MeshTensor variable, MeshTensor value, MeshTensor gate) {
    m.assign(variable, gate == null ? value : m.where(gate, value, variable));
  }
}
