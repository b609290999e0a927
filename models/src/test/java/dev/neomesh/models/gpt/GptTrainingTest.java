package dev.neomesh.models.gpt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.Gradients;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.comm.Collective;
import dev.neomesh.mesh.lower.Counters;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.models.config.GptConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.tensorflow.Tensor;

/** The model behaves like a language model: ln(n_vocab) at init, learns under SGD, names as GPT-Neo. */
class GptTrainingTest {
  @Test
  void lossAtInitIsAboutLnVocab() {
    double loss = GptHarness.run(GptHarness.config(""), "x:1", "", false).loss();
    assertEquals(Math.log(32), loss, 0.15, "loss at init " + loss);
  }

  /** SGD with dropout on a repeated batch, run on x:2,y:2: the loss falls, and the dropout phase advances. */
  @Test
  void sgdStepsOnARepeatedBatchLowerTheLoss() {
    GptConfig cfg = GptHarness.config("\"res_dropout\": 0.1, \"embed_dropout\": 0.1");
    MeshGraph g = new MeshGraph(1234);
    MeshOps m = new MeshOps(g);
    Shape shape = Shape.of(new Dim("batch", GptHarness.BATCH), new Dim("sequence", GptHarness.SEQUENCE));
    MeshTensor tokens = m.importTensor("tokens", shape, DType.INT32);
    MeshTensor labels = m.importTensor("labels", shape, DType.INT32);
    Gpt gpt = Gpt.build(m, cfg, tokens, labels, true);
    List<MeshTensor> grads = Gradients.of(gpt.loss(), gpt.parameters());
    for (int i = 0; i < grads.size(); i++) {
      MeshTensor w = gpt.parameters().get(i);
      m.assign(w, m.sub(w, m.mul(grads.get(i), 0.5)));
    }
    List<Double> losses = new ArrayList<>();
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse("x:2,y:2"),
        LayoutRules.parse(GptEquivalenceTest.NEO_A));
         Tensor t = HostTensors.ofInts(shape, GptHarness.tokens(1, 32));
         Tensor l = HostTensors.ofInts(shape, GptHarness.tokens(1, 32))) {
      rt.initialize();
      for (int step = 0; step < 12; step++) {
        losses.add(rt.step().feed(tokens, t).feed(labels, l).fetch(gpt.loss()).withUpdates().run().get(0)[0]);
      }
    }
    assertTrue(losses.get(losses.size() - 1) < losses.get(0) - 0.5, "losses " + losses);
  }

  @Test
  void variableNamesAreGptNeosAndNormsAndBiasesSkipDecay() {
    MeshOps m = new MeshOps(new MeshGraph(1));
    Gpt gpt = inferenceGpt(m, "");
    List<String> names = gpt.parameters().stream().map(v -> m.variableOp(v).name()).toList();
    for (String n : List.of("gpt2/wte", "gpt2/wpe", "gpt2/h0/norm_1/g", "gpt2/h0/norm_1/b", "gpt2/h0/attn/q",
        "gpt2/h0/attn/k", "gpt2/h0/attn/v", "gpt2/h0/attn/o", "gpt2/h0/attn/compute_output_bias/o_b",
        "gpt2/h1/norm_2/g", "gpt2/h1/mlp/conv1d_main/c_fc/kernel", "gpt2/h1/mlp/conv1d_main/c_fc/bias",
        "gpt2/h1/mlp/conv1d_main/c_proj/kernel", "gpt2/h1/mlp/conv1d_main/c_proj/bias", "gpt2/ln_f/g",
        "gpt2/ln_f/b")) {
      assertTrue(names.contains(n), n + " not in " + names);
    }
    assertEquals(2 + 2 * 13 + 2, names.size(), names.toString());
    Set<String> noDecay = gpt.noDecay();
    assertTrue(noDecay.contains("gpt2/h0/attn/compute_output_bias/o_b"));
    assertTrue(noDecay.contains("gpt2/ln_f/g"));
    assertTrue(noDecay.contains("gpt2/h1/norm_2/b"));
    assertFalse(noDecay.contains("gpt2/h0/attn/q"));
    assertFalse(noDecay.contains("gpt2/wte"));
    assertEquals(Shape.of(new Dim("batch", 4), new Dim("sequence", 8), new Dim("vocab", 32)), gpt.logits().shape());
  }

  /** init_style nanogpt draws the documented stds (GPT-Neo's otherwise), on a split layout. */
  @Test
  void initStylesDrawTheirDocumentedStandardDeviations() {
    int layers = GptHarness.config("").nLayer();
    double embd = GptHarness.config("").nEmbd();
    double dHead = embd / GptHarness.config("").nHead();
    assertInitStds("", java.util.Map.of("gpt2/h0/attn/q", Math.pow(embd * dHead, -0.5),
        "gpt2/h0/attn/o", Math.pow(embd, -0.5), "gpt2/h1/mlp/conv1d_main/c_proj/kernel", 0.02, "gpt2/wpe", 0.01));
    assertInitStds("\"init_style\": \"nanogpt\"", java.util.Map.of("gpt2/h0/attn/q", 0.02,
        "gpt2/h0/attn/o", 0.02 / Math.sqrt(2.0 * layers),
        "gpt2/h1/mlp/conv1d_main/c_proj/kernel", 0.02 / Math.sqrt(2.0 * layers), "gpt2/wpe", 0.02));
  }

  private static void assertInitStds(String json, java.util.Map<String, Double> expected) {
    MeshOps m = new MeshOps(new MeshGraph(7));
    Gpt gpt = inferenceGpt(m, json);
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(m.graph(), MeshShape.parse("x:2,y:2"),
        LayoutRules.parse(GptEquivalenceTest.NEO_A))) {
      rt.initialize();
      for (MeshTensor w : gpt.parameters()) {
        Double want = expected.get(m.variableOp(w).name());
        if (want == null) {
          continue;
        }
        double[] v = rt.step().fetch(w).run().get(0);
        double sq = 0;
        for (double x : v) {
          sq += x * x;
        }
        double std = Math.sqrt(sq / v.length);
        assertEquals(want, std, 0.15 * want, m.variableOp(w).name() + " (" + v.length + " values) under " + json);
      }
    }
  }

  /** The model of {@code GptHarness.config(json)} on {@code [batch 4, sequence 8]} inputs, without dropout. */
  private static Gpt inferenceGpt(MeshOps m, String json) {
    Shape shape = Shape.of(new Dim("batch", 4), new Dim("sequence", 8));
    return Gpt.build(m, GptHarness.config(json), m.importTensor("t", shape, DType.INT32),
        m.importTensor("l", shape, DType.INT32), false);
  }

  @Test
  void shareParametersMakesOneSetOfBlockVariables() {
    Gpt gpt = inferenceGpt(new MeshOps(new MeshGraph(1)), "\"share_parameters\": true");
    assertEquals(2 + 13 + 2, gpt.parameters().size());
  }

  /** precision bfloat16: activations bf16, variables and loss float32; the loss stays near the float32 one. */
  @Test
  void bfloat16RunsCloseToFloat32() {
    double f32 = GptHarness.run(GptHarness.config(""), "x:1", "", false).loss();
    GptHarness.Run bf16 = GptHarness.run(GptHarness.config("\"precision\": \"bfloat16\""), "x:2,y:2",
        GptEquivalenceTest.NEO_A, false);
    assertEquals(f32, bf16.loss(), 0.05);
    assertTrue(bf16.grads().stream().allMatch(gr -> java.util.Arrays.stream(gr).allMatch(Double::isFinite)));
  }

  /** With batch and experts on one axis, the MoE's dispatch and return are alltoalls over that axis. */
  @Test
  void moeDispatchIsAnAlltoall() {
    GptConfig cfg = GptHarness.config("\"moe_layers\": [0], \"moe_params\": {\"moe_num_experts\": 4, "
        + "\"moe_hidden_size\": 32}");
    MeshGraph g = new MeshGraph(1);
    MeshOps m = new MeshOps(g);
    Shape shape = Shape.of(new Dim("batch", 4), new Dim("sequence", 8));
    Gpt gpt = Gpt.build(m, cfg, m.importTensor("t", shape, DType.INT32), m.importTensor("l", shape, DType.INT32),
        false);
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse("x:4"), LayoutRules.parse("batch:x,experts:x"))) {
      rt.exported(gpt.loss());
      Counters c = rt.counters();
      assertTrue(c.count(Counters.key(Collective.ALLTOALL, List.of("x"))) >= 2, c.toString());
    }
  }
}
