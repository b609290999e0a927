package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.SliceAlign;
import dev.neomesh.mesh.lower.Tf;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/**
 * One Adam step of a variable in place, with TensorFlow's fused {@code ResourceApplyAdam} kernel on
 * each device's slice (one pass over the parameter and its two slots instead of about fourteen
 * elementwise ops and three assignments):
 * <pre>
 *   w −= lr·wd·w                          (decoupled weight decay, first; skipped when wd = 0)
 *   m = β1·m + (1−β1)·g    v = β2·v + (1−β2)·g²
 *   w −= lr·√(1−β2ᵗ)/(1−β1ᵗ) · m/(√v + ε·√(1−β2ᵗ))
 * </pre>
 * which is {@code w − lr·(m̂/(√v̂ + ε) + wd·w)} with {@code m̂ = m/(1−β1ᵗ)}, {@code v̂ = v/(1−β2ᵗ)}:
 * the powers {@code β1ᵗ, β2ᵗ} are inputs, zero for GPT-Neo's Adam without bias correction. Every
 * device updates its own slices (the gradient's pending sums are carried out first), so the op
 * needs no communication. The updates run after the step's read of {@code w} (a control
 * dependency), and TensorFlow copies a variable's buffer before updating it while a read of it is
 * still in use, so every op of the step sees the old value. The decay also waits for the gradient
 * (which, clipped, waits for the whole backward): it reads {@code w}, so it always updates a copy,
 * and run as soon as the learning rate is fed, that copy lived beside the old buffer, which the
 * step's reads kept, through the forward and backward: one more copy of the decayed parameters
 * for the whole step (seen in TensorFlow's allocation records; issue 14).
 */
public final class AdamUpdateOp extends Op {
  private final VariableOp param;
  private final VariableOp m;
  private final VariableOp v;
  private final double beta1;
  private final double beta2;
  private final double epsilon;
  private final double weightDecay;

  AdamUpdateOp(MeshGraph g, VariableOp param, VariableOp m, VariableOp v, MeshTensor grad, MeshTensor lr,
               MeshTensor beta1Power, MeshTensor beta2Power, double beta1, double beta2, double epsilon,
               double weightDecay) {
    super(g, "adam_" + param.name(), List.of(param.output(), grad, lr, beta1Power, beta2Power));
    for (VariableOp slot : List.of(m, v)) {
      if (!slot.output().shape().equals(param.output().shape()) || slot.output().dtype() != param.output().dtype()) {
        throw new IllegalArgumentException("Adam slot " + slot.output() + " does not match " + param.output());
      }
    }
    if (!grad.shape().sameDims(param.output().shape())) {
      throw new IllegalArgumentException("gradient " + grad + " does not match " + param.output());
    }
    for (MeshTensor s : List.of(lr, beta1Power, beta2Power)) {
      if (s.shape().rank() != 0 || s.dtype() != param.output().dtype()) {
        throw new IllegalArgumentException("Adam needs " + param.output().dtype() + " scalars, got " + s);
      }
    }
    this.param = param;
    this.m = m;
    this.v = v;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.epsilon = epsilon;
    this.weightDecay = weightDecay;
  }

  @Override
  public boolean hasGradient() {
    return false;
  }

  @Override
  public void lower(LoweringContext l) {
    LaidOutTensor w = l.get(inputs().get(0));
    LaidOutTensor grad = l.get(inputs().get(1));
    MeshTensor lr = inputs().get(2);
    MeshTensor p1 = inputs().get(3);
    MeshTensor p2 = inputs().get(4);
    int[] perm = SliceAlign.permutation(inputs().get(1).shape(), param.output().shape());
    DType dtype = param.output().dtype();
    for (int p = 0; p < l.mesh().size(); p++) {
      Ops tf = l.tf(p);
      Operand<?> handle = l.variable(param).handles().get(p);
      Operand<?> read = w.slice(p);
      // the decay reads w itself (a data input); Adam waits for the decay, or for the read when there is none
      org.tensorflow.op.Op previous = weightDecay != 0
          ? tf.withControlDependencies(List.of(grad.slice(p))).train.resourceApplyGradientDescent(handle,
              decayRate(l, p, lr, dtype), read) : read;
      l.addUpdate(adam(tf.withControlDependencies(List.of(previous)), l, p, handle, p1, p2, lr,
          Tf.transpose(tf, grad.slice(p), perm), dtype));
    }
  }

  // The scalars below depend only on the step's inputs and constants, the same for every parameter
  // of a step: each device makes them once (LoweringContext.shared), not once per parameter (the
  // baby GPT's step ran 56 copies of each, a sixth of its TensorFlow ops).

  /** lr·wd on device {@code p}. */
  @SuppressWarnings({"unchecked", "rawtypes"})
  private Operand decayRate(LoweringContext l, int p, MeshTensor lr, DType dtype) {
    Operand lrSlice = l.get(lr).slice(p);
    return l.shared(p, () -> l.tf(p).math.mul(lrSlice, (Operand) constant(l, p, weightDecay, dtype)),
        "adam_decay_rate", lr, weightDecay, dtype);
  }

  /** The constant {@code value} of {@code dtype} on device {@code p}. */
  private static Operand<?> constant(LoweringContext l, int p, double value, DType dtype) {
    return l.shared(p, () -> Tf.constant(l.tf(p), value, dtype), "constant", value, dtype);
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private org.tensorflow.op.Op adam(Ops tf, LoweringContext l, int p, Operand<?> w, MeshTensor p1, MeshTensor p2,
                                    MeshTensor lr, Operand grad, DType dtype) {
    Operand p2Slice = l.get(p2).slice(p);
    // ε·√(1−β2ᵗ): ResourceApplyAdam's ε is that of the uncorrected v (see the class comment)
    Operand epsilonHat = l.shared(p, () -> {
      Ops d = l.tf(p);
      return d.math.mul((Operand) constant(l, p, epsilon, dtype),
          d.math.sqrt(d.math.sub((Operand) constant(l, p, 1, dtype), p2Slice)));
    }, "adam_epsilon_hat", p2, epsilon, dtype);
    Operand p1Slice = l.get(p1).slice(p);
    Operand lrSlice = l.get(lr).slice(p);
    return tf.train.resourceApplyAdam(w, l.variable(m).handles().get(p), l.variable(v).handles().get(p), p1Slice,
        p2Slice, lrSlice, (Operand) constant(l, p, beta1, dtype), (Operand) constant(l, p, beta2, dtype),
        epsilonHat, grad);
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
