package dev.neomesh.models.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import dev.neomesh.data.DatasetConfigs;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.NeomeshException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;

/**
 * A GPT-Neo model config (the JSON of {@code configs/X.json}), read strictly: every key of GPT-Neo's
 * configs is known with its type and default, an unknown key is a {@link ConfigException} naming
 * the closest known key, and a wrong type or value names the key and what is allowed. Values are
 * immutable; {@link #withOverrides} makes a new config (the CLI's {@code --set key=value}).
 *
 * <p>Accessors (JSON key in brackets; "req" = required when the accessor is called):
 * <ul>
 * <li>Shape: {@code nHead, nEmbd, nLayer, nCtx, nVocab} (required keys), {@code headSize()} = n_embd/n_head.
 * <li>Placement: {@code meshShape()} [mesh_shape, "x:1"], {@code layout()} [layout, ""].
 * <li>Run: {@code modelPath()} [model_path, req], {@code datasets()} [datasets, raw lists: each item a
 *     {@code List<Object>} such as {@code [id, stitch, mode, weight]} or {@code [id]}; a bare string becomes
 *     {@code [id]}], {@code trainBatchSize()} [req], {@code evalBatchSize()} [= train_batch_size],
 *     {@code predictBatchSize()} [1], {@code trainSteps()} [req], {@code evalSteps()} [0],
 *     {@code predictSteps()} [0], {@code iterations()} [500], {@code seed()} [1],
 *     {@code tokensPerMbPerReplica()} [OptionalInt], {@code recomputeGrad()}, {@code logGrads()},
 *     {@code inputFn()}, {@code shuffleInputFilenames()} [true], {@code noDataset()}, {@code evalTasks()},
 *     {@code predictMaxSteps()} [OptionalInt], {@code removePartialSequences()}.
 * <li>Optimizer: {@code lr()} [req], {@code lrDecay()} ["linear" | "cosine" | "constant"; default
 *     "constant"], {@code lrDecayEnd()} [= train_steps], {@code warmupSteps()} [0], {@code optName()}
 *     ["adam" | "adafactor" | "sgd"; default "adam"], {@code biasCorrection()} [false; neomesh's key],
 *     {@code weightDecay()} [0 = none], {@code beta1()} [0.9],
 *     {@code beta2()} [0.95], {@code epsilon()} [1e-8], {@code adaEpsilon1()} [1e-30],
 *     {@code adaEpsilon2()} [1e-3], {@code gradientClipping()} [0 = none].
 * <li>Model: {@code attentionTypes()} (expanded, length n_layer; default all "global"),
 *     {@code localAttentionRadius()} [256], {@code activationFn()} ["gelu"; {@code activation_function}
 *     is an alias], {@code rotaryEmb()}, {@code axialPosEmb()} (empty list = none), {@code noWeightTie()},
 *     {@code shareParameters()}, {@code rezero()}, {@code scalenorm()}, {@code macaron()}, {@code mlpGlu()},
 *     {@code scaleByDepth()}, {@code scaleByIn()}, {@code numMemKv()} [0], {@code moeLayers()} (empty =
 *     none), {@code moe()} (the merged moe_params), {@code moeActivation()} ["relu"], {@code precision()}
 *     ["float32" | "bfloat16"], {@code bfloat16()}, {@code zLoss()} [1e-4], {@code entmaxLoss()},
 *     {@code embedDropout()}, {@code resDropout()}, {@code attnDropout()} [all 0], {@code model()} ["GPT"].
 * <li>MLM: {@code mlmTraining()}, {@code mlmMaskId()} [req when mlm_training], {@code mlmClsTokenId()},
 *     {@code mlmMaskProb()} [0.15], {@code mlmSameTokenProb()} [0.10], {@code mlmRandomTokenProb()} [0],
 *     {@code mlmMaskIgnoreIds()} [[]], {@code causal()} = !mlm_training.
 * <li>Any key: {@code get(key)} (the typed value or null), {@code json()} (the config as written,
 *     overrides applied), {@code source()}.
 * </ul>
 *
 * <p>Differences from GPT-Neo: GPT-Neo requires about 25 keys (it crashes on a missing one); here only
 * the five shape keys are required up front, the run keys (model_path, train_batch_size, train_steps, lr)
 * when asked for, and the rest have the defaults above. {@code activation_function}, which GPT-Neo's
 * shipped configs use but GPT-Neo ignores, is honoured as an alias of {@code activation_fn}.
 */
public final class GptConfig {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** The activations {@code activation_fn} accepts. */
  public static final List<String> ACTIVATIONS = List.of("gelu", "relu", "sigmoid", "tanh", "selu", "elu", "abs",
      "sin", "cos", "sign", "silu", "swish", "softplus", "softsign", "mish", "square", "identity", "lrelu001",
      "lrelu01", "lrelu020");

  /** Attention types of {@code attention_types}. */
  public static final List<String> ATTENTION_TYPES = List.of("global", "local", "linear", "none");

  enum Type { INT, NUMBER, BOOL, STRING, INT_LIST, STRING_LIST, LIST, OBJECT, ATTENTION_TYPES }

  record Key(String name, Type type, Object def, List<String> choices) {}

  private static final Map<String, Key> KEYS = new LinkedHashMap<>();

  private static void key(String name, Type type, Object def, String... choices) {
    KEYS.put(name, new Key(name, type, def, List.of(choices)));
  }

  static {
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
    key("activation_fn", Type.STRING, "gelu", ACTIVATIONS.toArray(String[]::new));
    key("activation_function", Type.STRING, null, ACTIVATIONS.toArray(String[]::new));
    key("rotary_emb", Type.BOOL, false);
    key("axial_pos_emb", Type.INT_LIST, List.of());
    for (String b : List.of("no_weight_tie", "share_parameters", "rezero", "scalenorm", "macaron", "mlp_glu",
        "recompute_grad", "scale_by_depth", "scale_by_in", "entmax_loss", "log_grads", "no_dataset",
        "remove_partial_sequences", "mlm_training")) {
      key(b, Type.BOOL, false);
    }
    key("num_mem_kv", Type.INT, 0);
    key("moe_layers", Type.INT_LIST, List.of());
    key("moe_params", Type.OBJECT, Map.of());
    key("moe_activation", Type.STRING, "relu", ACTIVATIONS.toArray(String[]::new));
    key("precision", Type.STRING, "float32", "float32", "fp32", "bfloat16");
    key("tokens_per_mb_per_replica", Type.INT, null);
    key("z_loss", Type.NUMBER, 1e-4);
    key("lr", Type.NUMBER, null);
    key("lr_decay", Type.STRING, "constant", "linear", "cosine", "constant", "none");
    key("lr_decay_end", Type.INT, null);
    key("warmup_steps", Type.INT, 0);
    key("opt_name", Type.STRING, "adam", "adam", "adafactor", "sgd");
    // neomesh's own key: Adam's bias correction (off in GPT-Neo; on in the AdamW most users know)
    key("bias_correction", Type.BOOL, false);
    // neomesh's own key: "gpt_neo" initialisation (default) or nanoGPT's (see ModelBuilder#nanoGptInit)
    key("init_style", Type.STRING, "gpt_neo", "gpt_neo", "nanogpt");
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
    key("input_fn", Type.STRING, "sequential_input", "sequential_input", "generic_text");
    key("seed", Type.INT, 1);
    key("shuffle_input_filenames", Type.BOOL, true);
    key("eval_tasks", Type.STRING_LIST, List.of());
    key("predict_max_steps", Type.INT, null);
    key("mlm_mask_id", Type.INT, null);
    key("mlm_cls_token_id", Type.INT, null);
    key("mlm_mask_prob", Type.NUMBER, 0.15);
    key("mlm_same_token_prob", Type.NUMBER, 0.10);
    key("mlm_random_token_prob", Type.NUMBER, 0.0);
    key("mlm_mask_ignore_ids", Type.INT_LIST, List.of());
    key("model", Type.STRING, "GPT", "GPT");
  }

  /** Every key a model config may hold. */
  public static Set<String> knownKeys() {
    return Collections.unmodifiableSet(KEYS.keySet());
  }

  private final ObjectNode json;
  private final String source;
  private final Map<String, Object> values;
  private final List<String> attentionTypes;
  private final MoeParams moe;

  private GptConfig(ObjectNode json, String source) {
    this.json = json;
    this.source = source;
    this.values = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = json.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      Key k = KEYS.get(e.getKey());
      if (k == null) {
        throw error("unknown key \"" + e.getKey() + "\"; did you mean \"" + closest(e.getKey(), KEYS.keySet())
            + "\"? (known keys: " + String.join(", ", KEYS.keySet()) + ")");
      }
      if (!e.getValue().isNull()) {
        values.put(k.name(), convert(k, e.getValue()));
      }
    }
    for (String req : List.of("n_head", "n_embd", "n_layer", "n_ctx", "n_vocab")) {
      if (!values.containsKey(req)) {
        throw error("missing required key \"" + req + "\" (a positive integer)");
      }
      positive(req);
    }
    if (nEmbd() % nHead() != 0) {
      throw error("n_embd (" + nEmbd() + ") must be divisible by n_head (" + nHead() + ")");
    }
    this.attentionTypes = values.containsKey("attention_types")
        ? expandAttentionTypes(json.get("attention_types")) : Collections.nCopies(nLayer(), "global");
    this.moe = MoeParams.of(map("moe_params"), source);
    validate();
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
    return parse(text, path.toString());
  }

  /** Reads a config from JSON text. */
  public static GptConfig fromJson(String json) {
    return parse(json, "<json>");
  }

  private static GptConfig parse(String text, String source) {
    JsonNode tree;
    try {
      tree = JSON.readTree(text);
    } catch (JsonProcessingException e) {
      throw new ConfigException("model config " + source + " is not valid JSON: " + e.getOriginalMessage()
          + (e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ", column "
          + e.getLocation().getColumnNr() + ")"), e);
    }
    if (tree == null || !tree.isObject()) {
      throw new ConfigException("model config " + source + " must be a JSON object of keys, e.g. {\"n_head\": 4, ...}");
    }
    return new GptConfig((ObjectNode) tree, source);
  }

  /**
   * A copy with some keys set, as the CLI's {@code --set key=value}: each value is read as JSON
   * when it parses ({@code 1e-4}, {@code true}, {@code [1,2]}, {@code null} to restore the default),
   * else taken as a string ({@code gelu}).
   */
  public GptConfig withOverrides(Map<String, String> overrides) {
    ObjectNode copy = json.deepCopy();
    for (Map.Entry<String, String> e : overrides.entrySet()) {
      if (!KEYS.containsKey(e.getKey())) {
        throw new ConfigException("--set " + e.getKey() + "=...: unknown key \"" + e.getKey() + "\"; did you mean \""
            + closest(e.getKey(), KEYS.keySet()) + "\"?");
      }
      JsonNode v;
      try {
        v = JSON.readTree(e.getValue());
        if (v == null || v.isMissingNode()) {
          v = TextNode.valueOf(e.getValue());
        }
      } catch (JsonProcessingException ex) {
        v = TextNode.valueOf(e.getValue());
      }
      copy.set(e.getKey(), v);
    }
    return new GptConfig(copy, source + (overrides.isEmpty() ? "" : " with --set " + overrides.keySet()));
  }

  /** The config as JSON (as written, overrides applied). */
  public String json() {
    try {
      return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(json);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Where the config came from (a path, or {@code <json>}). */
  public String source() {
    return source;
  }

  // ---- conversion and validation ----------------------------------------------------------------

  private ConfigException error(String what) {
    return new ConfigException("model config " + source + ": " + what);
  }

  private Object convert(Key k, JsonNode v) {
    String key = k.name();
    switch (k.type()) {
      case INT -> {
        if (v.isIntegralNumber() && v.canConvertToInt() || v.isNumber() && v.asDouble() == Math.rint(v.asDouble())
            && Math.abs(v.asDouble()) < Integer.MAX_VALUE) {
          return v.asInt();
        }
        throw error("key \"" + key + "\" must be an integer, got " + v);
      }
      case NUMBER -> {
        if (v.isNumber()) {
          return v.asDouble();
        }
        throw error("key \"" + key + "\" must be a number, got " + v);
      }
      case BOOL -> {
        if (v.isBoolean()) {
          return v.asBoolean();
        }
        throw error("key \"" + key + "\" must be true or false, got " + v);
      }
      case STRING -> {
        if (!v.isTextual()) {
          throw error("key \"" + key + "\" must be a string" + choices(k) + ", got " + v);
        }
        if (!k.choices().isEmpty() && !k.choices().contains(v.asText())) {
          throw error("key \"" + key + "\" is \"" + v.asText() + "\"; allowed: " + String.join(", ", k.choices())
              + " (closest: \"" + closest(v.asText(), k.choices()) + "\")");
        }
        return v.asText();
      }
      case INT_LIST -> {
        if (!v.isArray()) {
          throw error("key \"" + key + "\" must be a list of integers, got " + v);
        }
        List<Integer> out = new ArrayList<>();
        for (JsonNode e : v) {
          if (!e.isIntegralNumber()) {
            throw error("key \"" + key + "\" must be a list of integers; element " + e + " is not one");
          }
          out.add(e.asInt());
        }
        return List.copyOf(out);
      }
      case STRING_LIST -> {
        if (!v.isArray()) {
          throw error("key \"" + key + "\" must be a list of strings, got " + v);
        }
        List<String> out = new ArrayList<>();
        for (JsonNode e : v) {
          if (!e.isTextual()) {
            throw error("key \"" + key + "\" must be a list of strings; element " + e + " is not one");
          }
          out.add(e.asText());
        }
        return List.copyOf(out);
      }
      case LIST -> {
        if (!v.isArray()) {
          throw error("key \"" + key + "\" must be a list, e.g. [[\"my_dataset\", 25, \"documents_random\", 1.0]], got " + v);
        }
        return JSON.convertValue(v, List.class);
      }
      case OBJECT -> {
        if (!v.isObject()) {
          throw error("key \"" + key + "\" must be an object of keys, got " + v);
        }
        return JSON.convertValue(v, Map.class);
      }
      case ATTENTION_TYPES -> {
        if (!v.isArray()) {
          throw error("key \"attention_types\" must be a list like [[[\"global\",\"local\"],12]], got " + v);
        }
        return v;
      }
      default -> throw new IllegalStateException(k.type().toString());
    }
  }

  private static String choices(Key k) {
    return k.choices().isEmpty() ? "" : " (one of " + String.join(", ", k.choices()) + ")";
  }

  private List<String> expandAttentionTypes(JsonNode v) {
    String form = "attention_types must be written [[[types...], repeat], ...] (e.g. [[[\"global\",\"local\"],12]])"
        + " or as a flat list of types; types are " + ATTENTION_TYPES;
    List<String> out = new ArrayList<>();
    for (JsonNode item : v) {
      if (item.isTextual()) {
        out.add(attentionType(item.asText()));
      } else if (item.isArray() && item.size() == 2 && item.get(0).isArray() && item.get(1).isIntegralNumber()) {
        if (item.get(1).asInt() < 0) {
          throw error("attention_types: repeat count " + item.get(1) + " must not be negative");
        }
        for (int r = 0; r < item.get(1).asInt(); r++) {
          for (JsonNode t : item.get(0)) {
            if (!t.isTextual()) {
              throw error(form + "; got " + t + " in " + item);
            }
            out.add(attentionType(t.asText()));
          }
        }
      } else {
        throw error(form + "; got item " + item);
      }
    }
    if (out.size() != nLayer()) {
      throw error("attention_types expands to " + out.size() + " layers but n_layer is " + nLayer()
          + ": make them equal");
    }
    return List.copyOf(out);
  }

  private String attentionType(String t) {
    if (!ATTENTION_TYPES.contains(t)) {
      throw error("attention_types: unknown type \"" + t + "\"; allowed: " + String.join(", ", ATTENTION_TYPES)
          + " (closest: \"" + closest(t, ATTENTION_TYPES) + "\")");
    }
    return t;
  }

  private void positive(String key) {
    Object v = values.get(key);
    if (v instanceof Integer i && i <= 0) {
      throw error("key \"" + key + "\" must be positive, got " + i);
    }
  }

  private void nonNegative(String key) {
    Object v = values.get(key);
    if (v instanceof Number n && n.doubleValue() < 0) {
      throw error("key \"" + key + "\" must not be negative, got " + v);
    }
  }

  private void probability(String key, boolean allowOne) {
    Object v = values.get(key);
    if (v instanceof Number n && (n.doubleValue() < 0 || n.doubleValue() > 1 || !allowOne && n.doubleValue() == 1)) {
      throw error("key \"" + key + "\" must be in [0, 1" + (allowOne ? "]" : ")") + ", got " + v);
    }
  }

  private void validate() {
    for (String k : List.of("local_attention_radius", "train_batch_size", "eval_batch_size", "predict_batch_size",
        "iterations", "tokens_per_mb_per_replica", "lr_decay_end", "predict_max_steps")) {
      positive(k);
    }
    for (String k : List.of("num_mem_kv", "warmup_steps", "train_steps", "eval_steps", "predict_steps", "lr",
        "weight_decay", "epsilon", "ada_epsilon1", "ada_epsilon2", "gradient_clipping", "z_loss")) {
      nonNegative(k);
    }
    for (String k : List.of("embed_dropout", "res_dropout", "attn_dropout")) {
      probability(k, false);
    }
    for (String k : List.of("beta1", "beta2")) {
      probability(k, true);
    }
    for (String k : List.of("mlm_mask_prob", "mlm_same_token_prob", "mlm_random_token_prob")) {
      probability(k, true);
    }
    if (values.containsKey("activation_fn") && values.containsKey("activation_function")
        && !values.get("activation_fn").equals(values.get("activation_function"))) {
      throw error("activation_fn is \"" + values.get("activation_fn") + "\" but its alias activation_function is \""
          + values.get("activation_function") + "\": keep one of them");
    }
    List<Integer> axial = axialPosEmb();
    if (!axial.isEmpty() && (axial.size() != 2 || axial.get(0) <= 0 || axial.get(1) <= 0
        || (long) axial.get(0) * axial.get(1) < nCtx())) {
      throw error("axial_pos_emb must be two positive integers [a1, a2] with a1*a2 >= n_ctx (" + nCtx() + "), got "
          + axial);
    }
    for (int l : moeLayers()) {
      if (l < 0 || l >= nLayer()) {
        throw error("moe_layers names layer " + l + " but layers are 0.." + (nLayer() - 1));
      }
    }
    for (String t : eval_tasks()) {
      if (!t.equals("lambada")) {
        throw error("eval_tasks: unknown task \"" + t + "\"; the only task is \"lambada\"");
      }
    }
    if (mlmTraining() && !values.containsKey("mlm_mask_id")) {
      throw error("mlm_training is true but mlm_mask_id is missing: give the token id that replaces masked tokens");
    }
    try {
      MeshShape.parse(meshShape());
    } catch (NeomeshException e) {
      throw error("mesh_shape: " + e.getMessage());
    }
    try {
      LayoutRules.parse(layout());
    } catch (NeomeshException e) {
      throw error("layout: " + e.getMessage());
    }
    for (Object d : datasets()) {
      List<?> item = (List<?>) d;
      if (item.isEmpty() || !(item.get(0) instanceof String)) {
        throw error("datasets: each item must be a dataset id or [id, stitch, mode, weight], got " + d);
      }
    }
  }

  /** The known name closest to {@code name} by edit distance (one implementation: the data module's). */
  static String closest(String name, Iterable<String> known) {
    List<String> lower = new ArrayList<>();
    List<String> original = new ArrayList<>();
    known.forEach(k -> {
      original.add(k);
      lower.add(k.toLowerCase());
    });
    return original.get(lower.indexOf(DatasetConfigs.closest(name.toLowerCase(), lower)));
  }


  // ---- raw access -------------------------------------------------------------------------------

  /** The value of any key (typed: Integer, Double, Boolean, String, List, Map), or null when absent and without default. */
  public Object get(String key) {
    Key k = KEYS.get(key);
    if (k == null) {
      throw new IllegalArgumentException("no config key " + key + "; closest is " + closest(key, KEYS.keySet()));
    }
    if (key.equals("attention_types")) {
      return attentionTypes;
    }
    return values.getOrDefault(key, k.def());
  }

  private Object required(String key, String what) {
    Object v = get(key);
    if (v == null) {
      throw error("key \"" + key + "\" is required " + what);
    }
    return v;
  }

  private int i(String key) {
    return (Integer) required(key, "(an integer)");
  }

  private double d(String key) {
    return ((Number) required(key, "(a number)")).doubleValue();
  }

  private boolean b(String key) {
    return (Boolean) get(key);
  }

  private String s(String key) {
    return (String) get(key);
  }

  /** An optional key's value as the nullable Integer that TrainSettings and Microbatching take. */
  public static Integer orNull(OptionalInt value) {
    return value.isPresent() ? value.getAsInt() : null;
  }

  private OptionalInt optInt(String key) {
    Object v = get(key);
    return v == null ? OptionalInt.empty() : OptionalInt.of((Integer) v);
  }

  @SuppressWarnings("unchecked")
  private Map<String, Object> map(String key) {
    return (Map<String, Object>) get(key);
  }

  @SuppressWarnings("unchecked")
  private List<Integer> ints(String key) {
    return (List<Integer>) get(key);
  }

  @SuppressWarnings("unchecked")
  private List<String> eval_tasks() {
    return (List<String>) get("eval_tasks");
  }

  // ---- shape ------------------------------------------------------------------------------------

  public int nHead() { return i("n_head"); }
  public int nEmbd() { return i("n_embd"); }
  public int nLayer() { return i("n_layer"); }
  public int nCtx() { return i("n_ctx"); }
  public int nVocab() { return i("n_vocab"); }
  /** n_embd / n_head: the size of dim {@code kv}. */
  public int headSize() { return nEmbd() / nHead(); }

  // ---- placement and run ------------------------------------------------------------------------

  public String meshShape() { return s("mesh_shape"); }
  public String layout() { return s("layout"); }
  public String modelPath() { return (String) required("model_path", "to train, evaluate or sample (the run folder)"); }

  /** The datasets as raw lists: {@code [id, stitch, mode, weight]} or {@code [id]} (a bare id becomes {@code [id]}). */
  public List<List<Object>> datasets() {
    List<List<Object>> out = new ArrayList<>();
    for (Object d : (List<?>) get("datasets")) {
      out.add(d instanceof List<?> l ? List.copyOf(l) : List.of(d));
    }
    return out;
  }

  public int trainBatchSize() { return (Integer) required("train_batch_size", "to train (the global batch)"); }
  /** eval_batch_size, or train_batch_size when absent. */
  public int evalBatchSize() { return values.containsKey("eval_batch_size") ? i("eval_batch_size") : trainBatchSize(); }
  public int predictBatchSize() { return i("predict_batch_size"); }
  public int trainSteps() { return (Integer) required("train_steps", "to train"); }
  public int evalSteps() { return i("eval_steps"); }
  public int predictSteps() { return i("predict_steps"); }
  public int iterations() { return i("iterations"); }
  public int seed() { return i("seed"); }
  public OptionalInt tokensPerMbPerReplica() { return optInt("tokens_per_mb_per_replica"); }
  public boolean recomputeGrad() { return b("recompute_grad"); }
  public boolean logGrads() { return b("log_grads"); }
  public String inputFn() { return s("input_fn"); }
  public boolean shuffleInputFilenames() { return b("shuffle_input_filenames"); }
  public boolean noDataset() { return b("no_dataset"); }
  public List<String> evalTasks() { return eval_tasks(); }
  public OptionalInt predictMaxSteps() { return optInt("predict_max_steps"); }
  public boolean removePartialSequences() { return b("remove_partial_sequences"); }

  // ---- optimizer --------------------------------------------------------------------------------

  public double lr() { return ((Number) required("lr", "to train (the peak learning rate)")).doubleValue(); }
  /** "linear", "cosine" or "constant" ("none" reads as "constant"). */
  public String lrDecay() { return s("lr_decay").equals("none") ? "constant" : s("lr_decay"); }
  /** lr_decay_end, or train_steps when absent. */
  public int lrDecayEnd() { return values.containsKey("lr_decay_end") ? i("lr_decay_end") : trainSteps(); }
  public int warmupSteps() { return i("warmup_steps"); }
  public String optName() { return s("opt_name"); }
  public boolean biasCorrection() { return b("bias_correction"); }
  /** 0 means no weight decay. */
  public double weightDecay() { return d("weight_decay"); }
  public double beta1() { return d("beta1"); }
  public double beta2() { return d("beta2"); }
  public double epsilon() { return d("epsilon"); }
  public double adaEpsilon1() { return d("ada_epsilon1"); }
  public double adaEpsilon2() { return d("ada_epsilon2"); }
  /** The global-norm clip; 0 means no clipping. */
  public double gradientClipping() { return d("gradient_clipping"); }

  // ---- model ------------------------------------------------------------------------------------

  /** One attention type per layer (global, local, linear or none), expanded from the repeat form. */
  public List<String> attentionTypes() { return attentionTypes; }
  public int localAttentionRadius() { return i("local_attention_radius"); }
  /** activation_fn, or its alias activation_function. */
  public String activationFn() {
    return values.containsKey("activation_fn") || !values.containsKey("activation_function")
        ? s("activation_fn") : s("activation_function");
  }
  public boolean rotaryEmb() { return b("rotary_emb"); }
  /** [a1, a2], or empty when axial position embeddings are off. */
  public List<Integer> axialPosEmb() { return ints("axial_pos_emb"); }
  public boolean noWeightTie() { return b("no_weight_tie"); }
  public boolean shareParameters() { return b("share_parameters"); }
  public boolean rezero() { return b("rezero"); }
  public boolean scalenorm() { return b("scalenorm"); }
  public boolean macaron() { return b("macaron"); }
  public boolean mlpGlu() { return b("mlp_glu"); }
  public boolean scaleByDepth() { return b("scale_by_depth"); }
  public boolean scaleByIn() { return b("scale_by_in"); }
  /** "gpt_neo" (GPT-Neo's initialisation) or "nanogpt". */
  public String initStyle() { return s("init_style"); }
  public int numMemKv() { return i("num_mem_kv"); }
  /** 0-based layers whose MLP is a mixture of experts; empty when none. */
  public List<Integer> moeLayers() { return ints("moe_layers"); }
  public MoeParams moe() { return moe; }
  public String moeActivation() { return s("moe_activation"); }
  /** "float32" or "bfloat16". */
  public String precision() { return s("precision").equals("fp32") ? "float32" : s("precision"); }
  public boolean bfloat16() { return precision().equals("bfloat16"); }
  public double zLoss() { return d("z_loss"); }
  public boolean entmaxLoss() { return b("entmax_loss"); }
  public double embedDropout() { return d("embed_dropout"); }
  public double resDropout() { return d("res_dropout"); }
  public double attnDropout() { return d("attn_dropout"); }
  public String model() { return s("model"); }

  // ---- MLM --------------------------------------------------------------------------------------

  public boolean mlmTraining() { return b("mlm_training"); }
  /** Attention is causal unless the model is trained as a masked language model. */
  public boolean causal() { return !mlmTraining(); }
  public int mlmMaskId() { return (Integer) required("mlm_mask_id", "when mlm_training is true"); }
  public OptionalInt mlmClsTokenId() { return optInt("mlm_cls_token_id"); }
  public double mlmMaskProb() { return d("mlm_mask_prob"); }
  public double mlmSameTokenProb() { return d("mlm_same_token_prob"); }
  public double mlmRandomTokenProb() { return d("mlm_random_token_prob"); }
  public List<Integer> mlmMaskIgnoreIds() { return ints("mlm_mask_ignore_ids"); }

  @Override
  public String toString() {
    return "GptConfig" + values;
  }
}
