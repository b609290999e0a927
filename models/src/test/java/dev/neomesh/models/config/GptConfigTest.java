package dev.neomesh.models.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
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
      assertEquals("gelu", c.activationFn(), f.toString());
      assertTrue(c.lr() > 0 && c.trainSteps() > 0 && c.trainBatchSize() > 0, f.toString());
      c.modelPath();
      c.datasets().forEach(d -> assertTrue(d.get(0) instanceof String, f + ": " + d));
    }
    GptConfig par = GptConfig.load(dir.resolve("gpt3_PAR_small_256.json"));
    assertEquals(19, par.attentionTypes().size());
    assertEquals(List.of("global", "none", "none"), par.attentionTypes().subList(0, 3));
    assertEquals("none", par.attentionTypes().get(18));
    GptConfig small = GptConfig.load(dir.resolve("gpt2_small.json"));
    assertEquals(List.of(List.of("openwebtext2_new_inputs")), small.datasets());
    assertEquals(300000, small.lrDecayEnd());
    assertEquals(0.0, small.weightDecay());
  }

  @Test
  void defaults() {
    GptConfig c = tiny("");
    assertEquals(List.of("global", "global"), c.attentionTypes());
    assertEquals(256, c.localAttentionRadius());
    assertEquals("gelu", c.activationFn());
    assertEquals(1e-4, c.zLoss());
    assertEquals("float32", c.precision());
    assertEquals("adam", c.optName());
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
    assertEquals("local", c.attentionTypes().get(23));
    String m = message("\"attention_types\": [[[\"global\",\"local\"],12]]");
    assertTrue(m.contains("24") && m.contains("n_layer is 2"), m);
    m = message("\"attention_types\": [[[\"global\",\"lokal\"],1]]");
    assertTrue(m.contains("lokal") && m.contains("\"local\""), m);
    assertEquals(List.of("linear", "none"), tiny("\"attention_types\": [\"linear\", \"none\"]").attentionTypes());
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
    assertEquals("relu", tiny("\"activation_function\": \"relu\"").activationFn());
    assertEquals("silu", tiny("\"activation_fn\": \"silu\"").activationFn());
    String m = message("\"activation_fn\": \"silu\", \"activation_function\": \"relu\"");
    assertTrue(m.contains("alias"), m);
  }

  @Test
  void overridesParseJsonElseString() {
    GptConfig c = tiny("\"lr\": 0.1").withOverrides(Map.of("lr", "1e-4", "activation_fn", "relu",
        "rotary_emb", "true", "moe_layers", "[0,1]", "mesh_shape", "x:2,y:2"));
    assertEquals(1e-4, c.lr());
    assertEquals("relu", c.activationFn());
    assertTrue(c.rotaryEmb());
    assertEquals(List.of(0, 1), c.moeLayers());
    assertEquals("x:2,y:2", c.meshShape());
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
}
