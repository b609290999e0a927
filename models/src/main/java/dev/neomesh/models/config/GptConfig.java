package dev.neomesh.models.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.models.train.LearningRateSchedule;
import dev.neomesh.models.train.OptimizerSettings;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * A GPT-Neo model config (the JSON of {@code configs/X.json}), read strictly: {@link ConfigKeys}
 * lists every key of GPT-Neo's configs once with its type and default, {@link ConfigReader} reads
 * each value into its type (an unknown key is a {@link ConfigException} naming the closest known key;
 * a wrong type or value names the key and what is allowed), and {@link ConfigChecks} checks ranges
 * and the rules between keys. Values are immutable; {@link #withOverrides} makes a new config (the
 * CLI's {@code --set key=value}).
 *
 * <p>Accessors (JSON key in brackets; "req" = required when the accessor is called):
 * <ul>
 * <li>Shape: {@code nHead, nEmbd, nLayer, nCtx, nVocab} (required keys), {@code headSize()} = n_embd/n_head.
 * <li>Placement: {@code mesh()} [mesh_shape, "x:1"] and {@code layoutRules()} [layout, ""], parsed once;
 *     {@code meshShape()} and {@code layout()} are the same keys as written.
 * <li>Run: {@code modelPath()} [model_path, req], {@code datasets()} [datasets, raw lists: each item a
 *     {@code List<Object>} such as {@code [id, stitch, mode, weight]} or {@code [id]}; a bare string becomes
 *     {@code [id]}], {@code trainBatchSize()} [req], {@code evalBatchSize()} [= train_batch_size],
 *     {@code predictBatchSize()} [1], {@code trainSteps()} [req], {@code evalSteps()} [0],
 *     {@code predictSteps()} [0], {@code iterations()} [500], {@code seed()} [1],
 *     {@code tokensPerMbPerReplica()} [OptionalInt], {@code predictMaxSteps()} [OptionalInt].
 * <li>Optimizer: {@code lr()} [req], {@code lrDecay()} [{@link LearningRateSchedule.Decay}: "linear",
 *     "cosine", "constant" or its alias "none"; default constant], {@code lrDecayEnd()} [= train_steps],
 *     {@code warmupSteps()} [0], {@code optName()} [{@link OptimizerSettings.Kind}: "adam", "adafactor",
 *     "sgd"; default adam], {@code biasCorrection()} [false; neomesh's key], {@code weightDecay()} [0 = none],
 *     {@code beta1()} [0.9], {@code beta2()} [0.95], {@code epsilon()} [1e-8], {@code adaEpsilon1()} [1e-30],
 *     {@code adaEpsilon2()} [1e-3], {@code gradientClipping()} [0 = none].
 * <li>Model: {@code attentionTypes()} ({@link AttentionType}, expanded, length n_layer; default all global),
 *     {@code localAttentionRadius()} [256], {@code localAttentionBlocked()} [true; neomesh's key],
 *     {@code activationFn()} [{@link Activation}, gelu;
 *     {@code activation_function} is an alias], {@code rotaryEmb()}, {@code axialPosEmb()} (empty list =
 *     none), {@code noWeightTie()}, {@code shareParameters()}, {@code rezero()}, {@code scalenorm()},
 *     {@code macaron()}, {@code mlpGlu()}, {@code scaleByDepth()}, {@code scaleByIn()},
 *     {@code initStyle()} [{@link InitStyle}, gpt_neo; neomesh's key], {@code numMemKv()} [0],
 *     {@code mup()} [mup_base_hidden_size set], {@code mupBaseHiddenSize()}
 *     [= n_embd without μP], {@code mupBaseFilterSize()} [4·mup_base_hidden_size], {@code embeddingsScale()} [1],
 *     {@code outputLogitsAlpha()} [1], {@code scaleQkDotByD()} [false], {@code attentionLogitsAlpha()} [1]
 *     (Cerebras' μP keys; docs/MODEL.md), {@code moeLayers()} (empty = none), {@code moe()} (the merged moe_params), {@code moeActivation()}
 *     [relu], {@code precision()} [{@link Precision}: "float32" (or "fp32") | "bfloat16"],
 *     {@code bfloat16()}, {@code parameterPrecision()} [the same choices, float32; neomesh's key],
 *     {@code bfloat16Parameters()}, {@code zLoss()} [1e-4], {@code embedDropout()}, {@code resDropout()},
 *     {@code attnDropout()} [all 0].
 * <li>MLM: {@code mlmTraining()}, {@code mlmMaskId()} [req when mlm_training], {@code mlmMaskProb()}
 *     [0.15], {@code mlmSameTokenProb()} [0.10], {@code mlmRandomTokenProb()} [0],
 *     {@code mlmMaskIgnoreIds()} [[]], {@code causal()} = !mlm_training.
 * <li>The config itself: {@code json()} (as written, overrides applied), {@code source()},
 *     {@code ignoredKeysWarning()} (the keys it sets that have no effect).
 * </ul>
 *
 * <p>Differences from GPT-Neo: GPT-Neo requires about 25 keys (it crashes on a missing one); here only
 * the five shape keys are required up front, the run keys (model_path, train_batch_size, train_steps, lr)
 * when asked for, and the rest have the defaults above. {@code activation_function}, which GPT-Neo's
 * shipped configs use but GPT-Neo ignores, is honoured as an alias of {@code activation_fn}. The keys
 * {@link ConfigKeys} marks as ignored are accepted (GPT-Neo's configs carry them) but change nothing.
 */
public final class GptConfig {
  private final KeyValues v;
  private final List<AttentionType> attentionTypes;
  private final MoeParams moe;
  private final MeshShape mesh;
  private final LayoutRules layoutRules;

  private GptConfig(ObjectNode json, String source) {
    this.v = ConfigReader.read(json, source);
    ConfigChecks.shape(v);
    this.attentionTypes = ConfigReader.attentionTypes(v, nLayer());
    this.moe = MoeParams.of(v.map("moe_params"), source);
    ConfigChecks.values(v);
    if (v.b("residual_attn") && attentionTypes.stream().anyMatch(t -> t != AttentionType.GLOBAL)) {
      throw v.error("residual_attn needs every layer's attention to be global (RealFormer adds each layer's scores "
          + "to the next one's over the same keys), but attention_types is " + attentionTypes + ". Make "
          + "attention_types all global or set residual_attn to false");
    }
    this.mesh = ConfigReader.mesh(v);
    this.layoutRules = ConfigReader.layout(v);
  }

  // ---- loading --------------------------------------------------------------------------------

  /** Reads a config file. */
  public static GptConfig load(Path path) {
    String text;
    try {
      text = Files.readString(path);
    } catch (IOException e) {
      throw new ConfigException("cannot read model config " + path + ": " + e.getMessage(), e);
    }
    return new GptConfig(ConfigReader.tree(text, path.toString()), path.toString());
  }

  /** Reads a config from JSON text. */
  public static GptConfig fromJson(String json) {
    return new GptConfig(ConfigReader.tree(json, "<json>"), "<json>");
  }

  /**
   * A copy with some keys set, as the CLI's {@code --set key=value}: each value is read as JSON
   * when it parses ({@code 1e-4}, {@code true}, {@code [1,2]}, {@code null} to restore the default),
   * else taken as a string ({@code gelu}).
   */
  public GptConfig withOverrides(Map<String, String> overrides) {
    ObjectNode copy = v.json().deepCopy();
    for (Map.Entry<String, String> e : overrides.entrySet()) {
      if (ConfigKeys.get(e.getKey()) == null) {
        throw new ConfigException("--set " + e.getKey() + "=...: unknown key \"" + e.getKey() + "\"; did you mean \""
            + ConfigKeys.closest(e.getKey(), ConfigKeys.names()) + "\"?");
      }
      copy.set(e.getKey(), ConfigReader.overrideValue(e.getValue()));
    }
    return new GptConfig(copy, v.source() + (overrides.isEmpty() ? "" : " with --set " + overrides.keySet()));
  }

  /** Every key a model config may hold. */
  public static Set<String> knownKeys() {
    return ConfigKeys.names();
  }

  /** The config as JSON (as written, overrides applied). */
  public String json() {
    try {
      return ConfigReader.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(v.json());
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Where the config came from (a path, or {@code <json>}). */
  public String source() {
    return v.source();
  }

  /**
   * The one warning for the keys this config sets (in its JSON or by {@code --set}) that neomesh
   * accepts but that have no effect, each with the reason; empty when it sets none. docs/MODEL.md
   * lists every such key.
   */
  public Optional<String> ignoredKeysWarning() {
    List<String> set = new ArrayList<>();
    for (ConfigKeys.Key k : ConfigKeys.all()) {
      if (k.ignored() != null && v.has(k.name())) {
        set.add(k.name() + " (" + k.ignored() + ")");
      }
    }
    if (sparseTopk() > 0 && !attentionTypes.contains(AttentionType.GLOBAL)) {
      set.add("sparse_topk (it applies to global attention layers and attention_types has none)");
    } else if (sparseTopk() >= nCtx()) {
      set.add("sparse_topk (" + sparseTopk() + " is at least n_ctx, " + nCtx() + ": every key is kept)");
    }
    if (v.has("local_attention_blocked") && localAttentionBlocked() && !localAttentionBlocked(nCtx())) {
      set.add("local_attention_blocked (n_ctx " + nCtx() + " is not a multiple of local_attention_radius "
          + localAttentionRadius() + " with two blocks or more: local layers use the banded mask)");
    }
    for (Map.Entry<String, String> e : MoeParams.IGNORED.entrySet()) {
      if (v.map("moe_params").containsKey(e.getKey())) {
        set.add("moe_params." + e.getKey() + " (" + e.getValue() + ")");
      }
    }
    return set.isEmpty() ? Optional.empty() : Optional.of("the model config sets keys that neomesh accepts but "
        + "ignores: " + String.join("; ", set) + ". docs/MODEL.md lists every such key.");
  }

  /** An optional key's value as the nullable Integer that TrainSettings and Microbatching take. */
  public static Integer orNull(OptionalInt value) {
    return value.isPresent() ? value.getAsInt() : null;
  }

  private OptionalInt optInt(String key) {
    Object x = v.get(key);
    return x == null ? OptionalInt.empty() : OptionalInt.of((Integer) x);
  }

  // ---- shape ------------------------------------------------------------------------------------

  public int nHead() { return v.i("n_head"); }
  public int nEmbd() { return v.i("n_embd"); }
  public int nLayer() { return v.i("n_layer"); }
  public int nCtx() { return v.i("n_ctx"); }
  public int nVocab() { return v.i("n_vocab"); }
  /** n_embd / n_head: the size of dim {@code kv}. */
  public int headSize() { return nEmbd() / nHead(); }

  // ---- placement and run ------------------------------------------------------------------------

  /** {@code mesh_shape}, parsed when the config was read. */
  public MeshShape mesh() { return mesh; }
  /** {@code layout}, parsed when the config was read. */
  public LayoutRules layoutRules() { return layoutRules; }
  /** {@code mesh_shape} as written; code that needs the mesh takes {@link #mesh()}. */
  public String meshShape() { return v.s("mesh_shape"); }
  /** {@code layout} as written; code that needs the rules takes {@link #layoutRules()}. */
  public String layout() { return v.s("layout"); }
  public String modelPath() {
    return (String) v.required("model_path", "to train, evaluate or sample (the run folder)");
  }

  /** The datasets as raw lists: {@code [id, stitch, mode, weight]} or {@code [id]} (a bare id becomes {@code [id]}). */
  public List<List<Object>> datasets() {
    List<List<Object>> out = new ArrayList<>();
    for (Object d : (List<?>) v.get("datasets")) {
      out.add(d instanceof List<?> l ? List.copyOf(l) : List.of(d));
    }
    return out;
  }

  public int trainBatchSize() { return (Integer) v.required("train_batch_size", "to train (the global batch)"); }
  /** eval_batch_size, or train_batch_size when absent. */
  public int evalBatchSize() { return v.has("eval_batch_size") ? v.i("eval_batch_size") : trainBatchSize(); }
  public int predictBatchSize() { return v.i("predict_batch_size"); }
  public int trainSteps() { return (Integer) v.required("train_steps", "to train"); }
  public int evalSteps() { return v.i("eval_steps"); }
  public int predictSteps() { return v.i("predict_steps"); }
  public int iterations() { return v.i("iterations"); }
  public int seed() { return v.i("seed"); }
  public OptionalInt tokensPerMbPerReplica() { return optInt("tokens_per_mb_per_replica"); }
  public OptionalInt predictMaxSteps() { return optInt("predict_max_steps"); }

  // ---- optimizer --------------------------------------------------------------------------------

  public double lr() { return ((Number) v.required("lr", "to train (the peak learning rate)")).doubleValue(); }
  /** linear, cosine or constant ("none" reads as constant). */
  public LearningRateSchedule.Decay lrDecay() { return v.choice("lr_decay", LearningRateSchedule.Decay.class); }
  /** lr_decay_end, or train_steps when absent. */
  public int lrDecayEnd() { return v.has("lr_decay_end") ? v.i("lr_decay_end") : trainSteps(); }
  public int warmupSteps() { return v.i("warmup_steps"); }
  public OptimizerSettings.Kind optName() { return v.choice("opt_name", OptimizerSettings.Kind.class); }
  public boolean biasCorrection() { return v.b("bias_correction"); }
  /** 0 means no weight decay. */
  public double weightDecay() { return v.d("weight_decay"); }
  public double beta1() { return v.d("beta1"); }
  public double beta2() { return v.d("beta2"); }
  public double epsilon() { return v.d("epsilon"); }
  public double adaEpsilon1() { return v.d("ada_epsilon1"); }
  public double adaEpsilon2() { return v.d("ada_epsilon2"); }
  /** The global-norm clip; 0 means no clipping. */
  public double gradientClipping() { return v.d("gradient_clipping"); }

  // ---- model ------------------------------------------------------------------------------------

  /** One attention type per layer, expanded from the repeat form. */
  public List<AttentionType> attentionTypes() { return attentionTypes; }
  public int localAttentionRadius() { return v.i("local_attention_radius"); }
  /** local_attention_blocked as set: local layers in the blocked form where they can be; neomesh's key. */
  public boolean localAttentionBlocked() { return v.b("local_attention_blocked"); }
  /**
   * Whether local layers over {@code length} positions take the blocked form: local_attention_blocked
   * and the length a multiple of the radius with two blocks or more. Otherwise they use the banded
   * mask: padding would add a block of work for nothing, and one block is the banded form with a
   * larger score matrix.
   */
  public boolean localAttentionBlocked(int length) {
    int r = localAttentionRadius();
    return localAttentionBlocked() && length % r == 0 && length / r >= 2;
  }
  /** activation_fn, or its alias activation_function. */
  public Activation activationFn() {
    return v.has("activation_fn") || !v.has("activation_function") ? v.choice("activation_fn", Activation.class)
        : v.choice("activation_function", Activation.class);
  }
  public boolean rotaryEmb() { return v.b("rotary_emb"); }
  /** [a1, a2], or empty when axial position embeddings are off. */
  public List<Integer> axialPosEmb() { return v.ints("axial_pos_emb"); }
  public boolean noWeightTie() { return v.b("no_weight_tie"); }
  public boolean shareParameters() { return v.b("share_parameters"); }
  public boolean rezero() { return v.b("rezero"); }
  public boolean scalenorm() { return v.b("scalenorm"); }
  public boolean macaron() { return v.b("macaron"); }
  public boolean mlpGlu() { return v.b("mlp_glu"); }
  public boolean scaleByDepth() { return v.b("scale_by_depth"); }
  public boolean scaleByIn() { return v.b("scale_by_in"); }
  public InitStyle initStyle() { return v.choice("init_style", InitStyle.class); }
  public int numMemKv() { return v.i("num_mem_kv"); }
  /** Each query keeps its k largest scores on global layers (0: all); neomesh's key. */
  public int sparseTopk() { return v.i("sparse_topk"); }
  /** ZeRO's stage (neomesh's key {@code zero_stage}): 0 none, 1 optimizer state, 2 also gradients, 3 also parameters sharded. */
  public int zeroStage() { return v.i("zero_stage"); }
  /** GPT-Neo's {@code recompute_grad}: each block's activations recomputed in the backward pass. */
  public boolean recomputeGrad() { return v.b("recompute_grad"); }
  /**
   * Key/value heads (grouped-query attention; neomesh's key {@code n_kv_head}): n_head when absent,
   * which is multi-head attention; 1 is multi-query. Divides n_head.
   */
  public int nKvHead() { return v.has("n_kv_head") ? v.i("n_kv_head") : nHead(); }
  /** Whether μP is on: {@code mup_base_hidden_size} is set (Cerebras' key; {@code dev.neomesh.models.gpt.Mup}). */
  public boolean mup() { return v.has("mup_base_hidden_size"); }
  /** μP's base width (mup_base_hidden_size); n_embd when μP is off, so that width_mult is 1. */
  public int mupBaseHiddenSize() { return mup() ? v.i("mup_base_hidden_size") : nEmbd(); }
  /** μP's base MLP width (mup_base_filter_size): 4·mup_base_hidden_size when absent. */
  public int mupBaseFilterSize() {
    return v.has("mup_base_filter_size") ? v.i("mup_base_filter_size") : 4 * mupBaseHiddenSize();
  }
  /** The embedding output's multiplier (embeddings_scale, 1), with or without μP. */
  public double embeddingsScale() { return v.d("embeddings_scale"); }
  /** The logits' multiplier is output_logits_alpha / width_mult (alpha 1; width_mult 1 without μP). */
  public double outputLogitsAlpha() { return v.d("output_logits_alpha"); }
  /** Attention scores scaled by 1/d_head instead of 1/sqrt(d_head) (scale_qk_dot_by_d, false). */
  public boolean scaleQkDotByD() { return v.b("scale_qk_dot_by_d"); }
  /** A further multiplier of the attention scores (attention_logits_alpha, 1). */
  public double attentionLogitsAlpha() { return v.d("attention_logits_alpha"); }
  /** RealFormer: each softmax attention layer adds the previous one's pre-softmax scores; neomesh's key. */
  public boolean residualAttn() { return v.b("residual_attn"); }
  /** 0-based layers whose MLP is a mixture of experts; empty when none. */
  public List<Integer> moeLayers() { return v.ints("moe_layers"); }
  public MoeParams moe() { return moe; }
  public Activation moeActivation() { return v.choice("moe_activation", Activation.class); }
  public Precision precision() { return v.choice("precision", Precision.class); }
  public boolean bfloat16() { return precision() == Precision.BFLOAT16; }
  /** The parameters' dtype on the devices (parameter_precision, float32; neomesh's key). */
  public Precision parameterPrecision() { return v.choice("parameter_precision", Precision.class); }
  /** Whether parameters are bfloat16 on the devices, with float32 masters held with the optimizer state. */
  public boolean bfloat16Parameters() { return parameterPrecision() == Precision.BFLOAT16; }
  public double zLoss() { return v.d("z_loss"); }
  public double embedDropout() { return v.d("embed_dropout"); }
  public double resDropout() { return v.d("res_dropout"); }
  public double attnDropout() { return v.d("attn_dropout"); }

  // ---- MLM --------------------------------------------------------------------------------------

  public boolean mlmTraining() { return v.b("mlm_training"); }
  /** Attention is causal unless the model is trained as a masked language model. */
  public boolean causal() { return !mlmTraining(); }
  public int mlmMaskId() { return (Integer) v.required("mlm_mask_id", "when mlm_training is true"); }
  public double mlmMaskProb() { return v.d("mlm_mask_prob"); }
  public double mlmSameTokenProb() { return v.d("mlm_same_token_prob"); }
  public double mlmRandomTokenProb() { return v.d("mlm_random_token_prob"); }
  public List<Integer> mlmMaskIgnoreIds() { return v.ints("mlm_mask_ignore_ids"); }

  @Override
  public String toString() {
    return "GptConfig" + v.present();
  }
}
