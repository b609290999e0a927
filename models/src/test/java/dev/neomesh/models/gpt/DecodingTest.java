package dev.neomesh.models.gpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.train.Generative;
import dev.neomesh.models.train.Generator;
import dev.neomesh.models.train.Sampling;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.tensorflow.Tensor;

/**
 * Incremental decoding computes what the whole-sequence model computes: for every attention type
 * and position scheme, on one device and on split batch, heads and memory_length, greedy ids from
 * the caches (prefill in chunks, then one-token steps) equal the ids of recomputing the whole
 * sequence for every token (the argmax of {@link Gpt#build}'s logits at the row's last position).
 * The rows have different prompt lengths, so each row must get its own continuation. Weights are
 * the layout-invariant random initialisation of one seed, the same in both programs.
 */
class DecodingTest {
  static final int NCTX = 16;
  static final int CHUNK = 4;
  static final int ROWS = 4;
  static final List<int[]> PROMPTS = List.of(new int[] {3, 7, 1}, new int[] {5, 9, 2, 8, 4, 30}, new int[] {11},
      new int[] {6, 2, 2, 9, 13, 17, 21});
  static final String TINY = "\"n_head\": 4, \"n_embd\": 16, \"n_layer\": 2, \"n_ctx\": " + NCTX + ", \"n_vocab\": 32";

  record Case(String name, String json, List<String[]> layouts) {}

  static final String[] X1 = {"x:1", ""};
  static final List<String[]> ALL = List.of(X1, new String[] {"x:4", "batch:x"}, new String[] {"x:4", "heads:x"},
      new String[] {"x:2,y:2", "batch:x,heads:y"}, new String[] {"x:2,y:2", "batch:x,memory_length:y"});
  static final List<String[]> SOME = List.of(X1, new String[] {"x:2,y:2", "batch:x,heads:y"},
      new String[] {"x:4", "memory_length:x"});

  static List<Case> cases() {
    return List.of(
        new Case("global, learned positions", "", ALL),
        new Case("local and global, rotary, memory key/values",
            "\"attention_types\": [\"local\", \"global\"], \"local_attention_radius\": 3, \"rotary_emb\": true, "
                + "\"num_mem_kv\": 2", ALL),
        new Case("blocked local (radius 4: four blocks of n_ctx 16) and global, rotary",
            "\"attention_types\": [\"local\", \"global\"], \"local_attention_radius\": 4, \"rotary_emb\": true", ALL),
        new Case("linear and none, axial positions", "\"attention_types\": [\"linear\", \"none\"], "
            + "\"axial_pos_emb\": [4, 4]", SOME),
        new Case("linear and local, no weight tie", "\"attention_types\": [\"linear\", \"local\"], "
            + "\"local_attention_radius\": 5, \"no_weight_tie\": true", SOME),
        new Case("explicit sparse attention and residual attention, rotary", "\"sparse_topk\": 3, "
            + "\"residual_attn\": true, \"rotary_emb\": true", SOME),
        new Case("grouped-query attention (n_kv_head 2): local and global, rotary, memory key/values",
            "\"n_kv_head\": 2, \"attention_types\": [\"local\", \"global\"], \"local_attention_radius\": 3, "
                + "\"rotary_emb\": true, \"num_mem_kv\": 2", ALL),
        new Case("multi-query attention (n_kv_head 1): linear and global", "\"n_kv_head\": 1, "
            + "\"attention_types\": [\"linear\", \"global\"]", SOME),
        new Case("muP (every Cerebras scale, scores by alpha/d_head): blocked local and global, rotary, memory"
            + " key/values", "\"mup_base_hidden_size\": 8, \"mup_base_filter_size\": 16, \"embeddings_scale\": 3.0, "
            + "\"output_logits_alpha\": 3.0, \"scale_qk_dot_by_d\": true, \"attention_logits_alpha\": 2.0, "
            + "\"attention_types\": [\"local\", \"global\"], \"local_attention_radius\": 4, \"rotary_emb\": true, "
            + "\"num_mem_kv\": 2", ALL),
        new Case("muP: linear and local, no weight tie, grouped-query", "\"mup_base_hidden_size\": 4, "
            + "\"scale_qk_dot_by_d\": true, \"attention_logits_alpha\": 0.5, \"output_logits_alpha\": 2.0, "
            + "\"attention_types\": [\"linear\", \"local\"], \"local_attention_radius\": 5, \"no_weight_tie\": true, "
            + "\"n_kv_head\": 2", SOME),
        new Case("mixture of experts (every token within capacity)", "\"moe_layers\": [1], \"moe_params\": "
            + "{\"moe_num_experts\": 4, \"moe_hidden_size\": 32, \"moe_capacity_factor_eval\": 64.0, "
            + "\"moe_second_policy_eval\": \"threshold\"}",
            List.of(X1, new String[] {"x:4", "batch:x,experts:x"})));
  }

  @TestFactory
  Stream<DynamicTest> greedyIdsWithTheCacheEqualTheWholeRecompute() {
    return cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
      GptConfig cfg = GptConfig.fromJson("{" + TINY + (c.json().isEmpty() ? "" : ", " + c.json()) + "}");
      int fit = NCTX - 7; // new tokens that keep the longest prompt within n_ctx
      List<int[]> expected = recompute(cfg, fit);
      for (String[] l : c.layouts()) {
        List<int[]> got = cached(cfg, l[0], l[1], Sampling.GREEDY, 1, PROMPTS, fit);
        for (int r = 0; r < ROWS; r++) {
          assertArrayEquals(expected.get(r), got.get(r), c.name() + " on " + l[0] + " \"" + l[1] + "\", row " + r);
        }
      }
    }));
  }

  @Test
  void aRowInABatchGetsWhatItGetsAlone() {
    GptConfig cfg = GptConfig.fromJson("{" + TINY + ", \"attention_types\": [\"local\", \"global\"], "
        + "\"local_attention_radius\": 3}");
    List<int[]> batch = cached(cfg, "x:1", "", Sampling.GREEDY, 1, PROMPTS, 9);
    for (int r = 0; r < ROWS; r++) {
      List<int[]> alone = cached(cfg, "x:1", "", Sampling.GREEDY, 1, List.of(PROMPTS.get(r)), 9);
      assertArrayEquals(alone.get(0), batch.get(r), "row " + r);
    }
  }

  @Test
  void aSecondCallOnTheSameProgramsStartsAfresh() {
    // a global layer after the linear one, so every position's linear output reaches the ids
    GptConfig cfg = GptConfig.fromJson("{" + TINY + ", \"attention_types\": [\"linear\", \"global\"]}");
    List<int[]> other = List.of(new int[] {1, 2}, new int[] {4, 5, 4, 5, 6, 5, 4, 3}, new int[] {9, 8, 7});
    List<int[]> fresh = cached(cfg, "x:1", "", Sampling.GREEDY, 1, other, 6);
    MeshGraph g = new MeshGraph(1);
    Generative.Decoder d = Gpt.decoder(new MeshOps(g), cfg, ROWS, CHUNK, Sampling.GREEDY, Generator.spans(NCTX, LayoutRules.NONE));
    MeshRuntime rt = GptHarness.unoptimized(g, MeshShape.parse("x:1"), LayoutRules.parse(""));
    rt.initialize();
    try (Generator gen = Generator.on(rt, d, 0)) {
      gen.generate(PROMPTS, 12, -1, 1, null);
      List<int[]> second = gen.generate(other, 6, -1, 1, null).ids();
      assertEquals(other.size(), second.size());
      for (int r = 0; r < other.size(); r++) {
        assertArrayEquals(fresh.get(r), second.get(r), "row " + r);
      }
    }
  }

  @Test
  void generationGoesOnPastTheContextWithASlidingWindow() {
    GptConfig cfg = GptConfig.fromJson("{" + TINY + ", \"attention_types\": [\"local\", \"global\"], "
        + "\"local_attention_radius\": 3}");
    List<int[]> long1 = cached(cfg, "x:1", "", Sampling.GREEDY, 1, PROMPTS, 3 * NCTX);
    List<int[]> long2 = cached(cfg, "x:2,y:2", "batch:x,memory_length:y", Sampling.GREEDY, 1, PROMPTS, 3 * NCTX);
    for (int r = 0; r < ROWS; r++) {
      assertEquals(3 * NCTX, long1.get(r).length, "row " + r + " ran to the end");
      assertArrayEquals(long1.get(r), long2.get(r), "row " + r + " on another mesh");
    }
  }

  @Test
  void samplesDependOnTheSeedAndNotOnTheMesh() {
    GptConfig cfg = GptConfig.fromJson("{" + TINY + "}");
    Sampling s = new Sampling(1.5, 0, 1);
    List<int[]> a = cached(cfg, "x:1", "", s, 7, PROMPTS, 9);
    List<int[]> b = cached(cfg, "x:4", "batch:x", s, 7, PROMPTS, 9);
    List<int[]> other = cached(cfg, "x:1", "", s, 8, PROMPTS, 9);
    boolean differs = false;
    for (int r = 0; r < ROWS; r++) {
      assertArrayEquals(a.get(r), b.get(r), "row " + r);
      differs |= !java.util.Arrays.equals(a.get(r), other.get(r));
    }
    assertTrue(differs, "another seed draws other samples");
  }

  @Test
  void topKOfOneAndATinyNucleusAreGreedy() {
    GptConfig cfg = GptConfig.fromJson("{" + TINY + "}");
    List<int[]> greedy = cached(cfg, "x:1", "", Sampling.GREEDY, 1, PROMPTS, 9);
    List<int[]> topK = cached(cfg, "x:4", "vocab:x", new Sampling(1.0, 1, 1), 3, PROMPTS, 9);
    List<int[]> topP = cached(cfg, "x:1", "", new Sampling(1.0, 0, 1e-6), 3, PROMPTS, 9);
    for (int r = 0; r < ROWS; r++) {
      assertArrayEquals(greedy.get(r), topK.get(r), "top_k 1, row " + r);
      assertArrayEquals(greedy.get(r), topP.get(r), "top_p 1e-6, row " + r);
    }
  }

  @Test
  void aNonCausalModelIsRefused() {
    GptConfig cfg = GptConfig.fromJson("{" + TINY + ", \"mlm_training\": true, \"mlm_mask_id\": 31}");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Gpt.decoder(new MeshOps(new MeshGraph(1)), cfg, ROWS, CHUNK, Sampling.GREEDY, List.of(NCTX)));
    assertTrue(e.getMessage().contains("causal"), e.getMessage());
  }

  /** New ids of each prompt from the cached programs on {@code mesh} under {@code rules}. */
  static List<int[]> cached(GptConfig cfg, String mesh, String rules, Sampling sampling, long seed,
      List<int[]> prompts, int newTokens) {
    MeshGraph g = new MeshGraph(1); // the recompute's weights
    Generative.Decoder d = Gpt.decoder(new MeshOps(g), cfg, ROWS, CHUNK, sampling,
        Generator.spans(NCTX, LayoutRules.parse(rules)));
    MeshRuntime rt = GptHarness.unoptimized(g, MeshShape.parse(mesh), LayoutRules.parse(rules));
    rt.initialize();
    try (Generator gen = Generator.on(rt, d, 0)) {
      return gen.generate(prompts, newTokens, -1, seed, null).ids();
    }
  }

  /** Greedy ids by the whole-sequence model: every token recomputes the full forward pass. */
  static List<int[]> recompute(GptConfig cfg, int newTokens) {
    MeshGraph g = new MeshGraph(1);
    MeshOps m = new MeshOps(g);
    Shape shape = Shape.of(new Dim("batch", ROWS), new Dim("sequence", NCTX));
    MeshTensor tokens = m.importTensor("tokens", shape, DType.INT32);
    Gpt gpt = Gpt.build(m, cfg, tokens, tokens, false);
    MeshTensor logits = m.transpose(gpt.logits(), Shape.of(shape.get(0), shape.get(1), new Dim("vocab", cfg.nVocab())));
    List<List<Integer>> rows = new ArrayList<>();
    List<int[]> out = new ArrayList<>();
    for (int[] p : PROMPTS) {
      List<Integer> row = new ArrayList<>();
      for (int id : p) {
        row.add(id);
      }
      rows.add(row);
      out.add(new int[newTokens]);
    }
    try (MeshRuntime rt = GptHarness.unoptimized(g, MeshShape.parse("x:1"), LayoutRules.parse(""))) {
      rt.initialize();
      for (int k = 0; k < newTokens; k++) {
        int[] ids = new int[ROWS * NCTX];
        for (int r = 0; r < ROWS; r++) {
          for (int i = 0; i < rows.get(r).size(); i++) {
            ids[r * NCTX + i] = rows.get(r).get(i);
          }
        }
        double[] z;
        try (Tensor t = HostTensors.ofInts(shape, ids)) {
          z = rt.step().feed(tokens, t).fetch(logits).run().get(0);
        }
        for (int r = 0; r < ROWS; r++) {
          int base = (r * NCTX + rows.get(r).size() - 1) * cfg.nVocab();
          int best = 0;
          for (int v = 1; v < cfg.nVocab(); v++) {
            if (z[base + v] > z[base + best]) {
              best = v;
            }
          }
          rows.get(r).add(best);
          out.get(r)[k] = best;
        }
      }
    }
    return out;
  }
}
