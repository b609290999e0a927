package dev.neomesh.models.gpt;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.train.Generative;
import dev.neomesh.models.train.Sampling;
import dev.neomesh.models.train.TokenLogProbs;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * GPT-Neo on named dims: token (+ position) embeddings, {@code n_layer} pre-norm blocks, the final
 * layer norm {@code ln_f}, logits {@code h . wte^T} (or a separate dense under no_weight_tie), and the
 * float32 loss {@code mean(logsumexp - z_label + z_loss * logsumexp^2)} plus the MoE auxiliary losses.
 * Dims and variable names are GPT-Neo's, so its layout strings mean the same thing here
 * ({@code batch:x,heads:y,vocab:y,intermediate_expanded:y}, {@code batch:x,memory_length:y,embd:y}).
 * The program never mentions a device: any valid mesh and layout computes the same loss.
 *
 * <pre>
 *   h = (wte[tokens] + wpe[positions]) * s    Embeddings (s = embeddings_scale, 1)
 *   for i in layers: h = Block(h, i)           Block = Attention + Mlp (or Moe), Norms
 *   logits = a * ln_f(h) . wte^T               [batch, sequence, vocab] (a = output_logits_alpha / width_mult, 1)
 * </pre>
 *
 * <p>Masked-LM ({@code mlm_training}): the model masks the fed tokens itself (layout-invariant random
 * ops keyed by name, changing every training step), attends without the causal mask, and the loss is
 * the mean over the masked positions of predicting the original token there; {@code labels} is then
 * not used.
 */
public final class Gpt {
  private final ModelBuilder b;
  private final MeshTensor logits;
  private final MeshTensor loss;
  private final Map<String, MeshTensor> activations;

  private Gpt(ModelBuilder b, MeshTensor logits, MeshTensor loss, Map<String, MeshTensor> activations) {
    this.b = b;
    this.logits = logits;
    this.loss = loss;
    this.activations = Collections.unmodifiableMap(activations);
  }

  /** tokens and labels: int32 {@code [batch, sequence]}; train=true enables dropout and MoE train capacity. */
  public static Gpt build(MeshOps m, GptConfig cfg, MeshTensor tokens, MeshTensor labels, boolean train) {
    Dim batch = tokens.shape().dim("batch");
    Dim sequence = tokens.shape().dim("sequence");
    if (tokens.shape().rank() != 2 || tokens.dtype() != DType.INT32) {
      throw new IllegalArgumentException("tokens must be int32 [batch, sequence], got " + tokens);
    }
    if (sequence.size() > cfg.nCtx()) {
      throw new IllegalArgumentException("sequence " + sequence.size() + " is longer than n_ctx " + cfg.nCtx());
    }
    ModelBuilder b = new ModelBuilder(m, cfg, batch, sequence, train);
    MeshTensor weights = null;
    MeshTensor targets = labels;
    if (cfg.mlmTraining()) {
      Mlm.Masked masked = Mlm.mask(b, tokens);
      targets = tokens;
      tokens = masked.inputs();
      weights = masked.lossWeights();
    }
    Map<String, MeshTensor> activations = new LinkedHashMap<>();
    MeshTensor h = Embeddings.embed(b, tokens);
    activations.put("embeddings", h);
    MeshTensor aux = null;
    for (int layer = 0; layer < cfg.nLayer(); layer++) {
      Block.Out out = train && cfg.recomputeGrad() ? recomputedBlock(b, h, layer) : Block.forward(b, h, layer);
      h = out.x();
      activations.put("block " + layer, h);
      if (out.auxLoss() != null) {
        aux = aux == null ? out.auxLoss() : m.add(aux, out.auxLoss());
      }
    }
    MeshTensor z = logits(b, h);
    activations.put("logits", z);
    MeshTensor loss = crossEntropy(m, z, targets, b.vocab, cfg.zLoss(), weights);
    if (aux != null) {
      loss = m.add(loss, aux);
    }
    return new Gpt(b, z, loss, activations);
  }

  /**
   * Block {@code layer} with its activations recomputed in the backward pass ({@code recompute_grad},
   * {@link MeshOps#recompute}): only the block's inputs (the stream, and under residual_attn the
   * previous scores) stay alive from the forward to the backward. The body restores the builder's
   * residual scores so building it again for the backward changes nothing else.
   */
  private static Block.Out recomputedBlock(ModelBuilder b, MeshTensor h, int layer) {
    MeshTensor before = b.residualScores;
    boolean[] shape = new boolean[2]; // {scores out, aux out}, as the first build made them
    List<MeshTensor> outs = b.m.recompute(before == null ? List.of(h) : List.of(h, before), in -> {
      MeshTensor saved = b.residualScores;
      b.residualScores = in.size() > 1 ? in.get(1) : null;
      Block.Out o = Block.forward(b, in.get(0), layer);
      List<MeshTensor> r = new java.util.ArrayList<>(List.of(o.x()));
      shape[0] = b.residualScores != null;
      if (shape[0]) {
        r.add(b.residualScores);
      }
      shape[1] = o.auxLoss() != null;
      if (shape[1]) {
        r.add(o.auxLoss());
      }
      b.residualScores = saved;
      return r;
    });
    if (shape[0]) {
      b.residualScores = outs.get(1);
    }
    return new Block.Out(outs.get(0), shape[1] ? outs.get(outs.size() - 1) : null);
  }

  /**
   * float32 logits of the stream {@code h} ({@code [..., embd]} to {@code [..., vocab]}): the final
   * layer norm {@code ln_f}, times output_logits_alpha / width_mult ({@link Mup#logitsScale}; 1 by
   * default), then {@code h . wte^T}, or a separate dense under no_weight_tie (a vector-like
   * parameter under μP, as the tied wte: its bias is not scaled).
   */
  private static MeshTensor logits(ModelBuilder b, MeshTensor h) {
    h = Norms.layerNorm(b, h, "gpt2/ln_f");
    double scale = b.mup.logitsScale();
    if (scale != 1.0) {
      h = b.m.mul(h, scale);
    }
    Shape out = h.shape().rename(b.embd.name(), b.vocab.name()).resize(b.vocab.name(), b.vocab.size());
    MeshTensor z = b.cfg.noWeightTie()
        ? Mlp.dense(b, h, "gpt2/wte_final_linear/linear_out", b.embd, b.vocab, false, null)
        : b.m.einsum(List.of(h, Embeddings.wte(b)), out);
    return b.m.cast(z, DType.FLOAT32);
  }

  /**
   * The generation programs of this GPT ({@link Generative}): a prefill of {@code chunk} tokens and a
   * one-token step per span (whose global layers read only the first {@code span} cache slots, so
   * a short sequence does not pay for n_ctx), on one graph, sharing the weights (the names of
   * {@link #build}'s) and the caches of {@link Decoding}. Each computes the final norm and the logits of its last token only,
   * and draws the next id there by {@code sampling}. The sampling draw is keyed {@code "sample"}
   * and the run's random step (the caller feeds the index of the token drawn).
   */
  public static Generative.Decoder decoder(MeshOps m, GptConfig cfg, int batch, int chunk, Sampling sampling,
      List<Integer> spans) {
    if (!cfg.causal()) {
      throw new IllegalArgumentException("this model attends both ways (mlm_training or causal false), so it "
          + "cannot continue a text left to right: generation needs a causal model");
    }
    if (chunk < 1 || chunk > cfg.nCtx()) {
      throw new IllegalArgumentException("prefill chunk " + chunk + " outside [1, n_ctx " + cfg.nCtx() + "]");
    }
    if (spans.isEmpty() || spans.get(spans.size() - 1) != cfg.nCtx()) {
      throw new IllegalArgumentException("step spans " + spans + " must end with n_ctx " + cfg.nCtx());
    }
    Dim rows = new Dim("batch", batch);
    MeshTensor start = m.importTensor("decode_start", Shape.SCALAR, DType.INT32);
    MeshTensor pad = m.importTensor("decode_pad", Shape.of(rows), DType.INT32);
    Decoding d = new Decoding(start, pad, cfg.nCtx(), chunk);
    Generative.Program prefill = decodeProgram(m, cfg, d, rows, chunk, cfg.nCtx(), sampling, "prefill");
    List<Generative.Program> steps = new java.util.ArrayList<>();
    for (int span : spans) {
      steps.add(decodeProgram(m, cfg, d, rows, 1, span, sampling, "step_" + span));
    }
    long cacheBytes = 0;
    for (MeshTensor c : d.caches.values()) {
      cacheBytes += c.shape().size() / batch * c.dtype().bytes();
    }
    return new Generative.Decoder(start, pad, prefill, steps, List.copyOf(spans), List.copyOf(d.weights.values()),
        cfg.nCtx(), cacheBytes);
  }

  private static Generative.Program decodeProgram(MeshOps m, GptConfig cfg, Decoding d, Dim rows, int length,
      int span, Sampling sampling, String name) {
    Dim sequence = new Dim("sequence", length);
    MeshTensor tokens = m.importTensor(name + "_tokens", Shape.of(rows, sequence), DType.INT32);
    ModelBuilder b = new ModelBuilder(m, cfg, rows, sequence, d, span);
    MeshTensor h = Embeddings.embed(b, tokens);
    for (int layer = 0; layer < cfg.nLayer(); layer++) {
      h = Block.forward(b, h, layer).x();
    }
    // the last token only (a one-hot contraction rather than a slice, so any layout of sequence works)
    MeshTensor last = m.cast(m.equal(m.range(sequence, DType.INT32), m.scalar(length - 1, DType.INT32)), b.act);
    h = m.einsum(List.of(h, last), Shape.of(rows, b.embd));
    return new Generative.Program(tokens, sampling.next(m, logits(b, h), b.vocab, "sample"));
  }

  /**
   * {@code sum(weights * (-log p(label) + zLoss * logsumexp^2))}, where {@code -log p(label) =
   * logsumexp - z_label} ({@link TokenLogProbs}), in float32, with weights
   * {@code 1/(batch*sequence)} when null (the mean over tokens).
   */
  static MeshTensor crossEntropy(MeshOps m, MeshTensor logits, MeshTensor labels, Dim vocab, double zLoss,
                                 MeshTensor weights) {
    TokenLogProbs lp = TokenLogProbs.of(m, logits, labels, vocab);
    MeshTensor perToken = m.neg(lp.logProbs());
    if (zLoss > 0) {
      perToken = m.add(perToken, m.mul(m.square(lp.logSumExp()), zLoss));
    }
    MeshTensor weighted = weights == null ? m.mul(perToken, 1.0 / labels.shape().size()) : m.mul(perToken, weights);
    return m.reduceSum(weighted, Shape.SCALAR);
  }

  /** float32 scalar: mean token cross-entropy + z_loss term + MoE aux loss. */
  public MeshTensor loss() {
    return loss;
  }

  /** float32 {@code [batch, sequence, vocab]}. */
  public MeshTensor logits() {
    return logits;
  }

  /** The trainable variables' values, in creation order (shared ones once). */
  public List<MeshTensor> parameters() {
    return b.variables();
  }

  /**
   * The stream after the embeddings ({@code "embeddings"}, [batch, sequence, embd]), after each block
   * ({@code "block 0"}, ...) and the logits ({@code "logits"}), in that order: what μP's coordinate
   * check measures.
   */
  public Map<String, MeshTensor> activations() {
    return activations;
  }

  /**
   * The learning-rate multiplier of parameter {@code name} (a variable's name): under μP 1/width_mult
   * for hidden matrices (1/filter_mult for c_proj), 1 for vector-like parameters and without μP
   * ({@link Mup}).
   */
  public double lrMultiplier(String name) {
    return b.lrMultiplier(name);
  }

  /** The names of {@link #parameters()} that skip weight decay (see {@link #skipsWeightDecay}). */
  public Set<String> noDecay() {
    Set<String> out = new LinkedHashSet<>();
    for (MeshTensor v : parameters()) {
      String name = b.m.variableOp(v).name();
      if (skipsWeightDecay(name)) {
        out.add(name);
      }
    }
    return out;
  }

  /**
   * Whether a parameter skips weight decay: GPT-Neo skips names containing "norm" or "bias" (the
   * attention output bias {@code o_b} is caught by its scope {@code compute_output_bias}), which
   * leaves the final layer norm {@code gpt2/ln_f/{g,b}} decayed, an accident of its name. neomesh
   * also skips {@code gpt2/ln_f/}, so no gain or bias of any norm is decayed.
   */
  public static boolean skipsWeightDecay(String name) {
    return name.contains("norm") || name.contains("bias") || name.startsWith("gpt2/ln_f/");
  }
}
