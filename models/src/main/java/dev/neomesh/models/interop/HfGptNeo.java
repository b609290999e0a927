package dev.neomesh.models.interop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.neomesh.models.config.Activation;
import dev.neomesh.models.config.AttentionType;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.config.InitStyle;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * How neomesh's GPT-Neo and HuggingFace's {@code GPTNeoForCausalLM} name and shape the same model.
 * neomesh keeps GPT-Neo's mesh-TensorFlow names and named-dim shapes ({@code gpt2/h0/attn/q} is
 * {@code [embd, heads, kv]}); HuggingFace keeps {@code nn.Linear} weights as {@code [out, in]}
 * ({@code transformer.h.0.attn.attention.q_proj.weight} is {@code [heads*kv, embd]}). Every
 * matrix is thus the transpose of neomesh's value viewed as a 2-D {@code [rows, cols]} array
 * (rows = the product of its first {@link Weight#rowDims} dims); embeddings, norms and biases are
 * the same array. Under {@code init_style: nanogpt} neomesh scales q by {@code 1/sqrt(d_head)} in
 * the forward pass, which HuggingFace does not: export folds the scale into {@code q_proj} and
 * import takes it out, so the two compute the same logits.
 */
public final class HfGptNeo {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** HuggingFace's names of the activations neomesh has; gelu is the tanh approximation, HF's "gelu_new". */
  private static final Map<Activation, String> ACTIVATIONS = Map.of(Activation.GELU, "gelu_new",
      Activation.RELU, "relu", Activation.SILU, "silu", Activation.TANH, "tanh", Activation.SIGMOID, "sigmoid");
  /** Keys of a HuggingFace checkpoint that hold no weights (old causal-mask buffers, the tied lm_head). */
  static boolean ignoredOnImport(String key) {
    return key.endsWith(".attn.attention.bias") || key.endsWith(".attn.attention.masked_bias")
        || key.equals("lm_head.weight");
  }

  private HfGptNeo() {}

  /**
   * One weight in both worlds. HuggingFace's value is the transpose of neomesh's viewed as
   * {@code [product of the first rowDims dims, the rest]} (rowDims 0: the same array), times
   * {@code hfScale}.
   */
  public record Weight(String neomesh, String hf, int rowDims, double hfScale) {}

  /**
   * The config keys HuggingFace's GPT-Neo cannot express, each with its value (empty: exportable).
   * GPT-Neo's {@code no_weight_tie} adds a biased output layer HF's untied lm_head lacks.
   */
  public static List<String> inexpressible(GptConfig cfg) {
    List<String> out = new ArrayList<>();
    for (AttentionType t : cfg.attentionTypes()) {
      if (t != AttentionType.GLOBAL && t != AttentionType.LOCAL) {
        out.add("attention_types has \"" + t.name().toLowerCase(Locale.ROOT) + "\" (HF has global and local only)");
        break;
      }
    }
    flag(out, cfg.rotaryEmb(), "rotary_emb: true");
    flag(out, !cfg.axialPosEmb().isEmpty(), "axial_pos_emb: " + cfg.axialPosEmb());
    flag(out, !cfg.moeLayers().isEmpty(), "moe_layers: " + cfg.moeLayers());
    flag(out, cfg.numMemKv() > 0, "num_mem_kv: " + cfg.numMemKv());
    flag(out, cfg.nKvHead() != cfg.nHead(), "n_kv_head: " + cfg.nKvHead() + " (HF's GPT-Neo has one key/value head per"
        + " query head)");
    flag(out, cfg.mup(), "mup_base_hidden_size: " + (cfg.mup() ? cfg.mupBaseHiddenSize() : 0) + " (muP's logits scale "
        + "output_logits_alpha / width_mult)");
    flag(out, cfg.embeddingsScale() != 1.0, "embeddings_scale: " + cfg.embeddingsScale());
    flag(out, cfg.outputLogitsAlpha() != 1.0, "output_logits_alpha: " + cfg.outputLogitsAlpha());
    flag(out, cfg.scaleQkDotByD(), "scale_qk_dot_by_d: true (HF scores are q.k with the scale in q_proj)");
    flag(out, cfg.attentionLogitsAlpha() != 1.0, "attention_logits_alpha: " + cfg.attentionLogitsAlpha());
    flag(out, cfg.sparseTopk() > 0, "sparse_topk: " + cfg.sparseTopk());
    flag(out, cfg.residualAttn(), "residual_attn: true");
    flag(out, cfg.scalenorm(), "scalenorm: true");
    flag(out, cfg.rezero(), "rezero: true");
    flag(out, cfg.macaron(), "macaron: true");
    flag(out, cfg.mlpGlu(), "mlp_glu: true");
    flag(out, cfg.noWeightTie(), "no_weight_tie: true (its output layer has a bias)");
    flag(out, cfg.mlmTraining(), "mlm_training: true (HF's GPT-Neo is causal)");
    flag(out, !ACTIVATIONS.containsKey(cfg.activationFn()),
        "activation_fn: " + cfg.activationFn().name().toLowerCase(Locale.ROOT) + " (HF has " + ACTIVATIONS.keySet()
            .stream().map(a -> a.name().toLowerCase(Locale.ROOT)).sorted().toList() + ")");
    return out;
  }

  private static void flag(List<String> out, boolean set, String what) {
    if (set) {
      out.add(what);
    }
  }

  /** Every weight of an expressible config; under share_parameters each HF layer maps to the one shared scope. */
  public static List<Weight> weights(GptConfig cfg) {
    double qScale = cfg.initStyle() == InitStyle.NANOGPT ? Math.pow(cfg.headSize(), -0.5) : 1.0;
    List<Weight> out = new ArrayList<>();
    out.add(new Weight("gpt2/wte", "transformer.wte.weight", 0, 1));
    out.add(new Weight("gpt2/wpe", "transformer.wpe.weight", 0, 1));
    for (int i = 0; i < cfg.nLayer(); i++) {
      String n = cfg.shareParameters() ? "gpt2/" : "gpt2/h" + i + "/";
      String h = "transformer.h." + i + ".";
      out.add(new Weight(n + "norm_1/g", h + "ln_1.weight", 0, 1));
      out.add(new Weight(n + "norm_1/b", h + "ln_1.bias", 0, 1));
      out.add(new Weight(n + "attn/q", h + "attn.attention.q_proj.weight", 1, qScale));
      out.add(new Weight(n + "attn/k", h + "attn.attention.k_proj.weight", 1, 1));
      out.add(new Weight(n + "attn/v", h + "attn.attention.v_proj.weight", 1, 1));
      out.add(new Weight(n + "attn/o", h + "attn.attention.out_proj.weight", 2, 1));
      out.add(new Weight(n + "attn/compute_output_bias/o_b", h + "attn.attention.out_proj.bias", 0, 1));
      out.add(new Weight(n + "norm_2/g", h + "ln_2.weight", 0, 1));
      out.add(new Weight(n + "norm_2/b", h + "ln_2.bias", 0, 1));
      out.add(new Weight(n + "mlp/conv1d_main/c_fc/kernel", h + "mlp.c_fc.weight", 1, 1));
      out.add(new Weight(n + "mlp/conv1d_main/c_fc/bias", h + "mlp.c_fc.bias", 0, 1));
      out.add(new Weight(n + "mlp/conv1d_main/c_proj/kernel", h + "mlp.c_proj.weight", 1, 1));
      out.add(new Weight(n + "mlp/conv1d_main/c_proj/bias", h + "mlp.c_proj.bias", 0, 1));
    }
    out.add(new Weight("gpt2/ln_f/g", "transformer.ln_f.weight", 0, 1));
    out.add(new Weight("gpt2/ln_f/b", "transformer.ln_f.bias", 0, 1));
    return out;
  }

  /** HuggingFace's shape of {@code w} for neomesh's full shape {@code shape}. */
  public static long[] hfShape(Weight w, long[] shape) {
    if (w.rowDims() == 0) {
      return shape.clone();
    }
    long rows = 1;
    long cols = 1;
    for (int i = 0; i < shape.length; i++) {
      if (i < w.rowDims()) {
        rows *= shape[i];
      } else {
        cols *= shape[i];
      }
    }
    return new long[] {cols, rows};
  }

  /** neomesh's value (C order, full shape {@code shape}) as HuggingFace's. */
  public static float[] toHf(Weight w, long[] shape, float[] neomesh) {
    float[] out = w.rowDims() == 0 ? neomesh.clone() : transpose(neomesh, hfShape(w, shape)[1]);
    scale(out, w.hfScale());
    return out;
  }

  /** HuggingFace's value as neomesh's (full shape {@code shape}). */
  public static float[] fromHf(Weight w, long[] shape, float[] hf) {
    float[] out = w.rowDims() == 0 ? hf.clone() : transpose(hf, hfShape(w, shape)[0]);
    scale(out, 1 / w.hfScale());
    return out;
  }

  private static void scale(float[] x, double s) {
    if (s != 1.0) {
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) (x[i] * s);
      }
    }
  }

  /** The transpose of the C-order {@code [rows, x.length / rows]} matrix {@code x}. */
  static float[] transpose(float[] x, long rows) {
    int r = (int) rows;
    int c = x.length / r;
    float[] out = new float[x.length];
    for (int i = 0; i < r; i++) {
      for (int j = 0; j < c; j++) {
        out[j * r + i] = x[i * c + j];
      }
    }
    return out;
  }

  // ------------------------------------------------------------------------------- config.json

  /** HuggingFace's {@code config.json} (a {@code GPTNeoConfig}) for an expressible config. */
  public static ObjectNode config(GptConfig cfg, int bosId, int eosId) {
    ObjectNode c = JSON.createObjectNode();
    c.putArray("architectures").add("GPTNeoForCausalLM");
    c.put("model_type", "gpt_neo");
    c.put("vocab_size", cfg.nVocab());
    c.put("max_position_embeddings", cfg.nCtx());
    c.put("hidden_size", cfg.nEmbd());
    c.put("num_layers", cfg.nLayer());
    c.put("num_heads", cfg.nHead());
    c.set("attention_types", attentionTypes(cfg.attentionTypes()));
    c.put("window_size", cfg.localAttentionRadius());
    c.putNull("intermediate_size"); // HF's default, 4 * hidden_size, is neomesh's width
    c.put("activation_function", ACTIVATIONS.get(cfg.activationFn()));
    c.put("resid_dropout", cfg.resDropout());
    c.put("embed_dropout", cfg.embedDropout());
    c.put("attention_dropout", cfg.attnDropout());
    c.put("layer_norm_epsilon", 1e-5);
    c.put("initializer_range", 0.02);
    c.put("use_cache", true);
    c.put("bos_token_id", bosId);
    c.put("eos_token_id", eosId);
    c.put("tie_word_embeddings", true);
    c.put("torch_dtype", "float32");
    return c;
  }

  /**
   * GPT-Neo's nesting of per-layer types: the shortest pattern that repeats to the whole list
   * ({@code [[["global","local"],6]]}), else one group per run of equal types.
   */
  static ArrayNode attentionTypes(List<AttentionType> layers) {
    ArrayNode out = JSON.createArrayNode();
    int n = layers.size();
    for (int p = 1; p <= n; p++) {
      if (n % p != 0) {
        continue;
      }
      boolean repeats = true;
      for (int i = p; i < n && repeats; i++) {
        repeats = layers.get(i) == layers.get(i % p);
      }
      if (repeats) {
        ArrayNode group = out.addArray();
        ArrayNode pattern = group.addArray();
        layers.subList(0, p).forEach(t -> pattern.add(t.name().toLowerCase(Locale.ROOT)));
        group.add(n / p);
        return out;
      }
    }
    throw new IllegalStateException("unreachable: the whole list repeats once");
  }

  /** The per-layer types of a HuggingFace config ({@code attention_layers}, else expanded {@code attention_types}). */
  static List<String> layerTypes(JsonNode hf) {
    List<String> out = new ArrayList<>();
    JsonNode layers = hf.get("attention_layers");
    if (layers != null && layers.isArray()) {
      layers.forEach(t -> out.add(t.asText()));
      return out;
    }
    JsonNode types = hf.get("attention_types");
    if (types != null && types.isArray()) {
      for (JsonNode group : types) {
        for (int r = 0; r < group.get(1).asInt(); r++) {
          group.get(0).forEach(t -> out.add(t.asText()));
        }
      }
    }
    return out;
  }

  /**
   * Each model key where {@code cfg} and HuggingFace's {@code config.json} disagree, naming both
   * values (empty: they describe the same model).
   */
  public static List<String> disagreements(GptConfig cfg, JsonNode hf) {
    List<String> out = new ArrayList<>();
    if (!"gpt_neo".equals(text(hf, "model_type"))) {
      out.add("model_type: HF config has " + text(hf, "model_type") + ", not gpt_neo");
      return out;
    }
    agree(out, "n_embd", cfg.nEmbd(), "hidden_size", hf);
    agree(out, "n_layer", cfg.nLayer(), "num_layers", hf);
    agree(out, "n_head", cfg.nHead(), "num_heads", hf);
    agree(out, "n_vocab", cfg.nVocab(), "vocab_size", hf);
    agree(out, "n_ctx", cfg.nCtx(), "max_position_embeddings", hf);
    List<String> mine = cfg.attentionTypes().stream().map(t -> t.name().toLowerCase(Locale.ROOT)).toList();
    List<String> theirs = layerTypes(hf);
    if (!mine.equals(theirs)) {
      out.add("attention_types: config has " + mine + ", HF config has " + theirs);
    }
    if (mine.contains("local")) {
      agree(out, "local_attention_radius", cfg.localAttentionRadius(), "window_size", hf);
    }
    String act = ACTIVATIONS.get(cfg.activationFn());
    String hfAct = text(hf, "activation_function");
    if (!(hfAct.equals(act) || act != null && act.equals("gelu_new") && hfAct.equals("gelu_pytorch_tanh"))) {
      out.add("activation_fn: config has " + cfg.activationFn().name().toLowerCase(Locale.ROOT) + " (HF "
          + act + "), HF config has activation_function " + hfAct);
    }
    JsonNode eps = hf.get("layer_norm_epsilon");
    if (eps != null && Math.abs(eps.asDouble() - 1e-5) > 1e-12) {
      out.add("layer norm epsilon: neomesh's is 1e-05, HF config has layer_norm_epsilon " + eps.asDouble());
    }
    JsonNode inter = hf.get("intermediate_size");
    if (inter != null && !inter.isNull() && inter.asInt() != 4 * cfg.nEmbd()) {
      out.add("MLP width: neomesh's is 4 * n_embd = " + 4 * cfg.nEmbd() + ", HF config has intermediate_size "
          + inter.asInt());
    }
    JsonNode tie = hf.get("tie_word_embeddings");
    if (tie != null && !tie.asBoolean()) {
      out.add("tie_word_embeddings: HF config has false; neomesh's GPT-Neo ties lm_head to wte");
    }
    return out;
  }

  private static String text(JsonNode n, String key) {
    JsonNode v = n.get(key);
    return v == null || v.isNull() ? "(absent)" : v.asText();
  }

  private static void agree(List<String> out, String key, int value, String hfKey, JsonNode hf) {
    JsonNode v = hf.get(hfKey);
    if (v == null || v.asInt() != value) {
      out.add(key + ": config has " + value + ", HF config has " + hfKey + " " + text(hf, hfKey));
    }
  }
}
