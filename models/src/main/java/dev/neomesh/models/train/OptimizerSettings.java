package dev.neomesh.models.train;

import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.Locale;
import java.util.function.Predicate;

/**
 * The optimizer keys of a model config: {@code opt_name} ({@code adam}, {@code adafactor},
 * {@code sgd}), Adam's {@code beta1, beta2, epsilon, weight_decay} and optional bias correction,
 * Adafactor's {@code beta1, ada_epsilon1, ada_epsilon2}, and {@code gradient_clipping} (0 = none).
 */
public record OptimizerSettings(String name, double beta1, double beta2, double epsilon, double weightDecay,
    boolean biasCorrection, double adaEpsilon1, double adaEpsilon2, double gradientClipping) {

  public static OptimizerSettings adam(double beta1, double beta2, double epsilon, double weightDecay) {
    return new OptimizerSettings("adam", beta1, beta2, epsilon, weightDecay, false, 1e-30, 1e-3, 0);
  }

  public OptimizerSettings withClipping(double clip) {
    return new OptimizerSettings(name, beta1, beta2, epsilon, weightDecay, biasCorrection, adaEpsilon1, adaEpsilon2,
        clip);
  }

  public OptimizerSettings withBiasCorrection(boolean on) {
    return new OptimizerSettings(name, beta1, beta2, epsilon, weightDecay, on, adaEpsilon1, adaEpsilon2,
        gradientClipping);
  }

  /** The update rule; {@code decays} picks the parameters that take weight decay. */
  public Optimizer create(Predicate<MeshTensor> decays) {
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "adam" -> new Adam(beta1, beta2, epsilon, weightDecay, biasCorrection, decays);
      case "adafactor" -> new Adafactor(beta1, adaEpsilon1, adaEpsilon2);
      case "sgd" -> new Sgd();
      default -> throw new NeomeshException("opt_name \"" + name + "\" is not an optimizer: use adam, adafactor or sgd");
    };
  }
}
