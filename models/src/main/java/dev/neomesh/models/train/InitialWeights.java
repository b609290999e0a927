package dev.neomesh.models.train;

import dev.neomesh.mesh.ckpt.Manifest;
import java.util.List;

/**
 * Weights a run starts from instead of its random initialisation (an imported HuggingFace or
 * GPT-Neo model, {@code --init_from}), given whole, one parameter at a time, with neomesh's names
 * and shapes. The trainer writes them as a checkpoint and restores the model's parameters from it
 * with the run's own layout; the optimizer's state starts as initialised.
 */
public interface InitialWeights extends AutoCloseable {
  /** Where the weights come from, for messages ("HuggingFace GPT-Neo hf/"). */
  String source();

  /**
   * Fails with one message naming every problem (a missing tensor, a shape that differs) when these
   * weights cannot give {@code parameters} (the program's trainable variables); before anything is
   * built or written.
   */
  void check(List<Manifest.Entry> parameters);

  /** The whole float32 value of {@code parameter}, C order, in neomesh's shape. */
  float[] values(Manifest.Entry parameter);

  @Override
  void close();
}
