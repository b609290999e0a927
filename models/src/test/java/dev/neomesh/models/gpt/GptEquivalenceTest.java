package dev.neomesh.models.gpt;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutException;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.ShiftOp;
import dev.neomesh.models.config.GptConfig;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The property that proves the model: for each feature, the tiny GPT (n_layer 2, n_embd 16, n_head 4,
 * n_ctx 8, n_vocab 32, batch 4; float32; graph seed fixed) computes the same loss and the same
 * gradient of every parameter on meshes x:4, x:2,y:2 and x:2,y:4 under several layouts (GPT-Neo's own
 * two among them) as on one device. Dropout and the MoE's random second expert are on (train=true)
 * where the feature has them, so their masks are proved layout-invariant too.
 */
class GptEquivalenceTest {
  static final String NEO_A = "batch:x,heads:y,vocab:y,intermediate_expanded:y";
  static final String NEO_B = "batch:x,memory_length:y,embd:y";

  /** Local layers blocked: n_ctx 8 is four blocks of radius 2. */
  static final String BLOCKED = "\"attention_types\": [[[\"local\", \"global\"], 1]], \"local_attention_radius\": 2,"
      + " \"rotary_emb\": true, \"num_mem_kv\": 2";

  /** μP with Cerebras' keys on the tiny GPT: width_mult 2, filter_mult 4, every scale away from 1. */
  static final String MUP = "\"mup_base_hidden_size\": 8, \"mup_base_filter_size\": 16, \"embeddings_scale\": 3.0,"
      + " \"output_logits_alpha\": 3.0, \"scale_qk_dot_by_d\": true, \"attention_logits_alpha\": 2.0";

  record Layout(String mesh, String rules) {}

  record Feature(String name, String json, boolean train, List<Layout> layouts) {}

  static final List<Layout> TWO_BY_TWO = List.of(new Layout("x:2,y:2", NEO_A), new Layout("x:2,y:2", NEO_B));

  static List<Feature> features() {
    return List.of(
        new Feature("learned positions, global attention, gelu, layer norm, tied weights, z_loss", "", false, List.of(
            new Layout("x:4", "batch:x"), new Layout("x:4", "heads:x"), new Layout("x:4", "vocab:x,kv:x"),
            new Layout("x:4", "embd:x"), new Layout("x:4", "sequence:x"), new Layout("x:2,y:2", NEO_A),
            new Layout("x:2,y:2", NEO_B), new Layout("x:2,y:4", NEO_A), new Layout("x:2,y:4", NEO_B),
            new Layout("x:2,y:4", "intermediate_expanded:x,memory_length:y"))),
        new Feature("embed, attention and residual dropout",
            "\"embed_dropout\": 0.1, \"attn_dropout\": 0.2, \"res_dropout\": 0.1", true, TWO_BY_TWO),
        new Feature("local attention (banded: n_ctx 8 is no multiple of radius 3), rotary, memory key/values, relu",
            "\"attention_types\": [[[\"local\", \"global\"], 1]], \"local_attention_radius\": 3, \"rotary_emb\": true,"
                + " \"num_mem_kv\": 2, \"activation_fn\": \"relu\"", false,
            List.of(new Layout("x:2,y:2", NEO_A), new Layout("x:2,y:2", NEO_B), new Layout("x:4", "kv:x"),
                new Layout("x:4", "sequence:x"), new Layout("x:2,y:4", "batch:x,memory_length:y"))),
        new Feature("blocked local attention (4 blocks of 2; the halo a shift along split blocks), rotary, memory"
            + " key/values", BLOCKED, false,
            List.of(new Layout("x:2,y:2", NEO_A), new Layout("x:2,y:2", NEO_B), new Layout("x:4", "sequence:x"),
                new Layout("x:2,y:2", "sequence:x,heads:y"), new Layout("x:4", "kv:x"),
                new Layout("x:2,y:4", "batch:x,memory_length:y"), new Layout("x:2,y:4", "sequence:x,embd:y"))),
        new Feature("linear attention, attention none, axial positions, macaron, mlp_glu (silu), scale_by_depth/in",
            "\"attention_types\": [\"linear\", \"none\"], \"axial_pos_emb\": [2, 4], \"macaron\": true,"
                + " \"mlp_glu\": true, \"activation_function\": \"silu\", \"scale_by_depth\": true, \"scale_by_in\": true",
            false, TWO_BY_TWO),
        new Feature("scalenorm, no_weight_tie, share_parameters",
            "\"scalenorm\": true, \"no_weight_tie\": true, \"share_parameters\": true", false,
            List.of(new Layout("x:2,y:2", NEO_A), new Layout("x:2,y:4", NEO_B))),
        new Feature("rezero", "\"rezero\": true", false, TWO_BY_TWO),
        new Feature("explicit sparse attention (sparse_topk) and residual attention (RealFormer)",
            "\"sparse_topk\": 3, \"residual_attn\": true", false,
            List.of(new Layout("x:2,y:2", NEO_A), new Layout("x:2,y:2", NEO_B), new Layout("x:4", "memory_length:x"),
                new Layout("x:4", "sequence:x"), new Layout("x:2,y:4", "batch:x,memory_length:y"))),
        new Feature("grouped-query attention (n_kv_head 2): a heads rule splits the kv heads where its axis divides"
            + " them (y:2), else neither (y:4)", "\"n_kv_head\": 2", true,
            List.of(new Layout("x:2,y:2", NEO_A), new Layout("x:2,y:2", NEO_B), new Layout("x:4", "heads:x"),
                new Layout("x:2,y:4", NEO_A), new Layout("x:2,y:2", "kv_heads:x,heads_per_kv:y"))),
        new Feature("multi-query attention (n_kv_head 1: the groups take the heads rule), linear attention, memory"
            + " key/values", "\"n_kv_head\": 1, \"attention_types\": [\"global\", \"linear\"], \"num_mem_kv\": 2", false,
            List.of(new Layout("x:2,y:2", NEO_A), new Layout("x:4", "heads:x"), new Layout("x:2,y:4", NEO_A),
                new Layout("x:4", "memory_length:x"))),
        new Feature("grouped-query attention with rotary and sliding-window (blocked local) attention",
            BLOCKED + ", \"n_kv_head\": 2", false,
            List.of(new Layout("x:2,y:2", NEO_A), new Layout("x:2,y:2", "sequence:x,heads:y"),
                new Layout("x:2,y:4", "sequence:x,heads:y"), new Layout("x:4", "kv:x"))),
        new Feature("nanoGPT init (fixed 1/sqrt(d_head) score scale)", "\"init_style\": \"nanogpt\"", false,
            List.of(new Layout("x:2,y:2", NEO_A), new Layout("x:4", "heads:x"))),
        new Feature("muP (width_mult 2, filter_mult 4), embeddings and logits scaled, scores by alpha/d_head, dropout",
            MUP + ", \"embed_dropout\": 0.1, \"res_dropout\": 0.1", true,
            List.of(new Layout("x:2,y:2", NEO_A), new Layout("x:2,y:2", NEO_B), new Layout("x:4", "heads:x"),
                new Layout("x:4", "vocab:x,kv:x"), new Layout("x:4", "sequence:x"))),
        new Feature("muP under init_style nanogpt (alpha/d_head replaces its 1/sqrt(d_head)), blocked local and linear"
            + " attention, rotary, no_weight_tie",
            MUP + ", \"attention_types\": [\"local\", \"linear\"], \"local_attention_radius\": 2, \"rotary_emb\": true,"
                + " \"no_weight_tie\": true, \"init_style\": \"nanogpt\"", false,
            List.of(new Layout("x:2,y:2", NEO_A), new Layout("x:4", "sequence:x"), new Layout("x:2,y:4", NEO_B))),
        new Feature("mixture of experts (top-2, capacity, aux loss; batch and experts on one axis)",
            "\"moe_layers\": [1], \"moe_params\": {\"moe_num_experts\": 4, \"moe_hidden_size\": 32}", true,
            List.of(new Layout("x:4", "batch:x,experts:x"),
                new Layout("x:2,y:2", "batch:x,experts:x,heads:y,vocab:y,intermediate_expanded:y"),
                new Layout("x:2,y:4", "batch:x,experts:x,embd:y,memory_length:y"))),
        new Feature("masked language model (non-causal, loss on masked tokens)",
            "\"mlm_training\": true, \"mlm_mask_id\": 31, \"mlm_mask_prob\": 0.3, \"mlm_random_token_prob\": 0.1,"
                + " \"attention_types\": [\"global\", \"local\"], \"local_attention_radius\": 2", true,
            List.of(new Layout("x:2,y:2", NEO_A), new Layout("x:2,y:2", NEO_B), new Layout("x:4", "sequence:x"))));
  }

  /**
   * The blocked form of local attention computes the banded form's loss and gradients (to 1e-5, float32
   * sums in another order) on one device: causal with two and four blocks, with rotary and memory
   * key/values on the global layers, and non-causal (MLM, which needs the next block too).
   */
  @TestFactory
  Stream<DynamicTest> blockedLocalAttentionEqualsTheBandedMask() {
    return Stream.of(BLOCKED, BLOCKED.replace("\"local_attention_radius\": 2", "\"local_attention_radius\": 4"),
        "\"attention_types\": [\"local\", \"local\"], \"local_attention_radius\": 2, \"mlm_training\": true, \"mlm_mask_id\": 31,"
            + " \"mlm_mask_prob\": 0.3").map(json -> DynamicTest.dynamicTest(json, () -> {
      GptConfig blocked = GptHarness.config(json);
      GptConfig banded = GptHarness.config(json + ", \"local_attention_blocked\": false");
      assertTrue(shifts(blocked) > 0 && shifts(banded) == 0, "the blocked form's halo shifts, the banded has none");
      GptHarness.Run a = GptHarness.run(banded, "x:1", "", false);
      GptHarness.Run b = GptHarness.run(blocked, "x:1", "", false);
      assertTrue(Double.isFinite(a.loss()) && a.loss() > 0, "loss " + a.loss());
      GptHarness.assertSame(a, b, json, 1e-5);
    }));
  }

  /**
   * A sequence rule splits the blocks (n_ctx / R of them), so it must divide them: two blocks on x:4
   * are refused naming the blocks' dim, and the banded form still takes that layout.
   */
  @Test
  void aSequenceRuleMustDivideTheBlocks() {
    String twoBlocks = BLOCKED.replace("\"local_attention_radius\": 2", "\"local_attention_radius\": 4");
    LayoutException e = assertThrows(LayoutException.class,
        () -> GptHarness.run(GptHarness.config(twoBlocks), "x:4", "sequence:x", false));
    assertTrue(e.getMessage().contains("dim \"sequence\" (size 2) is not divisible by mesh axis \"x\""), e.getMessage());
    GptConfig banded = GptHarness.config(twoBlocks + ", \"local_attention_blocked\": false");
    GptHarness.assertSame(GptHarness.run(banded, "x:1", "", false), GptHarness.run(banded, "x:4", "sequence:x", false),
        "banded on x:4 sequence:x");
  }

  /** The shift ops of the model's graph: the blocked form's halo. */
  static long shifts(GptConfig cfg) {
    MeshGraph g = new MeshGraph(1);
    MeshOps m = new MeshOps(g);
    Shape shape = Shape.of(new Dim("batch", GptHarness.BATCH), new Dim("sequence", GptHarness.SEQUENCE));
    Gpt.build(m, cfg, m.importTensor("tokens", shape, DType.INT32), m.importTensor("labels", shape, DType.INT32), false);
    return g.ops().stream().filter(o -> o instanceof ShiftOp).count();
  }

  @TestFactory
  Stream<DynamicTest> everyFeatureOnEveryMeshAndLayout() {
    return features().stream().map(f -> DynamicTest.dynamicTest(f.name(), () -> {
      GptConfig cfg = GptHarness.config(f.json());
      GptHarness.Run ref = GptHarness.run(cfg, "x:1", "", f.train());
      assertTrue(Double.isFinite(ref.loss()) && ref.loss() > 0, f.name() + ": loss " + ref.loss());
      for (Layout l : f.layouts()) {
        GptHarness.assertSame(ref, GptHarness.run(cfg, l.mesh(), l.rules(), f.train()),
            f.name() + " on " + l.mesh() + " with \"" + l.rules() + "\"");
      }
    }));
  }
}
