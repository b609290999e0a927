package dev.neomesh.models.gpt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.models.cli.GptLanguageModel;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.interop.HfGptNeo;
import dev.neomesh.models.train.OptimizerSettings;
import dev.neomesh.models.train.TrainProgram;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * μP's rules ({@link Mup}) on the built model: the init std of each kind of weight, each parameter's
 * learning-rate multiplier, that Adam applies it on every update path, and that HuggingFace's export
 * refuses the keys. (The forward pass and one Adam step against PyTorch: {@link VariantReferenceTest};
 * layouts: {@link GptEquivalenceTest}; decoding: {@link DecodingTest}.)
 */
class MupTest {
  /** n_embd 64 over base 16: width_mult 4; d_ff 256 over base filter 32: filter_mult 8. */
  static final String WIDE = "\"n_head\": 4, \"n_embd\": 64, \"n_layer\": 1, \"n_ctx\": 8, \"n_vocab\": 32";
  static final String MUP = "\"mup_base_hidden_size\": 16, \"mup_base_filter_size\": 32";

  static GptConfig config(String extra) {
    return GptConfig.fromJson("{" + WIDE + (extra.isEmpty() ? "" : ", " + extra) + "}");
  }

  /** The root mean square of every parameter's initial value (its std: the draws have mean 0) by name, its size by name#n. */
  static Map<String, Double> initStds(GptConfig cfg) {
    MeshGraph g = new MeshGraph(5);
    MeshOps m = new MeshOps(g);
    Shape shape = Shape.of(new Dim("batch", 1), new Dim("sequence", cfg.nCtx()));
    Gpt gpt = Gpt.build(m, cfg, m.importTensor("tokens", shape, DType.INT32), m.importTensor("labels", shape,
        DType.INT32), false);
    Map<String, Double> out = new LinkedHashMap<>();
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse("x:1"), LayoutRules.NONE)) {
      rt.initialize();
      MeshRuntime.Step step = rt.step();
      gpt.parameters().forEach(step::fetch);
      List<double[]> values = step.run();
      for (int i = 0; i < values.size(); i++) {
        double sum = 0;
        for (double x : values.get(i)) {
          sum += x * x;
        }
        out.put(m.variableOp(gpt.parameters().get(i)).name(), Math.sqrt(sum / values.get(i).length));
        out.put(m.variableOp(gpt.parameters().get(i)).name() + "#n", (double) values.get(i).length);
      }
    }
    return out;
  }

  /** The sample std of n normal draws is the std to 4.5 sigma, 4.5/sqrt(2n) relative (3.5% for 64 x 128 draws). */
  static void assertStd(Map<String, Double> stds, String name, double want) {
    double tol = 4.5 / Math.sqrt(2 * stds.get(name + "#n"));
    assertEquals(want, stds.get(name), tol * want, name + " init std");
  }

  /**
   * GPT-Neo's init under μP (m 4, mf 8): c_fc's constant 0.02 becomes 0.02/2 and c_proj's 0.02/sqrt(8);
   * k, v, o keep n_embd^-1/2 (already 1/sqrt(fan_in)); q keeps the folded n_embd^-1/2 d_head^-1/2, or
   * under scale_qk_dot_by_d is drawn like k; embeddings keep theirs. nanoGPT's constant stds all fall by
   * sqrt(m) (c_proj sqrt(mf)); under scale_by_in the MLP's std already falls with the fan-in and stays.
   */
  @Test
  void hiddenWeightsDrawVarianceOverFanInAnchoredAtTheBaseWidth() {
    double e = Math.pow(64, -0.5);
    Map<String, Double> sp = initStds(config(""));
    assertStd(sp, "gpt2/h0/mlp/conv1d_main/c_fc/kernel", 0.02);
    assertStd(sp, "gpt2/h0/attn/q", e * 0.25);
    Map<String, Double> mup = initStds(config(MUP));
    assertStd(mup, "gpt2/h0/mlp/conv1d_main/c_fc/kernel", 0.01);
    assertStd(mup, "gpt2/h0/mlp/conv1d_main/c_proj/kernel", 0.02 / Math.sqrt(8));
    assertStd(mup, "gpt2/h0/attn/q", e * 0.25);
    for (String w : List.of("k", "v", "o")) {
      assertStd(mup, "gpt2/h0/attn/" + w, e);
    }
    assertStd(mup, "gpt2/wte", 0.02);
    assertStd(mup, "gpt2/wpe", 0.01);
    assertStd(initStds(config(MUP + ", \"scale_qk_dot_by_d\": true")), "gpt2/h0/attn/q", e);
    Map<String, Double> nano = initStds(config(MUP + ", \"init_style\": \"nanogpt\""));
    double residual = 0.02 / Math.sqrt(2);
    for (String w : List.of("q", "k", "v")) {
      assertStd(nano, "gpt2/h0/attn/" + w, 0.01);
    }
    assertStd(nano, "gpt2/h0/attn/o", residual / 2);
    assertStd(nano, "gpt2/h0/mlp/conv1d_main/c_fc/kernel", 0.01);
    assertStd(nano, "gpt2/h0/mlp/conv1d_main/c_proj/kernel", residual / Math.sqrt(8));
    assertStd(nano, "gpt2/wte", 0.02);
    Map<String, Double> byIn = initStds(config(MUP + ", \"scale_by_in\": true"));
    assertStd(byIn, "gpt2/h0/mlp/conv1d_main/c_fc/kernel", 0.02 / 8);
    assertStd(byIn, "gpt2/h0/mlp/conv1d_main/c_proj/kernel", 0.02 / 16);
  }

  /** lr/m for hidden matrices (c_proj lr/mf, MoE's too), lr for vectors and the untied output; 1 without μP. */
  @Test
  void hiddenMatricesTrainAtLrOverWidthMultAndVectorsAtLr() {
    GptConfig cfg = config(MUP + ", \"no_weight_tie\": true, \"macaron\": true, \"num_mem_kv\": 2, \"moe_layers\": [0],"
        + " \"moe_params\": {\"moe_num_experts\": 2, \"moe_hidden_size\": 32}");
    MeshGraph g = new MeshGraph(5);
    MeshOps m = new MeshOps(g);
    Shape shape = Shape.of(new Dim("batch", 1), new Dim("sequence", 8));
    Gpt gpt = Gpt.build(m, cfg, m.importTensor("tokens", shape, DType.INT32), m.importTensor("labels", shape,
        DType.INT32), false);
    Map<String, Double> want = new LinkedHashMap<>();
    for (String w : List.of("q", "k", "v", "o")) {
      want.put("gpt2/h0/attn/" + w, 0.25);
    }
    want.put("gpt2/h0/mlp_macaron/conv1d_main/c_fc/kernel", 0.25);
    want.put("gpt2/h0/mlp_macaron/conv1d_main/c_proj/kernel", 0.125);
    for (String w : List.of("top_2_gating/kernel", "wi/kernel", "wo/kernel")) {
      want.put("gpt2/h0/moe/" + w, 0.25);
    }
    for (String w : List.of("gpt2/wte", "gpt2/wpe", "gpt2/h0/attn/mem_k", "gpt2/h0/attn/mem_v",
        "gpt2/h0/attn/compute_output_bias/o_b", "gpt2/h0/mlp_macaron/conv1d_main/c_fc/bias", "gpt2/h0/norm_1/g",
        "gpt2/ln_f/b", "gpt2/wte_final_linear/linear_out/kernel", "gpt2/wte_final_linear/linear_out/bias")) {
      want.put(w, 1.0);
    }
    int seen = 0;
    for (MeshTensor p : gpt.parameters()) {
      String name = m.variableOp(p).name();
      if (want.containsKey(name)) {
        assertEquals(want.get(name), gpt.lrMultiplier(name), 1e-15, name);
        seen++;
      }
    }
    assertEquals(want.size(), seen, "every listed parameter exists");
    MeshOps sp = new MeshOps(new MeshGraph(5));
    assertEquals(1.0, Gpt.build(sp, config("\"no_weight_tie\": true"), sp.importTensor("tokens", shape, DType.INT32),
        sp.importTensor("labels", shape, DType.INT32), false).lrMultiplier("gpt2/h0/attn/q"), "no muP: every rate lr");
  }

  /**
   * Adam's first step from zero slots with bias correction and a tiny epsilon moves every element by
   * lr·k·sign(g): so |Δw| of a hidden matrix is lr/m (c_proj lr/mf), of a bias or gain lr. On the fused
   * kernel, the mesh-op updates, with two microbatches (the gated updates), ZeRO stage 1 on x:2 (the
   * optimizer runs on sharded views, which {@code Optimizer.nameOf} maps to their variable) and ZeRO
   * stage 3 on x:2 (the model stores each parameter as its view).
   */
  @Test
  void adamMovesEachParameterByItsOwnRate() {
    GptConfig cfg = config(MUP);
    OptimizerSettings adam = new OptimizerSettings(OptimizerSettings.Kind.ADAM, 0.9, 0.95, 1e-12, 0, true, 1e-30, 1e-3,
        0, true);
    record Path(String name, GptConfig cfg, OptimizerSettings opt, int microbatches, String mesh, String layout) {}
    for (Path path : List.of(new Path("fused kernel", cfg, adam, 1, "x:1", ""),
        new Path("mesh-op updates", cfg, adam.withFusedAdam(false), 1, "x:1", ""),
        new Path("two microbatches", cfg, adam, 2, "x:1", ""),
        new Path("ZeRO stage 1 on x:2", cfg, adam.withZeroStage(1), 1, "x:2", "batch:x"),
        new Path("ZeRO stage 3 on x:2", config(MUP + ", \"zero_stage\": 3"), adam.withZeroStage(3), 1, "x:2",
            "batch:x"))) {
      Map<String, double[]> delta = oneStep(path.cfg(), path.opt(), path.microbatches(), path.mesh(), path.layout());
      Map<String, Double> rate = Map.of("gpt2/h0/attn/q", 0.25, "gpt2/h0/attn/o", 0.25,
          "gpt2/h0/mlp/conv1d_main/c_fc/kernel", 0.25, "gpt2/h0/mlp/conv1d_main/c_proj/kernel", 0.125,
          "gpt2/h0/mlp/conv1d_main/c_proj/bias", 1.0, "gpt2/h0/norm_1/g", 1.0, "gpt2/wte", 1.0);
      for (Map.Entry<String, Double> r : rate.entrySet()) {
        double want = LR * r.getValue();
        double[] d = delta.get(r.getKey());
        int still = 0;
        for (int k = 0; k < d.length; k++) {
          if (d[k] == 0) {
            still++; // a zero gradient (an element the batch never reaches)
            continue;
          }
          assertEquals(want, Math.abs(d[k]), 2e-3 * want, path.name() + ": |dw| of " + r.getKey() + "[" + k + "]");
        }
        assertTrue(still <= d.length / 100, path.name() + ": " + still + " of " + d.length + " elements of "
            + r.getKey() + " did not move");
      }
    }
  }

  static final double LR = 0.01;

  /** w after one step minus w before, per parameter name. */
  static Map<String, double[]> oneStep(GptConfig cfg, OptimizerSettings opt, int microbatches, String mesh,
      String layout) {
    int batch = 4;
    TrainProgram p = TrainProgram.build(new GptLanguageModel(cfg), 3, batch, cfg.nCtx(), microbatches, t -> LR, opt);
    MeshOps m = new MeshOps(p.graph());
    Random r = new Random(9);
    int[] tokens = new int[batch * cfg.nCtx()];
    int[] labels = new int[tokens.length];
    for (int i = 0; i < tokens.length; i++) {
      tokens[i] = r.nextInt(cfg.nVocab());
      labels[i] = r.nextInt(cfg.nVocab());
    }
    Map<String, double[]> out = new LinkedHashMap<>();
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(p.graph(), MeshShape.parse(mesh), LayoutRules.parse(layout))) {
      rt.initialize();
      List<double[]> before = fetch(rt, p.parameters());
      p.runStep(rt, 0, tokens, labels);
      List<double[]> after = fetch(rt, p.parameters());
      for (int i = 0; i < before.size(); i++) {
        double[] d = after.get(i).clone();
        for (int k = 0; k < d.length; k++) {
          d[k] -= before.get(i)[k];
        }
        out.put(m.variableOp(p.parameters().get(i)).name(), d);
      }
    }
    return out;
  }

  private static List<double[]> fetch(MeshRuntime rt, List<MeshTensor> params) {
    MeshRuntime.Step s = rt.step();
    params.forEach(s::fetch);
    return s.run();
  }

  /** HuggingFace's GPT-Neo has none of these: the export (and import) names each key set. */
  @Test
  void huggingFaceExportRefusesEveryMupKey() {
    assertTrue(HfGptNeo.inexpressible(config("")).isEmpty());
    List<String> bad = HfGptNeo.inexpressible(config(MUP + ", \"embeddings_scale\": 10, \"output_logits_alpha\": 2,"
        + " \"scale_qk_dot_by_d\": true, \"attention_logits_alpha\": 0.5"));
    String all = String.join("; ", bad);
    assertEquals(5, bad.size(), all);
    for (String key : List.of("mup_base_hidden_size: 16", "embeddings_scale: 10.0", "output_logits_alpha: 2.0",
        "scale_qk_dot_by_d: true", "attention_logits_alpha: 0.5")) {
      assertTrue(all.contains(key), key + " in " + all);
    }
    assertEquals(List.of("embeddings_scale: 10.0"), HfGptNeo.inexpressible(config("\"embeddings_scale\": 10")));
  }
}
