package dev.neomesh.mesh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.ir.RandomOp;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Random values depend on (seed, key, global index, step) only: never on the mesh or layout. */
class RandomnessTest {
  static final Shape AB = Shape.of(new Dim("a", 8), new Dim("b", 12));

  private static List<double[]> draw(String mesh, String layout, long seed, long step) {
    MeshGraph g = new MeshGraph(seed);
    MeshOps m = new MeshOps(g);
    MeshTensor u = m.randomUniform(AB, DType.FLOAT64, "u", 0, 1);
    MeshTensor n = m.randomNormal(AB, DType.FLOAT32, "n", 0, 1);
    MeshTensor t = m.truncatedNormal(AB, DType.FLOAT32, "t", 0, 1);
    MeshTensor w = m.variable("w", m.randomNormal(AB, DType.FLOAT32, "w", 0, 0.02));
    MeshTensor d = m.dropout(m.ones(AB, DType.FLOAT32), 0.25, "drop");
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse(mesh), LayoutRules.parse(layout))) {
      rt.initialize();
      return rt.step().fetch(u).fetch(n).fetch(t).fetch(w).fetch(d).randomStep(step).run();
    }
  }

  @Test
  void uniformMatchesTheHostReference() {
    double[] u = draw("x:1", "", 5, 0).get(0);
    for (int i = 0; i < u.length; i++) {
      assertEquals(RandomOp.uniform01(5, "u", i), u[i], 1e-12);
    }
  }

  @Test
  void identicalOnEveryMeshAndLayout() {
    List<double[]> ref = draw("x:1", "", 5, 3);
    for (String[] ml : new String[][] {{"x:4", "a:x"}, {"x:4", "b:x"}, {"x:2,y:2", "a:x,b:y"}, {"x:2,y:2", "b:x,a:y"},
        {"x:2,y:4", "a:x,b:y"}, {"x:2,y:4", "a:y"}, {"x:2,y:4", ""}}) {
      List<double[]> got = draw(ml[0], ml[1], 5, 3);
      for (int k = 0; k < ref.size(); k++) {
        assertArrayEquals(ref.get(k), got.get(k), 0.0, "output " + k + " on " + ml[0] + " with " + ml[1]);
      }
    }
  }

  @Test
  void distributionsHaveTheRightMoments() {
    List<double[]> r = draw("x:1", "", 9, 0);
    double[] u = r.get(0);
    double[] n = r.get(1);
    double[] t = r.get(2);
    assertEquals(0.5, Arrays.stream(u).average().orElseThrow(), 0.05);
    assertEquals(0.0, Arrays.stream(n).average().orElseThrow(), 0.15);
    assertEquals(1.0, Math.sqrt(Arrays.stream(n).map(x -> x * x).average().orElseThrow()), 0.15);
    assertTrue(Arrays.stream(t).allMatch(x -> Math.abs(x) <= 2.0), "truncated normal within 2 sigma");
    assertTrue(Arrays.stream(u).allMatch(x -> x > 0 && x < 1));
    double kept = Arrays.stream(r.get(4)).filter(x -> x > 0).count() / (double) u.length;
    assertEquals(0.75, kept, 0.1);
    assertTrue(Arrays.stream(r.get(4)).allMatch(x -> x == 0 || Math.abs(x - 1 / 0.75) < 1e-6));
  }

  @Test
  void seedAndStepChangeTheValues() {
    List<double[]> a = draw("x:1", "", 5, 0);
    List<double[]> b = draw("x:1", "", 6, 0);
    List<double[]> c = draw("x:1", "", 5, 1);
    assertFalse(Arrays.equals(a.get(0), b.get(0)), "a different seed gives different values");
    assertArrayEquals(a.get(0), c.get(0), 0.0, "a step-independent op ignores the step");
    assertArrayEquals(a.get(3), c.get(3), 0.0, "initial weights ignore the step");
    assertFalse(Arrays.equals(a.get(4), c.get(4)), "dropout masks change with the step");
  }
}
