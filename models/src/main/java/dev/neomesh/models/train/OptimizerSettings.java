package dev.neomesh.models.train;

import dev.neomesh.mesh.ir.MeshTensor;
import java.util.function.Predicate;
import java.util.function.ToDoubleFunction;

/**
 * The optimizer keys of a model config: {@code opt_name} ({@link Kind}), Adam's {@code beta1, beta2,
 * epsilon, weight_decay} and optional bias correction, Adafactor's {@code beta1, ada_epsilon1,
 * ada_epsilon2}, and {@code gradient_clipping} (0 = none).
 *
 * @param kind the update rule ({@code opt_name})
 * @param fusedAdam how Adam updates a parameter when a step has one microbatch: true (the default)
 *     for TensorFlow's in-place {@code ResourceApplyAdam} kernel on each device slice
 *     ({@code MeshOps#applyAdam}), false for the same formula written as mesh ops and assigned (the
 *     form microbatching always uses, since it gates the assignment). Both give the formula's values;
 *     the option exists to compare the two forms or rule the kernel out, not to change the numbers.
 * @param zeroStage {@code zero_stage} (a neomesh key, DeepSpeed's stages): 0 keeps optimizer state
 *     replicated over the data-parallel axis; 1 shards it over the axis {@code batch} is split on; 2
 *     also reduce-scatters the gradients; 3 also stores the parameters sharded, gathered at each use
 *     ({@link ZeroSharding}; the model must be built with the same stage)
 */
public record OptimizerSettings(Kind kind, double beta1, double beta2, double epsilon, double weightDecay,
    boolean biasCorrection, double adaEpsilon1, double adaEpsilon2, double gradientClipping, boolean fusedAdam,
    int zeroStage) {

  /** Settings without ZeRO sharding (stage 0). */
  public OptimizerSettings(Kind kind, double beta1, double beta2, double epsilon, double weightDecay,
      boolean biasCorrection, double adaEpsilon1, double adaEpsilon2, double gradientClipping, boolean fusedAdam) {
    this(kind, beta1, beta2, epsilon, weightDecay, biasCorrection, adaEpsilon1, adaEpsilon2, gradientClipping,
        fusedAdam, 0);
  }

  /**
   * The update rules of {@code opt_name}: GPT-Neo's Adam and Adafactor, and plain SGD (a neomesh
   * addition). GPT-Neo runs Adafactor for any name but {@code adam}; the config accepts these three.
   */
  public enum Kind { ADAM, ADAFACTOR, SGD }

  public static OptimizerSettings adam(double beta1, double beta2, double epsilon, double weightDecay) {
    return new OptimizerSettings(Kind.ADAM, beta1, beta2, epsilon, weightDecay, false, 1e-30, 1e-3, 0, true);
  }

  public OptimizerSettings withClipping(double clip) {
    return new OptimizerSettings(kind, beta1, beta2, epsilon, weightDecay, biasCorrection, adaEpsilon1, adaEpsilon2,
        clip, fusedAdam, zeroStage);
  }

  public OptimizerSettings withBiasCorrection(boolean on) {
    return new OptimizerSettings(kind, beta1, beta2, epsilon, weightDecay, on, adaEpsilon1, adaEpsilon2,
        gradientClipping, fusedAdam, zeroStage);
  }

  /** The same settings with Adam's update as the fused kernel ({@code true}) or as mesh ops. */
  public OptimizerSettings withFusedAdam(boolean fused) {
    return new OptimizerSettings(kind, beta1, beta2, epsilon, weightDecay, biasCorrection, adaEpsilon1, adaEpsilon2,
        gradientClipping, fused, zeroStage);
  }

  /** The same settings with ZeRO stage {@code stage} (0-3). */
  public OptimizerSettings withZeroStage(int stage) {
    return new OptimizerSettings(kind, beta1, beta2, epsilon, weightDecay, biasCorrection, adaEpsilon1, adaEpsilon2,
        gradientClipping, fusedAdam, stage);
  }

  /** The update rule; {@code decays} picks the parameters that take weight decay. */
  public Optimizer create(Predicate<MeshTensor> decays) {
    return create(decays, t -> 1.0);
  }

  /**
   * The update rule; {@code decays} picks the parameters that take weight decay, and each parameter's
   * learning rate is the fed one times {@code lrMultiplier} of it (μP's per-parameter rates).
   */
  public Optimizer create(Predicate<MeshTensor> decays, ToDoubleFunction<MeshTensor> lrMultiplier) {
    return switch (kind) {
      case ADAM -> new Adam(this, decays, lrMultiplier);
      case ADAFACTOR -> new Adafactor(beta1, adaEpsilon1, adaEpsilon2, lrMultiplier);
      case SGD -> new Sgd(lrMultiplier);
    };
  }
}
