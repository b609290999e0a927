package dev.neomesh.layout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.layout.bench.SmallTransformer;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.lower.Counters;
import dev.neomesh.mesh.lower.Lowering;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * The communication the cost model predicts equals what the lowering records, exactly, for every
 * candidate layout the planner considers on x:4, x:2,y:2 and x:2,y:4, forward and backward and
 * Adam update included, with the loss fetched.
 */
class CommunicationTest {
  static final List<String> MESHES = List.of("x:4", "x:2,y:2", "x:2,y:4");

  /**
   * Lowers every {@code stride}-th candidate of {@code p} on {@code meshText} and compares its counters
   * with the model's prediction. The lowerings (TensorFlow graph building, nearly all the test's time)
   * run on one thread per core, each into its own {@code Graph}; the model's estimates stay on this
   * thread, in candidate order.
   */
  static int check(SmallTransformer.Program p, String meshText, int stride) throws Exception {
    MeshShape mesh = MeshShape.parse(meshText);
    CostModel model = new CostModel(p.graph(), CostModel.Options.adam(MachineConstants.DEFAULTS).withFetches(List.of(p.loss()))
        );
    List<LayoutRules> all = Planner.candidates(model, mesh);
    assertTrue(all.size() > 1, "candidates on " + mesh);
    ExecutorService pool = Executors.newFixedThreadPool(Runtime.getRuntime().availableProcessors());
    try {
      List<LayoutRules> checked = new ArrayList<>();
      List<Future<Map<String, Counters.Entry>>> recorded = new ArrayList<>();
      for (int i = 0; i < all.size(); i += stride) {
        LayoutRules rules = all.get(i);
        checked.add(rules);
        recorded.add(pool.submit(() -> Lowering.countersOf(p.graph(), mesh, rules, List.of(p.loss())).entries()));
      }
      for (int i = 0; i < checked.size(); i++) {
        LayoutRules rules = checked.get(i);
        assertTrue(LayoutValidator.validate(p.graph(), mesh, rules).isEmpty(), rules + " is a candidate but invalid");
        Cost predicted = model.estimate(mesh, rules);
        assertEquals(recorded.get(i).get(), predicted.communication(), "mesh " + mesh + " layout " + rules);
      }
      return checked.size();
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void mlpEveryCandidate() throws Exception {
    SmallTransformer.Program p = SmallTransformer.mlp(8, 4, 16, 8, DType.FLOAT32, true);
    for (String mesh : MESHES) {
      check(p, mesh, 1);
    }
  }

  @Test
  void transformerEveryCandidate() throws Exception {
    SmallTransformer.Program p = SmallTransformer.transformer(SmallTransformer.Sizes.TINY, DType.FLOAT32, true);
    long t0 = System.nanoTime();
    int n = 0;
    for (String mesh : MESHES) {
      n += check(p, mesh, 1);
    }
    System.out.printf("transformer: %d layouts lowered and compared in %.1f s%n", n, (System.nanoTime() - t0) / 1e9);
  }
}
