package dev.neomesh.models.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.models.train.LearningRateSchedule.Decay;
import dev.neomesh.models.train.OptimizerSettings.Kind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class GptConfigTest {
  static final String TINY = "{\"n_head\": 4, \"n_embd\": 16, \"n_layer\": 2, \"n_ctx\": 8, \"n_vocab\": 32";

  static GptConfig tiny(String extra) {
    return GptConfig.fromJson(TINY + (extra.isEmpty() ? "" : ", " + extra) + "}");
  }

  static String message(String extra) {
    return assertThrows(ConfigException.class, () -> tiny(extra)).getMessage();
  }

  @Test
  void everyShippedGptNeoConfigLoads() throws IOException {
    Path dir = Path.of("/work/shared/gptneo-configs");
    Assumptions.assumeTrue(Files.isDirectory(dir), "skipped: GPT-Neo's shipped configs are not at " + dir);
    List<Path> files;
    try (Stream<Path> s = Files.list(dir)) {
      files = s.filter(p -> p.toString().endsWith(".json")).sorted().toList();
    }
    assertFalse(files.isEmpty());
    for (Path f : files) {
      GptConfig c = GptConfig.load(f);
      assertEquals(c.nLayer(), c.attentionTypes().size(), f.toString());
      assertEquals(Activation.GELU, c.activationFn(), f.toString());
      assertTrue(c.lr() > 0 && c.trainSteps() > 0 && c.trainBatchSize() > 0, f.toString());
      c.modelPath();
      c.datasets().forEach(d -> assertTrue(d.get(0) instanceof String, f + ": " + d));
    }
    GptConfig par = GptConfig.load(dir.resolve("gpt3_PAR_small_256.json"));
    assertEquals(19, par.attentionTypes().size());
    assertEquals(List.of(AttentionType.GLOBAL, AttentionType.NONE, AttentionType.NONE),
        par.attentionTypes().subList(0, 3));
    assertEquals(AttentionType.NONE, par.attentionTypes().get(18));
    GptConfig small = GptConfig.load(dir.resolve("gpt2_small.json"));
    assertEquals(List.of(List.of("openwebtext2_new_inputs")), small.datasets());
    assertEquals(300000, small.lrDecayEnd());
    assertEquals(0.0, small.weightDecay());
  }

  @Test
  void defaults() {
    GptConfig c = tiny("");
    assertEquals(List.of(AttentionType.GLOBAL, AttentionType.GLOBAL), c.attentionTypes());
    assertEquals(256, c.localAttentionRadius());
    assertEquals(Activation.GELU, c.activationFn());
    assertEquals(1e-4, c.zLoss());
    assertEquals(Precision.FLOAT32, c.precision());
    assertEquals(Kind.ADAM, c.optName());
    assertEquals(16, c.moe().numExperts());
    assertEquals(4, c.headSize());
    assertTrue(c.causal());
    assertEquals(1, c.seed());
    assertTrue(c.tokensPerMbPerReplica().isEmpty());
    String m = assertThrows(ConfigException.class, c::trainSteps).getMessage();
    assertTrue(m.contains("train_steps"), m);
  }

  @Test
  void attentionTypesExpandAndMustMatchNLayer() {
    GptConfig c = GptConfig.fromJson("{\"n_head\": 4, \"n_embd\": 16, \"n_layer\": 24, \"n_ctx\": 8, \"n_vocab\": 32,"
        + "\"attention_types\": [[[\"global\",\"local\"],12]]}");
    assertEquals(24, c.attentionTypes().size());
    assertEquals(AttentionType.LOCAL, c.attentionTypes().get(23));
    String m = message("\"attention_types\": [[[\"global\",\"local\"],12]]");
    assertTrue(m.contains("24") && m.contains("n_layer is 2"), m);
    m = message("\"attention_types\": [[[\"global\",\"lokal\"],1]]");
    assertTrue(m.contains("lokal") && m.contains("\"local\""), m);
    assertEquals(List.of(AttentionType.LINEAR, AttentionType.NONE),
        tiny("\"attention_types\": [\"linear\", \"none\"]").attentionTypes());
  }

  @Test
  void unknownKeyNamesTheClosest() {
    String m = message("\"n_embed\": 3");
    assertTrue(m.contains("\"n_embed\"") && m.contains("did you mean \"n_embd\""), m);
    m = message("\"moe_params\": {\"moe_num_expert\": 4}");
    assertTrue(m.contains("moe_num_experts"), m);
  }

  @Test
  void wrongTypesAndValuesNameTheKeyAndWhatIsAllowed() {
    String m = message("\"n_layer\": \"two\"");
    assertTrue(m.contains("n_layer") && m.contains("integer"), m);
    m = message("\"rotary_emb\": 1");
    assertTrue(m.contains("rotary_emb") && m.contains("true or false"), m);
    m = message("\"activation_fn\": \"gelux\"");
    assertTrue(m.contains("activation_fn") && m.contains("relu") && m.contains("closest: \"gelu\""), m);
    m = message("\"opt_name\": \"rmsprop\"");
    assertTrue(m.contains("adam, adafactor, sgd"), m);
    m = message("\"res_dropout\": 1.5");
    assertTrue(m.contains("res_dropout") && m.contains("[0, 1)"), m);
    m = message("\"axial_pos_emb\": [2, 3]");
    assertTrue(m.contains("a1*a2 >= n_ctx"), m);
    m = message("\"moe_layers\": [2]");
    assertTrue(m.contains("moe_layers") && m.contains("0..1"), m);
    m = message("\"mesh_shape\": \"x:0\"");
    assertTrue(m.contains("mesh_shape"), m);
    m = message("\"mlm_training\": true");
    assertTrue(m.contains("mlm_mask_id"), m);
    m = assertThrows(ConfigException.class, () -> GptConfig.fromJson(
        "{\"n_head\": 5, \"n_embd\": 16, \"n_layer\": 2, \"n_ctx\": 8, \"n_vocab\": 32}")).getMessage();
    assertTrue(m.contains("n_embd (16)") && m.contains("n_head (5)"), m);
    m = assertThrows(ConfigException.class, () -> GptConfig.fromJson("{\"n_head\": 4,")).getMessage();
    assertTrue(m.contains("not valid JSON"), m);
    m = assertThrows(ConfigException.class, () -> GptConfig.fromJson("{\"n_head\": 4}")).getMessage();
    assertTrue(m.contains("n_embd"), m);
  }

  @Test
  void activationFunctionIsAnAlias() {
    assertEquals(Activation.RELU, tiny("\"activation_function\": \"relu\"").activationFn());
    assertEquals(Activation.SILU, tiny("\"activation_fn\": \"silu\"").activationFn());
    String m = message("\"activation_fn\": \"silu\", \"activation_function\": \"relu\"");
    assertTrue(m.contains("alias"), m);
  }

  @Test
  void overridesParseJsonElseString() {
    GptConfig c = tiny("\"lr\": 0.1").withOverrides(Map.of("lr", "1e-4", "activation_fn", "relu",
        "rotary_emb", "true", "moe_layers", "[0,1]", "mesh_shape", "x:2,y:2"));
    assertEquals(1e-4, c.lr());
    assertEquals(Activation.RELU, c.activationFn());
    assertTrue(c.rotaryEmb());
    assertEquals(List.of(0, 1), c.moeLayers());
    assertEquals("x:2,y:2", c.meshShape());
    assertEquals(MeshShape.parse("x:2,y:2"), c.mesh());
    assertEquals(0.1, tiny("\"lr\": 0.1").lr());
    String m = assertThrows(ConfigException.class, () -> tiny("").withOverrides(Map.of("n_heads", "3")))
        .getMessage();
    assertTrue(m.contains("n_head\""), m);
    assertThrows(ConfigException.class, () -> tiny("").withOverrides(Map.of("n_layer", "x")));
    assertEquals(256, tiny("\"local_attention_radius\": 4").withOverrides(Map.of("local_attention_radius", "null"))
        .localAttentionRadius());
    assertTrue(GptConfig.fromJson(c.json()).rotaryEmb());
  }

  @Test
  void choiceKeysReadAsEnumsFromGptNeosNames() {
    assertEquals(Decay.CONSTANT, tiny("").lrDecay());
    assertEquals(Decay.COSINE, tiny("\"lr_decay\": \"cosine\"").lrDecay());
    assertEquals(Decay.LINEAR, tiny("\"lr_decay\": \"linear\"").lrDecay());
    assertEquals(Decay.CONSTANT, tiny("\"lr_decay\": \"none\"").lrDecay());
    assertEquals(Decay.CONSTANT, tiny("\"lr_decay\": \"constant\"").lrDecay());
    assertEquals(Kind.ADAFACTOR, tiny("\"opt_name\": \"adafactor\"").optName());
    assertEquals(Kind.SGD, tiny("\"opt_name\": \"sgd\"").optName());
    assertEquals(Activation.SILU, tiny("\"activation_fn\": \"swish\"").activationFn());
    assertEquals(Activation.LRELU020, tiny("\"moe_activation\": \"lrelu020\"").moeActivation());
    assertEquals(Activation.RELU, tiny("").moeActivation());
    assertEquals(Precision.FLOAT32, tiny("\"precision\": \"fp32\"").precision());
    assertTrue(tiny("\"precision\": \"bfloat16\"").bfloat16());
    assertEquals(Precision.FLOAT32, tiny("").parameterPrecision());
    assertEquals(Precision.FLOAT32, tiny("\"parameter_precision\": \"fp32\"").parameterPrecision());
    assertTrue(tiny("\"parameter_precision\": \"bfloat16\"").bfloat16Parameters());
    assertFalse(tiny("\"parameter_precision\": \"bfloat16\"").bfloat16(), "activations stay float32");
    assertEquals(InitStyle.GPT_NEO, tiny("").initStyle());
    assertEquals(InitStyle.NANOGPT, tiny("\"init_style\": \"nanogpt\"").initStyle());
    assertEquals(List.of(AttentionType.GLOBAL, AttentionType.LOCAL),
        tiny("\"attention_types\": [[[\"global\", \"local\"], 1]]").attentionTypes());
  }

  @Test
  void anUnknownChoiceNamesTheKeyTheValueAndEveryAcceptedValue() {
    assertEquals("model config <json>: key \"lr_decay\" is \"exponential\"; allowed: linear, cosine, constant, none"
        + " (closest: \"linear\")", message("\"lr_decay\": \"exponential\""));
    assertEquals("model config <json>: key \"opt_name\" is \"adamw\"; allowed: adam, adafactor, sgd"
        + " (closest: \"adam\")",
        message("\"opt_name\": \"adamw\""));
    assertEquals("model config <json>: key \"activation_fn\" is \"gelux\"; allowed: gelu, relu, sigmoid, tanh, selu, elu,"
        + " abs, sin, cos, sign, silu, swish, softplus, softsign, mish, square, identity, lrelu001, lrelu01, lrelu020"
        + " (closest: \"gelu\")", message("\"activation_fn\": \"gelux\""));
    assertEquals("model config <json>: attention_types: unknown type \"lokal\"; allowed: global, local, linear, none"
        + " (closest: \"local\")", message("\"attention_types\": [\"global\", \"lokal\"]"));
    assertEquals("model config <json>: key \"precision\" must be a string (one of float32, fp32, bfloat16), got 16",
        message("\"precision\": 16"));
    assertEquals("model config <json>: key \"parameter_precision\" is \"float16\"; allowed: float32, fp32, bfloat16"
        + " (closest: \"bfloat16\")", message("\"parameter_precision\": \"float16\""));
    String m = assertThrows(ConfigException.class, () -> tiny("").withOverrides(Map.of("opt_name", "lion")))
        .getMessage();
    assertTrue(m.contains("key \"opt_name\" is \"lion\"; allowed: adam, adafactor, sgd"), m);
  }

  @Test
  void meshShapeAndLayoutAreParsedOnceWhenRead() {
    GptConfig c = tiny("\"mesh_shape\": \"x:2, y:4\", \"layout\": \"batch:x; heads:y\"");
    assertEquals(MeshShape.parse("x:2,y:4"), c.mesh());
    assertEquals(LayoutRules.parse("batch:x,heads:y"), c.layoutRules());
    assertEquals(LayoutRules.NONE, tiny("").layoutRules());
    assertEquals(MeshShape.parse("x:1"), tiny("").mesh());
    String m = message("\"layout\": \"batch\"");
    assertTrue(m.startsWith("model config <json>: layout: "), m);
  }

  /** The keys accepted for GPT-Neo's sake that change nothing: one warning, exactly these words, only for keys set. */
  @Test
  void ignoredKeysGiveOneWarningNamingEachKeySet() {
    assertEquals(Optional.empty(), tiny("").ignoredKeysWarning());
    assertEquals(Optional.empty(), tiny("\"rotary_emb\": true, \"moe_params\": {\"moe_num_experts\": 4}")
        .ignoredKeysWarning());
    GptConfig c = tiny("\"entmax_loss\": true, \"eval_tasks\": [\"lambada\"], "
        + "\"moe_params\": {\"moe_group_size\": 64}");
    assertEquals(Optional.of("the model config sets keys that neomesh accepts but ignores: entmax_loss (the loss is "
        + "always softmax cross-entropy); eval_tasks (the lambada task is not "
        + "implemented, eval_steps evaluates on eval_path); moe_params.moe_group_size (one expert group per sequence, "
        + "so the model does not depend on the layout). docs/MODEL.md lists every such key."), c.ignoredKeysWarning());
    assertEquals(Optional.of("the model config sets keys that neomesh accepts but ignores: log_grads (no per-variable "
        + "gradient summaries, metrics.jsonl logs the global grad_norm). docs/MODEL.md lists every such key."),
        tiny("").withOverrides(Map.of("log_grads", "true")).ignoredKeysWarning());
    assertEquals(Optional.empty(), tiny("\"entmax_loss\": true").withOverrides(Map.of("entmax_loss", "null"))
        .ignoredKeysWarning());
    List<String> all = List.of("entmax_loss", "log_grads", "input_fn", "shuffle_input_filenames",
        "no_dataset", "eval_tasks", "remove_partial_sequences", "mlm_cls_token_id");
    GptConfig every = tiny("\"entmax_loss\": false, \"log_grads\": false, "
        + "\"input_fn\": \"generic_text\", \"shuffle_input_filenames\": true, \"no_dataset\": false, "
        + "\"eval_tasks\": [], \"remove_partial_sequences\": true, \"mlm_cls_token_id\": 4, "
        + "\"moe_params\": {\"moe_group_size\": 1024}");
    String w = every.ignoredKeysWarning().orElseThrow();
    for (String k : all) {
      assertTrue(w.contains(k + " ("), k + ": " + w);
    }
    assertTrue(w.contains("moe_params.moe_group_size ("), w);
  }

  @Test
  void coversEveryInventoryKey() {
    for (String k : List.of("n_head", "n_embd", "n_layer", "n_ctx", "n_vocab", "model_path", "mesh_shape", "layout",
        "datasets", "attention_types", "local_attention_radius", "activation_fn", "rotary_emb", "axial_pos_emb",
        "no_weight_tie", "share_parameters", "rezero", "scalenorm", "macaron", "mlp_glu", "recompute_grad",
        "scale_by_depth", "scale_by_in", "num_mem_kv", "moe_layers", "moe_params", "moe_activation", "precision",
        "tokens_per_mb_per_replica", "z_loss", "entmax_loss", "lr", "lr_decay", "lr_decay_end", "warmup_steps",
        "opt_name", "weight_decay", "beta1", "beta2", "epsilon", "ada_epsilon1", "ada_epsilon2", "gradient_clipping",
        "log_grads", "train_batch_size", "eval_batch_size", "predict_batch_size", "train_steps", "eval_steps",
        "predict_steps", "iterations", "embed_dropout", "res_dropout", "attn_dropout", "input_fn", "seed",
        "shuffle_input_filenames", "no_dataset", "eval_tasks", "predict_max_steps", "remove_partial_sequences",
        "mlm_training", "mlm_mask_id", "mlm_cls_token_id", "mlm_mask_prob", "mlm_same_token_prob",
        "mlm_random_token_prob", "mlm_mask_ignore_ids", "model", "activation_function")) {
      assertTrue(GptConfig.knownKeys().contains(k), k);
    }
  }

  @Test
  void sparseAndResidualAttentionAreCheckedAndWarnWhenTheyDoNothing() {
    assertTrue(message("\"sparse_topk\": -1").contains("sparse_topk"), "negative k");
    String m = message("\"sparse_topk\": 2, \"num_mem_kv\": 2");
    assertTrue(m.contains("do not combine") && m.contains("Set one of them to 0"), m);
    m = message("\"residual_attn\": true, \"attention_types\": [\"local\", \"global\"]");
    assertTrue(m.contains("residual_attn needs every layer's attention to be global") && m.contains("[LOCAL, GLOBAL]"), m);
    m = message("\"residual_attn\": true, \"num_mem_kv\": 1");
    assertTrue(m.contains("residual_attn does not combine with num_mem_kv"), m);
    assertTrue(tiny("\"sparse_topk\": 3, \"residual_attn\": true").ignoredKeysWarning().isEmpty());
    String w = tiny("\"sparse_topk\": 3, \"attention_types\": [\"local\", \"linear\"]").ignoredKeysWarning().orElseThrow();
    assertTrue(w.contains("sparse_topk (it applies to global attention layers and attention_types has none)"), w);
    w = tiny("\"sparse_topk\": 8").ignoredKeysWarning().orElseThrow();
    assertTrue(w.contains("every key is kept"), w);
  }

  @Test
  void zeroStageIsZeroToThree() {
    assertEquals(0, tiny("").zeroStage());
    assertEquals(3, tiny("\"zero_stage\": 3, \"tokens_per_mb_per_replica\": 64").zeroStage());
    for (String bad : List.of("4", "-1")) {
      String m = message("\"zero_stage\": " + bad);
      assertTrue(m.contains("zero_stage must be 0 (no sharding), 1 (optimizer state sharded over the data-parallel"
          + " axis), 2 (also the gradients) or 3 (also the parameters), got " + bad), m);
    }
  }

  @Test
  void nKvHeadDefaultsToNHeadAndMustDivideIt() {
    assertEquals(4, tiny("").nKvHead(), "multi-head attention by default");
    assertEquals(1, tiny("\"n_kv_head\": 1").nKvHead());
    String m = message("\"n_kv_head\": 3");
    assertTrue(m.contains("n_kv_head (3) must divide n_head (4)") && m.contains("1 is multi-query"), m);
    m = message("\"n_kv_head\": 0");
    assertTrue(m.contains("\"n_kv_head\" must be positive"), m);
  }

  /**
   * μP's keys (Cerebras' names): off by default with every scale 1; the base filter size defaults to
   * 4·mup_base_hidden_size; the scales apply without μP too (output_logits_alpha then multiplies the
   * logits by alpha / 1); refusals name the key and the fix.
   */
  @Test
  void mupKeysHaveCerebrasDefaultsAndRefuseBadValues() {
    GptConfig sp = tiny("");
    assertFalse(sp.mup());
    assertEquals(16, sp.mupBaseHiddenSize(), "n_embd without muP: width_mult 1");
    assertEquals(1.0, sp.embeddingsScale());
    assertEquals(1.0, sp.outputLogitsAlpha());
    assertFalse(sp.scaleQkDotByD());
    assertEquals(1.0, sp.attentionLogitsAlpha());
    GptConfig mup = tiny("\"mup_base_hidden_size\": 8");
    assertTrue(mup.mup());
    assertEquals(8, mup.mupBaseHiddenSize());
    assertEquals(32, mup.mupBaseFilterSize(), "4 * mup_base_hidden_size by default");
    assertEquals(24, tiny("\"mup_base_hidden_size\": 8, \"mup_base_filter_size\": 24").mupBaseFilterSize());
    GptConfig scales = tiny("\"embeddings_scale\": 10, \"output_logits_alpha\": 2.5, \"scale_qk_dot_by_d\": true,"
        + " \"attention_logits_alpha\": 0.5");
    assertFalse(scales.mup(), "the scales alone do not turn muP on");
    assertEquals(10.0, scales.embeddingsScale());
    assertEquals(2.5, scales.outputLogitsAlpha());
    assertTrue(scales.scaleQkDotByD());
    assertEquals(0.5, scales.attentionLogitsAlpha());

    String m = message("\"mup_base_hidden_size\": 0");
    assertTrue(m.contains("\"mup_base_hidden_size\" must be positive, got 0"), m);
    m = message("\"mup_base_hidden_size\": -8");
    assertTrue(m.contains("\"mup_base_hidden_size\" must be positive, got -8"), m);
    m = message("\"mup_base_hidden_size\": 8, \"mup_base_filter_size\": 0");
    assertTrue(m.contains("\"mup_base_filter_size\" must be positive"), m);
    m = message("\"mup_base_filter_size\": 32");
    assertTrue(m.contains("mup_base_filter_size (32) is set but mup_base_hidden_size is not"), m);
    m = message("\"mup_base_hidden_size\": 8, \"opt_name\": \"sgd\"");
    assertTrue(m.contains("mup_base_hidden_size (muP) needs opt_name \"adam\", got \"sgd\"")
        && m.contains("Set opt_name to \"adam\" or drop mup_base_hidden_size"), m);
    m = message("\"mup_base_hidden_size\": 8, \"opt_name\": \"adafactor\"");
    assertTrue(m.contains("got \"adafactor\""), m);
    assertEquals(Kind.ADAM, tiny("\"mup_base_hidden_size\": 8, \"opt_name\": \"adam\"").optName());
    for (String k : List.of("embeddings_scale", "output_logits_alpha", "attention_logits_alpha")) {
      m = message("\"" + k + "\": 0");
      assertTrue(m.contains("key \"" + k + "\" must be a positive number, got 0"), m);
      m = message("\"" + k + "\": -1.5");
      assertTrue(m.contains("key \"" + k + "\" must be a positive number, got -1.5"), m);
    }
    m = message("\"scale_qk_dot_by_d\": 1");
    assertTrue(m.contains("scale_qk_dot_by_d"), m);
    m = message("\"mup_base_hidden_size\": 8.5");
    assertTrue(m.contains("mup_base_hidden_size"), m);
    m = message("\"mup_base_hiden_size\": 8");
    assertTrue(m.contains("did you mean \"mup_base_hidden_size\""), m);
  }

  @Test
  void localLayersAreBlockedWhereTheRadiusCutsNCtxIntoBlocks() {
    assertTrue(tiny("\"local_attention_radius\": 2").localAttentionBlocked(8), "4 blocks of 2, by default");
    assertFalse(tiny("\"local_attention_radius\": 3").localAttentionBlocked(8), "8 is no multiple of 3: banded");
    assertFalse(tiny("\"local_attention_radius\": 8").localAttentionBlocked(8), "one block: banded");
    assertFalse(tiny("\"local_attention_radius\": 2, \"local_attention_blocked\": false").localAttentionBlocked(8));
    assertTrue(message("\"local_attention_blocked\": 1").contains("local_attention_blocked"), "a boolean");
    assertTrue(tiny("\"local_attention_radius\": 2, \"local_attention_blocked\": true").ignoredKeysWarning().isEmpty());
    String w = tiny("\"local_attention_radius\": 3, \"local_attention_blocked\": true").ignoredKeysWarning().orElseThrow();
    assertTrue(w.contains("local_attention_blocked (n_ctx 8 is not a multiple of local_attention_radius 3"), w);
  }
}
