package dev.neomesh.models.config;

import dev.neomesh.data.DatasetConfigs;
import dev.neomesh.models.train.LearningRateSchedule;
import dev.neomesh.models.train.OptimizerSettings;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The table of every key a model config may hold, each listed once: its JSON type, its default, and
 * for a key with a fixed set of values the JSON names it accepts, each mapped to its typed value (an
 * enum constant). A key that neomesh accepts for GPT-Neo's sake but that changes nothing carries the
 * reason; {@link GptConfig#ignoredKeysWarning} names those a config sets, and docs/MODEL.md lists them.
 */
final class ConfigKeys {
  private ConfigKeys() {}

  /** How a key's JSON value is read. CHOICE: a string out of {@link Key#choices}. */
  enum Type { INT, NUMBER, BOOL, STRING, CHOICE, INT_LIST, STRING_LIST, LIST, OBJECT, ATTENTION_TYPES }

  /**
   * One key. {@code def}: the typed default (null: none); {@code choices}: JSON name to typed value,
   * in the order messages list them (CHOICE keys only); {@code ignored}: why the key has no effect in
   * neomesh, or null when it has one.
   */
  record Key(String name, Type type, Object def, Map<String, Object> choices, String ignored) {}

  private static final Map<String, Key> KEYS = new LinkedHashMap<>();

  private static void key(String name, Type type, Object def) {
    KEYS.put(name, new Key(name, type, def, Map.of(), null));
  }

  private static void choice(String name, String def, Map<String, Object> choices) {
    KEYS.put(name, new Key(name, Type.CHOICE, def == null ? null : choices.get(def), choices, null));
  }

  private static void ignored(String name, Type type, Object def, String why) {
    KEYS.put(name, new Key(name, type, def, Map.of(), why));
  }

  /** An enum's constants by JSON name (the constant's name in lower case), with {@code alias} after its value. */
  private static <E extends Enum<E>> Map<String, Object> names(E[] values, String alias, E aliasOf) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (E e : values) {
      out.put(jsonName(e), e);
      if (e == aliasOf) {
        out.put(alias, e);
      }
    }
    return Collections.unmodifiableMap(out);
  }

  private static <E extends Enum<E>> Map<String, Object> names(E[] values) {
    return names(values, null, null);
  }

  private static Map<String, Object> strings(String... names) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (String n : names) {
      out.put(n, n);
    }
    return Collections.unmodifiableMap(out);
  }

  static {
    Map<String, Object> activations = names(Activation.values(), "swish", Activation.SILU);
    key("n_head", Type.INT, null);
    key("n_embd", Type.INT, null);
    key("n_layer", Type.INT, null);
    key("n_ctx", Type.INT, null);
    key("n_vocab", Type.INT, null);
    key("model_path", Type.STRING, null);
    key("mesh_shape", Type.STRING, "x:1");
    key("layout", Type.STRING, "");
    key("datasets", Type.LIST, List.of());
    key("attention_types", Type.ATTENTION_TYPES, null);
    key("local_attention_radius", Type.INT, 256);
    // neomesh's own key: local layers in the blocked O(n·R) form where n_ctx allows (false: the banded mask)
    key("local_attention_blocked", Type.BOOL, true);
    choice("activation_fn", "gelu", activations);
    choice("activation_function", null, activations);
    key("rotary_emb", Type.BOOL, false);
    key("axial_pos_emb", Type.INT_LIST, List.of());
    for (String b : List.of("no_weight_tie", "share_parameters", "rezero", "scalenorm", "macaron", "mlp_glu")) {
      key(b, Type.BOOL, false);
    }
    key("recompute_grad", Type.BOOL, false);
    key("scale_by_depth", Type.BOOL, false);
    key("scale_by_in", Type.BOOL, false);
    ignored("entmax_loss", Type.BOOL, false, "the loss is always softmax cross-entropy");
    ignored("log_grads", Type.BOOL, false,
        "no per-variable gradient summaries, metrics.jsonl logs the global grad_norm");
    ignored("no_dataset", Type.BOOL, false, "the datasets are always read, the first gives the tokenizer");
    ignored("remove_partial_sequences", Type.BOOL, false, "samples always include the prompt");
    key("mlm_training", Type.BOOL, false);
    key("num_mem_kv", Type.INT, 0);
    // neomesh's own keys: explicit sparse attention (Zhao et al. 2019), RealFormer's residual attention and
    key("sparse_topk", Type.INT, 0);
    // grouped-query attention (Ainslie et al. 2023): key/value heads, n_head when absent, 1 is multi-query
    key("n_kv_head", Type.INT, null);
    // ZeRO (DeepSpeed's stages): optimizer state (1) and gradients (2) sharded over batch's mesh axis
    key("zero_stage", Type.INT, 0);
    key("residual_attn", Type.BOOL, false);
    // Cerebras' GPT-3 keys for μP (Yang et al. 2022, arXiv:2203.03466; docs/MODEL.md, "μP"): the base width turns
    // μP on; the scales below also apply without it
    key("mup_base_hidden_size", Type.INT, null);
    key("mup_base_filter_size", Type.INT, null);
    key("embeddings_scale", Type.NUMBER, 1.0);
    key("output_logits_alpha", Type.NUMBER, 1.0);
    key("scale_qk_dot_by_d", Type.BOOL, false);
    key("attention_logits_alpha", Type.NUMBER, 1.0);
    key("moe_layers", Type.INT_LIST, List.of());
    key("moe_params", Type.OBJECT, Map.of());
    choice("moe_activation", "relu", activations);
    choice("precision", "float32", names(Precision.values(), "fp32", Precision.FLOAT32));
    // neomesh's own key: the trainable parameters' dtype on the devices; under bfloat16 a float32 master of each
    // is kept with the optimizer state (docs/MODEL.md, "Precision")
    choice("parameter_precision", "float32", names(Precision.values(), "fp32", Precision.FLOAT32));
    key("tokens_per_mb_per_replica", Type.INT, null);
    key("z_loss", Type.NUMBER, 1e-4);
    key("lr", Type.NUMBER, null);
    choice("lr_decay", "constant", names(LearningRateSchedule.Decay.values(), "none",
        LearningRateSchedule.Decay.CONSTANT));
    key("lr_decay_end", Type.INT, null);
    key("warmup_steps", Type.INT, 0);
    choice("opt_name", "adam", names(OptimizerSettings.Kind.values()));
    // neomesh's own key: Adam's bias correction (off in GPT-Neo; on in the AdamW most users know)
    key("bias_correction", Type.BOOL, false);
    // neomesh's own key: GPT-Neo's initialisation (default) or nanoGPT's (see ModelBuilder#nanoGptInit)
    choice("init_style", "gpt_neo", names(InitStyle.values()));
    key("weight_decay", Type.NUMBER, 0.0);
    key("beta1", Type.NUMBER, 0.9);
    key("beta2", Type.NUMBER, 0.95);
    key("epsilon", Type.NUMBER, 1e-8);
    key("ada_epsilon1", Type.NUMBER, 1e-30);
    key("ada_epsilon2", Type.NUMBER, 1e-3);
    key("gradient_clipping", Type.NUMBER, 0.0);
    key("train_batch_size", Type.INT, null);
    key("eval_batch_size", Type.INT, null);
    key("predict_batch_size", Type.INT, 1);
    key("train_steps", Type.INT, null);
    key("eval_steps", Type.INT, 0);
    key("predict_steps", Type.INT, 0);
    key("iterations", Type.INT, 500);
    key("embed_dropout", Type.NUMBER, 0.0);
    key("res_dropout", Type.NUMBER, 0.0);
    key("attn_dropout", Type.NUMBER, 0.0);
    KEYS.put("input_fn", new Key("input_fn", Type.CHOICE, "sequential_input",
        strings("sequential_input", "generic_text"), "one input pipeline serves every config"));
    key("seed", Type.INT, 1);
    ignored("shuffle_input_filenames", Type.BOOL, true,
        "files are read in natural order and the seed orders the examples");
    ignored("eval_tasks", Type.STRING_LIST, List.of(),
        "the lambada task is not implemented, eval_steps evaluates on eval_path");
    key("predict_max_steps", Type.INT, null);
    key("mlm_mask_id", Type.INT, null);
    ignored("mlm_cls_token_id", Type.INT, null, "no CLS token is prepended");
    key("mlm_mask_prob", Type.NUMBER, 0.15);
    key("mlm_same_token_prob", Type.NUMBER, 0.10);
    key("mlm_random_token_prob", Type.NUMBER, 0.0);
    key("mlm_mask_ignore_ids", Type.INT_LIST, List.of());
    choice("model", "GPT", strings("GPT"));
  }

  /** The key named {@code name}, or null when there is none. */
  static Key get(String name) {
    return KEYS.get(name);
  }

  /** Every key, in table order. */
  static Iterable<Key> all() {
    return KEYS.values();
  }

  /** Every key's name, in table order. */
  static Set<String> names() {
    return Collections.unmodifiableSet(KEYS.keySet());
  }

  /** The JSON name of an enum value of a CHOICE key: its constant's name in lower case. */
  static String jsonName(Enum<?> value) {
    return value.name().toLowerCase(Locale.ROOT);
  }

  /** The known name closest to {@code name} by edit distance (one implementation: the data module's). */
  static String closest(String name, Iterable<String> known) {
    List<String> lower = new ArrayList<>();
    List<String> original = new ArrayList<>();
    known.forEach(k -> {
      original.add(k);
      lower.add(k.toLowerCase(Locale.ROOT));
    });
    return original.get(lower.indexOf(DatasetConfigs.closest(name.toLowerCase(Locale.ROOT), lower)));
  }
}
