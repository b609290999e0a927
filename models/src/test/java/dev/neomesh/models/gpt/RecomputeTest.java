package dev.neomesh.models.gpt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.AfterOp;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.Gradients;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.Op;
import dev.neomesh.mesh.ir.VariableOp;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.gpt.GptEquivalenceTest.Layout;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * {@code recompute_grad}: the tiny GPT of {@link GptHarness} with each block's activations recomputed
 * in the backward pass gives the loss and every parameter's gradient of the run that keeps them, to
 * 1e-6, on each mesh and layout below — with dropout and MoE's random second expert drawn again in
 * the recomputation, residual attention's scores carried between blocks, and blocked local attention.
 */
class RecomputeTest {
  record Case(String name, String json, boolean train, List<Layout> layouts) {}

  static final String NEO_A = GptEquivalenceTest.NEO_A;
  static final String NEO_B = GptEquivalenceTest.NEO_B;

  static List<Case> cases() {
    return List.of(
        new Case("embed, attention and residual dropout", "\"embed_dropout\": 0.1, \"attn_dropout\": 0.2,"
            + " \"res_dropout\": 0.1", true, List.of(new Layout("x:1", ""), new Layout("x:2,y:2", NEO_A),
                new Layout("x:2,y:2", NEO_B), new Layout("x:4", "sequence:x"))),
        new Case("residual attention and sparse_topk (scores carried from block to block)",
            "\"sparse_topk\": 3, \"residual_attn\": true", false,
            List.of(new Layout("x:1", ""), new Layout("x:2,y:2", NEO_A), new Layout("x:4", "memory_length:x"))),
        new Case("mixture of experts with its random second expert, dropout",
            "\"moe_layers\": [1], \"moe_params\": {\"moe_num_experts\": 4, \"moe_hidden_size\": 32},"
                + " \"res_dropout\": 0.1", true,
            List.of(new Layout("x:1", ""), new Layout("x:4", "batch:x,experts:x"),
                new Layout("x:2,y:2", "batch:x,experts:x,heads:y,vocab:y,intermediate_expanded:y"))),
        new Case("blocked local attention, rotary, memory key/values, grouped-query", GptEquivalenceTest.BLOCKED
            + ", \"n_kv_head\": 2", false,
            List.of(new Layout("x:1", ""), new Layout("x:2,y:2", "sequence:x,heads:y"), new Layout("x:4", "kv:x"))),
        new Case("macaron, mlp_glu, attention none, share_parameters", "\"macaron\": true, \"mlp_glu\": true,"
            + " \"attention_types\": [\"global\", \"none\"], \"share_parameters\": true", false,
            List.of(new Layout("x:1", ""), new Layout("x:2,y:2", NEO_A))));
  }

  @TestFactory
  Stream<DynamicTest> recomputedGradientsEqualStoredOnes() {
    return cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
      GptConfig stored = GptHarness.config(c.json());
      GptConfig recomputed = GptHarness.config(c.json() + ", \"recompute_grad\": true");
      assertEquals(stored.nLayer(), gates(recomputed) > 0 ? stored.nLayer() : -1, "the backward recomputes");
      for (Layout l : c.layouts()) {
        GptHarness.Run a = GptHarness.run(stored, l.mesh(), l.rules(), c.train());
        GptHarness.Run b = GptHarness.run(recomputed, l.mesh(), l.rules(), c.train());
        assertTrue(Double.isFinite(a.loss()) && a.loss() > 0, "loss " + a.loss());
        GptHarness.assertSame(a, b, c.name() + " on " + l.mesh() + " \"" + l.rules() + "\"", 1e-6);
      }
    }));
  }

  /** One gate per block input in the backward pass (the stream; under residual_attn the scores too). */
  @Test
  void eachBlockIsRecomputedFromItsGatedInputs() {
    assertEquals(0, gates(GptHarness.config("")));
    assertEquals(2, gates(GptHarness.config("\"recompute_grad\": true")));
    assertEquals(3, gates(GptHarness.config("\"recompute_grad\": true, \"residual_attn\": true")));
  }

  /**
   * A recomputed block reads its weights only through gates too (MeshGraph's variable gates): no op of
   * a copy reads a variable directly, else TensorFlow would run the copies' weight reads, casts and
   * ZeRO stage-3 gathers at the step's start and hold them all (issue 14).
   */
  @Test
  void recomputedBlocksReadTheirWeightsThroughGates() {
    for (String json : new String[] {"\"recompute_grad\": true", "\"recompute_grad\": true, \"zero_stage\": 3"}) {
      MeshGraph g = graph(GptHarness.config(json));
      long copies = 0;
      for (int i = 0; i < g.ops().size(); i++) {
        Op op = g.ops().get(i);
        if (g.isRecomputedCopy(i)) {
          copies++;
          assertTrue(op instanceof AfterOp || op.inputs().stream().noneMatch(t -> t.op() instanceof VariableOp),
              json + ": " + op + " of a recomputed copy reads a variable ungated");
        }
      }
      assertTrue(copies > 0, json + ": no recomputed copy");
    }
  }

  /** The training graph's {@link AfterOp}s on activations: recomputed blocks' inputs, gated on their output gradient. */
  static long gates(GptConfig cfg) {
    return graph(cfg).ops().stream()
        .filter(o -> o instanceof AfterOp && !(o.inputs().get(0).op() instanceof VariableOp)).count();
  }

  private static MeshGraph graph(GptConfig cfg) {
    MeshGraph g = new MeshGraph(1);
    MeshOps m = new MeshOps(g);
    Shape shape = Shape.of(new Dim("batch", GptHarness.BATCH), new Dim("sequence", GptHarness.SEQUENCE));
    Gpt gpt = Gpt.build(m, cfg, m.importTensor("tokens", shape, DType.INT32), m.importTensor("labels", shape,
        DType.INT32), true);
    Gradients.of(gpt.loss(), gpt.parameters());
    return g;
  }
}
