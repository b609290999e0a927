package dev.neomesh.models.interop;

import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.train.InitialWeights;
import java.nio.file.Files;
import java.nio.file.Path;

/** {@code --init_from DIR}: which format a folder of weights is in, and its reader. */
public final class WeightImports {
  private WeightImports() {}

  /** Opens {@code dir} for starting {@code cfg}'s model; a clear error when it is neither format or does not match. */
  public static InitialWeights open(Path dir, GptConfig cfg) {
    if (!Files.isDirectory(dir)) {
      throw new NeomeshException("--init_from " + dir + " is not a folder: pass a HuggingFace GPT-Neo folder "
          + "(config.json + model.safetensors) or a GPT-Neo checkpoint folder (model.ckpt-N.index ...)");
    }
    // GPT-Neo's folder first: its model_path may also hold a (GPT-Neo, not HuggingFace) config.json
    if (GptNeoWeights.looksLike(dir)) {
      return GptNeoWeights.open(dir);
    }
    if (HfWeights.looksLike(dir)) {
      return HfWeights.open(dir, cfg);
    }
    throw new NeomeshException("--init_from " + dir + " is neither a HuggingFace GPT-Neo folder (config.json + "
        + "model.safetensors) nor a GPT-Neo checkpoint folder (a \"checkpoint\" file and model.ckpt-N.index/.data "
        + "files): point it at one of those");
  }
}
