package dev.neomesh.models.train;

import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.ToDoubleFunction;

/**
 * What the trainer needs of a model: built on a graph from int32 {@code [batch, sequence]}
 * tokens and labels, it gives a float32 scalar loss, logits {@code [batch, sequence, vocab]}, its
 * trainable parameters (variable values), which of them take weight decay, and each one's
 * learning-rate multiplier (μP's per-parameter rates; 1 for a model without them). Both per-parameter
 * functions read a parameter by {@link Optimizer#nameOf}, so ZeRO's sharded views get their
 * variable's answer. The GPT of {@code dev.neomesh.models.gpt} is one; tests use small stand-ins.
 */
@FunctionalInterface
public interface LanguageModel {
  /**
   * The built model. {@code lrMultiplier}: the factor the optimizer multiplies the fed learning
   * rate by for each parameter.
   */
  record Outputs(MeshTensor loss, MeshTensor logits, List<MeshTensor> parameters, Predicate<MeshTensor> decays,
                 ToDoubleFunction<MeshTensor> lrMultiplier) {
    /** Every parameter at the fed learning rate. */
    public Outputs(MeshTensor loss, MeshTensor logits, List<MeshTensor> parameters, Predicate<MeshTensor> decays) {
      this(loss, logits, parameters, decays, t -> 1.0);
    }
  }

  Outputs build(MeshOps m, MeshTensor tokens, MeshTensor labels, boolean train);

  /** GPT-Neo's rule: no weight decay for variables whose name contains "norm" or "bias". */
  static Predicate<MeshTensor> decayUnlessNormOrBias(MeshOps m) {
    return t -> {
      String n = Optimizer.nameOf(m, t).toLowerCase(java.util.Locale.ROOT);
      return !n.contains("norm") && !n.contains("bias");
    };
  }
}
