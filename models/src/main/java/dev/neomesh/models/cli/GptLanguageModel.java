package dev.neomesh.models.cli;

import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.gpt.Gpt;
import dev.neomesh.models.train.Generative;
import dev.neomesh.models.train.LanguageModel;
import dev.neomesh.models.train.Optimizer;
import dev.neomesh.models.train.Sampling;

/**
 * The GPT of a model config as the trainer sees it (weight decay skips what {@link Gpt#skipsWeightDecay}
 * says; each parameter's learning rate is μP's, {@link Gpt#lrMultiplier}) and as generation sees it
 * ({@link Gpt#decoder}).
 */
public record GptLanguageModel(GptConfig cfg) implements LanguageModel, Generative {
  @Override
  public Outputs build(MeshOps m, MeshTensor tokens, MeshTensor labels, boolean train) {
    return outputs(m, Gpt.build(m, cfg, tokens, labels, train));
  }

  /** A built GPT as the trainer sees it (for a caller that keeps the {@link Gpt}, e.g. to fetch its activations). */
  public static Outputs outputs(MeshOps m, Gpt gpt) {
    return new Outputs(gpt.loss(), gpt.logits(), gpt.parameters(),
        t -> !Gpt.skipsWeightDecay(Optimizer.nameOf(m, t)), t -> gpt.lrMultiplier(Optimizer.nameOf(m, t)));
  }

  /** Under grouped-query attention: the cache holds n_kv_head heads, n_head / n_kv_head times fewer. */
  @Override
  public String cacheNote() {
    return cfg.nKvHead() == cfg.nHead() ? "" : String.format(java.util.Locale.ROOT,
        " (n_kv_head %d of n_head %d: %sx smaller than multi-head attention's)", cfg.nKvHead(), cfg.nHead(),
        cfg.nHead() / cfg.nKvHead());
  }

  @Override
  public Decoder decoder(MeshOps m, int batch, int chunk, Sampling sampling, java.util.List<Integer> spans) {
    return Gpt.decoder(m, cfg, batch, chunk, sampling, spans);
  }
}
