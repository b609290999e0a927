package dev.neomesh.models.train;

import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.ToDoubleFunction;

/**
 * Adam as GPT-Neo runs it (Mesh-TensorFlow's {@code AdamWeightDecayOptimizer}):
 * <pre>
 *   m = β1·m + (1−β1)·g        v = β2·v + (1−β2)·g²
 *   w −= lr·k·( m/(√v + ε) + wd·w )      (wd only where {@code decays} says so)
 * </pre>
 * where k is the parameter's learning-rate multiplier (μP's 1/width_mult for hidden matrices; 1 by
 * default)
 * with no bias correction unless {@code biasCorrection} (then {@code m/(1−β1^t)} and
 * {@code v/(1−β2^t)}, t = step + 1, fed from the host). The slots {@code <name>/adam_m} and
 * {@code <name>/adam_v} are variables of the parameter's shape, so they share its layout and are
 * checkpointed with it. {@link #apply} (a step without microbatching) uses TensorFlow's fused
 * kernel through {@link MeshOps#applyAdam}, the same update in one pass, unless
 * {@link OptimizerSettings#fusedAdam} is false; {@link #updates} is the rule as mesh ops, which
 * microbatching gates with a {@code where}.
 */
public final class Adam implements Optimizer {
  private final double beta1;
  private final double beta2;
  private final double epsilon;
  private final double weightDecay;
  private final boolean biasCorrection;
  private final boolean fused;
  private final Predicate<MeshTensor> decays;
  private final ToDoubleFunction<MeshTensor> lrMultiplier;

  /** Adam with {@code o}'s beta1, beta2, epsilon, weight decay, bias correction and fused-kernel choice. */
  public Adam(OptimizerSettings o, Predicate<MeshTensor> decays) {
    this(o, decays, t -> 1.0);
  }

  /** The same, each parameter at the fed learning rate times {@code lrMultiplier} of it (μP's rates). */
  public Adam(OptimizerSettings o, Predicate<MeshTensor> decays, ToDoubleFunction<MeshTensor> lrMultiplier) {
    this.beta1 = o.beta1();
    this.beta2 = o.beta2();
    this.epsilon = o.epsilon();
    this.weightDecay = o.weightDecay();
    this.biasCorrection = o.biasCorrection();
    this.fused = o.fusedAdam();
    this.decays = decays;
    this.lrMultiplier = lrMultiplier;
  }

  @Override
  public void apply(MeshOps m, List<MeshTensor> params, List<MeshTensor> grads, MeshTensor lr, StepFeeds feeds) {
    if (!fused) {
      Optimizer.super.apply(m, params, grads, lr, feeds);
      return;
    }
    MeshTensor p1 = biasCorrection ? feeds.scalar("adam_beta1_power", t -> Math.pow(beta1, t + 1))
        : m.scalar(0, DType.FLOAT32);
    MeshTensor p2 = biasCorrection ? feeds.scalar("adam_beta2_power", t -> Math.pow(beta2, t + 1))
        : m.scalar(0, DType.FLOAT32);
    for (int i = 0; i < params.size(); i++) {
      MeshTensor w = params.get(i);
      String name = Optimizer.nameOf(m, w);
      MeshTensor mSlot = m.variable(name + "/adam_m", m.zeros(w.shape(), w.dtype()), false);
      MeshTensor vSlot = m.variable(name + "/adam_v", m.zeros(w.shape(), w.dtype()), false);
      double wd = weightDecay != 0 && decays.test(w) ? weightDecay : 0;
      MeshTensor rate = Optimizer.rate(m, lr, lrMultiplier.applyAsDouble(w));
      m.applyAdam(w, mSlot, vSlot, grads.get(i), m.cast(rate, w.dtype()), m.cast(p1, w.dtype()), m.cast(p2, w.dtype()),
          beta1, beta2, epsilon, wd);
    }
  }

  @Override
  public List<Update> updates(MeshOps m, List<MeshTensor> params, List<MeshTensor> grads, MeshTensor lr,
      StepFeeds feeds) {
    MeshTensor c1 = null;
    MeshTensor c2 = null;
    if (biasCorrection) {
      c1 = feeds.scalar("adam_correction_1", t -> 1 / (1 - Math.pow(beta1, t + 1)));
      c2 = feeds.scalar("adam_correction_2", t -> 1 / (1 - Math.pow(beta2, t + 1)));
    }
    List<Update> out = new ArrayList<>();
    for (int i = 0; i < params.size(); i++) {
      MeshTensor w = params.get(i);
      MeshTensor g = grads.get(i);
      String name = Optimizer.nameOf(m, w);
      MeshTensor mSlot = m.variable(name + "/adam_m", m.zeros(w.shape(), w.dtype()), false);
      MeshTensor vSlot = m.variable(name + "/adam_v", m.zeros(w.shape(), w.dtype()), false);
      // read only once the gradient exists: else TensorFlow computes β1·m, β2·v and wd·w as soon as
      // the step starts and holds them, three buffers per parameter, through the forward and backward
      MeshTensor mRead = m.after(mSlot, g);
      MeshTensor vRead = m.after(vSlot, g);
      MeshTensor wRead = m.after(w, g);
      MeshTensor mNew = m.add(m.mul(mRead, beta1), m.mul(g, 1 - beta1));
      MeshTensor vNew = m.add(m.mul(vRead, beta2), m.mul(m.square(g), 1 - beta2));
      MeshTensor mHat = biasCorrection ? m.mul(mNew, m.cast(c1, w.dtype())) : mNew;
      MeshTensor vHat = biasCorrection ? m.mul(vNew, m.cast(c2, w.dtype())) : vNew;
      MeshTensor update = m.div(mHat, m.add(m.sqrt(vHat), epsilon));
      if (weightDecay != 0 && decays.test(w)) {
        update = m.add(update, m.mul(wRead, weightDecay));
      }
      MeshTensor rate = Optimizer.rate(m, lr, lrMultiplier.applyAsDouble(w));
      out.add(new Update(w, m.sub(wRead, m.mul(update, m.cast(rate, w.dtype())))));
      out.add(new Update(mSlot, mNew));
      out.add(new Update(vSlot, vNew));
    }
    return out;
  }
}
