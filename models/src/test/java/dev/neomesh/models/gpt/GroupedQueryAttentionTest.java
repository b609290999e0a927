package dev.neomesh.models.gpt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.layout.CostModel;
import dev.neomesh.layout.Cost;
import dev.neomesh.layout.MachineConstants;
import dev.neomesh.layout.Planner;
import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.train.Generative;
import dev.neomesh.models.train.Generator;
import dev.neomesh.models.train.Sampling;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Grouped-query attention's layout and memory (its values: {@link GptEquivalenceTest}, {@link
 * DecodingTest}, {@link VariantReferenceTest}): GPT-Neo's "heads:y" splits the key/value heads where y
 * divides them, so the query's regrouping moves nothing; where it cannot, the groups or nothing take
 * y and the compiler moves the queries; the planner prices what the lowering runs; the decoding
 * cache holds n_kv_head heads.
 */
class GroupedQueryAttentionTest {
  static final String TINY = "\"n_head\": 4, \"n_embd\": 16, \"n_layer\": 2, \"n_ctx\": 8, \"n_vocab\": 32";

  static GptConfig config(String extra) {
    return GptConfig.fromJson("{" + TINY + ", " + extra + "}");
  }

  /** The training graph (loss and gradients) of {@code cfg} on the harness's batch. */
  static MeshGraph trainingGraph(GptConfig cfg, List<MeshTensor> fetches) {
    MeshGraph g = new MeshGraph(1);
    MeshOps m = new MeshOps(g);
    Shape shape = Shape.of(new Dim("batch", GptHarness.BATCH), new Dim("sequence", GptHarness.SEQUENCE));
    Gpt gpt = Gpt.build(m, cfg, m.importTensor("tokens", shape, DType.INT32), m.importTensor("labels", shape, DType.INT32),
        false);
    fetches.add(gpt.loss());
    fetches.addAll(dev.neomesh.mesh.ir.Gradients.of(gpt.loss(), gpt.parameters()));
    return g;
  }

  /** The collectives that move data over mesh axis y when {@code cfg} is lowered on {@code mesh}. */
  static Set<String> collectivesOverY(GptConfig cfg, String mesh, String rules) {
    MeshGraph g = trainingGraph(cfg, new ArrayList<>());
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse(mesh), LayoutRules.parse(rules))) {
      Set<String> out = new java.util.TreeSet<>();
      rt.counters().entries().keySet().stream().filter(k -> k.endsWith("[y]")).forEach(out::add);
      return out;
    }
  }

  @Test
  void aHeadsRuleSplitsTheKvHeadsSoRegroupingTheQueriesMovesNothing() {
    String neo = "batch:x,heads:y";
    Set<String> mha = collectivesOverY(config("\"n_kv_head\": 4"), "x:2,y:2", neo);
    Set<String> gqa = collectivesOverY(config("\"n_kv_head\": 2"), "x:2,y:2", neo);
    assertEquals(mha, gqa, "n_kv_head 2 on y:2 communicates over y as multi-head attention does");
    Set<String> mqa = collectivesOverY(config("\"n_kv_head\": 1"), "x:2,y:2", neo);
    assertEquals(mha, mqa, "multi-query: the groups take y, the keys and values are whole on it");
    // y:4 divides neither the 2 kv heads nor the 2 heads per kv head: the queries are gathered whole
    Set<String> whole = collectivesOverY(config("\"n_kv_head\": 2"), "x:2,y:4", neo);
    assertTrue(whole.contains("allconcat[y]"), "the regrouped queries are concatenated over y: " + whole);
    assertFalse(collectivesOverY(config("\"n_kv_head\": 4"), "x:2,y:4", neo).contains("allconcat[y]"),
        "multi-head attention on y:4 gathers nothing");
  }

  @Test
  void thePlannerPricesTheFollowersTheLoweringApplies() {
    List<MeshTensor> fetches = new ArrayList<>();
    MeshGraph g = trainingGraph(config("\"n_kv_head\": 2"), fetches);
    CostModel model = new CostModel(g, CostModel.Options.adam(MachineConstants.DEFAULTS).withFetches(fetches));
    MeshShape mesh = MeshShape.parse("x:2,y:2");
    List<LayoutRules> all = Planner.candidates(model, mesh);
    assertTrue(all.stream().anyMatch(r -> r.axisFor("heads").isPresent()), "some candidate splits heads");
    for (LayoutRules r : all) {
      assertTrue(r.axisFor("kv_heads").isEmpty() && r.axisFor("heads_per_kv").isEmpty(),
          "followers are derived, not searched: " + r);
      LayoutRules run = r.withFollowers(g.layoutFollowers(), mesh);
      if (r.axisFor("heads").isPresent()) { // 2 divides kv_heads: it shares heads' axis
        assertEquals(r.axisFor("heads"), run.axisFor("kv_heads"), "candidate " + r + " runs as " + run);
      }
    }
    Cost written = model.estimate(mesh, LayoutRules.parse("batch:x,heads:y"));
    Cost derived = model.estimate(mesh, LayoutRules.parse("batch:x,heads:y,kv_heads:y"));
    assertEquals(derived.seconds(), written.seconds(), 1e-12, "the written rules are priced with their follower");
    assertEquals(derived.memory().total(), written.memory().total());
  }

  @Test
  void theKeyValueCacheHoldsNKvHeadHeads() {
    String types = "\"attention_types\": [\"local\", \"global\"], \"local_attention_radius\": 3";
    long mha = cacheBytesPerRow(config(types));
    assertEquals(mha / 2, cacheBytesPerRow(config(types + ", \"n_kv_head\": 2")));
    assertEquals(mha / 4, cacheBytesPerRow(config(types + ", \"n_kv_head\": 1")));
  }

  static long cacheBytesPerRow(GptConfig cfg) {
    MeshGraph g = new MeshGraph(1);
    Generative.Decoder d = Gpt.decoder(new MeshOps(g), cfg, 2, 4, Sampling.GREEDY, Generator.spans(8, LayoutRules.NONE));
    MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse("x:1"), LayoutRules.NONE);
    try (Generator gen = Generator.on(rt, d, 0)) {
      return gen.cacheBytesPerRow();
    }
  }
}
