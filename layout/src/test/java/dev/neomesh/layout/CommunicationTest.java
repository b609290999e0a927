package dev.neomesh.layout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.layout.bench.SmallTransformer;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.lower.Lowering;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The communication the cost model predicts equals what the lowering records, exactly, for every
 * candidate layout the planner considers on x:4, x:2,y:2 and x:2,y:4, forward and backward and
 * Adam update included, with the loss fetched.
 */
class CommunicationTest {
  static final List<String> MESHES = List.of("x:4", "x:2,y:2", "x:2,y:4");

  static int check(SmallTransformer.Program p, String meshText, int stride) {
    MeshShape mesh = MeshShape.parse(meshText);
    CostModel model = new CostModel(p.graph(), CostModel.Options.adam(MachineConstants.DEFAULTS).withFetches(List.of(p.loss()))
        );
    List<LayoutRules> all = Planner.candidates(model, mesh);
    assertTrue(all.size() > 1, "candidates on " + mesh);
    int n = 0;
    for (int i = 0; i < all.size(); i += stride) {
      LayoutRules rules = all.get(i);
      assertTrue(LayoutValidator.validate(p.graph(), mesh, rules).isEmpty(), rules + " is a candidate but invalid");
      Cost predicted = model.estimate(mesh, rules);
      assertEquals(Lowering.countersOf(p.graph(), mesh, rules, List.of(p.loss())).entries(), predicted.communication(),
          "mesh " + mesh + " layout " + rules);
      n++;
    }
    return n;
  }

  @Test
  void mlpEveryCandidate() {
    SmallTransformer.Program p = SmallTransformer.mlp(8, 4, 16, 8, DType.FLOAT32, true);
    for (String mesh : MESHES) {
      check(p, mesh, 1);
    }
  }

  @Test
  void transformerEveryCandidate() {
    SmallTransformer.Program p = SmallTransformer.transformer(SmallTransformer.Sizes.TINY, DType.FLOAT32, true);
    long t0 = System.nanoTime();
    int n = 0;
    for (String mesh : MESHES) {
      n += check(p, mesh, 1);
    }
    System.out.printf("transformer: %d layouts lowered and compared in %.1f s%n", n, (System.nanoTime() - t0) / 1e9);
  }
}
