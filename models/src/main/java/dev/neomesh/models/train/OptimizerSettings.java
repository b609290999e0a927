package dev.neomesh.models.train;

import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.Locale;
import java.util.function.Predicate;

/**
 * The optimizer keys of a model config: {@code opt_name} ({@code adam}, {@code adafactor},
 * {@code sgd}), Adam's {@code beta1, beta2, epsilon, weight_decay} and optional bias correction,
 * Adafactor's {@code beta1, ada_epsilon1, ada_epsilon2}, and {@code gradient_clipping} (0 = none).
 *
 * @param fusedAdam how Adam updates a parameter when a step has one microbatch: true (the default)
 *     for TensorFlow's in-place {@code ResourceApplyAdam} kernel on each device slice
 *     ({@code MeshOps#applyAdam}), false for the same formula written as mesh ops and assigned (the
 *     form microbatching always uses, since it gates the assignment). Both give the formula's values;
 *     the option exists to compare the two forms or rule the kernel out, not to change the numbers.
 */
public record OptimizerSettings(String name, double beta1, double beta2, double epsilon, double weightDecay,
    boolean biasCorrection, double adaEpsilon1, double adaEpsilon2, double gradientClipping, boolean fusedAdam) {

  public static OptimizerSettings adam(double beta1, double beta2, double epsilon, double weightDecay) {
    return new OptimizerSettings("adam", beta1, beta2, epsilon, weightDecay, false, 1e-30, 1e-3, 0, true);
  }

  public OptimizerSettings withClipping(double clip) {
    return new OptimizerSettings(name, beta1, beta2, epsilon, weightDecay, biasCorrection, adaEpsilon1, adaEpsilon2,
        clip, fusedAdam);
  }

  public OptimizerSettings withBiasCorrection(boolean on) {
    return new OptimizerSettings(name, beta1, beta2, epsilon, weightDecay, on, adaEpsilon1, adaEpsilon2,
        gradientClipping, fusedAdam);
  }

  /** The same settings with Adam's update as the fused kernel ({@code true}) or as mesh ops. */
  public OptimizerSettings withFusedAdam(boolean fused) {
    return new OptimizerSettings(name, beta1, beta2, epsilon, weightDecay, biasCorrection, adaEpsilon1, adaEpsilon2,
        gradientClipping, fused);
  }

  /** The update rule; {@code decays} picks the parameters that take weight decay. */
  public Optimizer create(Predicate<MeshTensor> decays) {
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "adam" -> new Adam(this, decays);
      case "adafactor" -> new Adafactor(beta1, adaEpsilon1, adaEpsilon2);
      case "sgd" -> new Sgd();
      default -> throw new NeomeshException("opt_name \"" + name + "\" is not an optimizer: use adam, adafactor or sgd");
    };
  }
}
