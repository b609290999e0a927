package dev.neomesh.models.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.List;
import org.junit.jupiter.api.Test;

class SchedulesAndClippingTest {
  @Test
  void cosineWithWarmupAtKeySteps() {
    LearningRateSchedule s = new LearningRateSchedule(1e-3, LearningRateSchedule.Decay.COSINE, 2000, 100);
    assertEquals(0, s.at(0), 1e-15);
    double decayed50 = 1e-3 * (0.9 * 0.5 * (1 + Math.cos(Math.PI * 50 / 2000)) + 0.1);
    assertEquals(decayed50 * 0.5, s.at(50), 1e-15);
    assertEquals(1e-3 * (0.9 * 0.5 * (1 + Math.cos(Math.PI * 100 / 2000)) + 0.1), s.at(100), 1e-15);
    assertEquals(0.55e-3, s.at(1000), 1e-12);
    assertEquals(1e-4, s.at(2000), 1e-15);
    assertEquals(1e-4, s.at(5000), 1e-15);
  }

  @Test
  void linearDecaysToATenthAtTheEnd() {
    LearningRateSchedule s = new LearningRateSchedule(2.0, LearningRateSchedule.Decay.LINEAR, 100, 0);
    assertEquals(2.0, s.at(0), 1e-12);
    assertEquals(1.1, s.at(50), 1e-12);
    assertEquals(0.2, s.at(100), 1e-12);
    assertEquals(0.2, s.at(1000), 1e-12);
  }

  @Test
  void constantAndWarmup() { // the lr_decay names are the config's (GptConfigTest.choiceKeysReadAsEnums)
    assertEquals(3.0, LearningRateSchedule.constant(3.0).at(12345), 0);
    LearningRateSchedule warm = new LearningRateSchedule(1.0, LearningRateSchedule.Decay.CONSTANT, 1, 10);
    assertEquals(0.3, warm.at(3), 1e-12);
    assertThrows(NeomeshException.class, () -> new LearningRateSchedule(-1, LearningRateSchedule.Decay.CONSTANT, 1, 0));
  }

  @Test
  void microbatchCountAsGptNeo() {
    assertEquals(1, Microbatching.count(null, 64, 12, 1));
    assertEquals(4, Microbatching.count(192, 64, 12, 1)); // mb 3 divides 12
    assertEquals(3, Microbatching.count(256, 64, 12, 1)); // mb 4
    assertEquals(3, Microbatching.count(320, 64, 12, 1)); // mb 5 does not divide 12, 4 does
    assertEquals(2, Microbatching.count(256, 64, 12, 2)); // 6 per replica, mb 4 -> 3
    assertEquals(12, Microbatching.count(10, 64, 12, 1)); // mb at least 1
  }

  /** Global-norm clipping: g·c/max(‖g‖,c), on a mesh that splits one of the gradients. */
  @Test
  void clippingScalesByTheGlobalNorm() {
    for (double clip : new double[] {1.0, 100.0}) {
      MeshGraph g = new MeshGraph(3);
      MeshOps m = new MeshOps(g);
      Dim a = new Dim("a", 4);
      MeshTensor g1 = m.variable("g1", m.randomNormal(Shape.of(a), DType.FLOAT32, "g1", 0, 2), false);
      MeshTensor g2 = m.variable("g2", m.randomNormal(Shape.of(a, new Dim("b", 2)), DType.FLOAT32, "g2", 0, 2), false);
      GlobalNormClipping.Clipped c = GlobalNormClipping.clip(m, List.of(g1, g2), clip);
      try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse("x:2"), LayoutRules.parse("a:x"))) {
        rt.initialize();
        List<double[]> r = rt.step().fetch(g1).fetch(g2).fetch(c.grads().get(0)).fetch(c.grads().get(1))
            .fetch(c.norm()).run();
        double sq = 0;
        for (double v : r.get(0)) {
          sq += v * v;
        }
        for (double v : r.get(1)) {
          sq += v * v;
        }
        double norm = Math.sqrt(sq);
        assertEquals(norm, r.get(4)[0], 1e-4);
        double scale = clip / Math.max(norm, clip);
        for (int k = 0; k < 2; k++) {
          for (int i = 0; i < r.get(k).length; i++) {
            assertEquals(r.get(k)[i] * scale, r.get(2 + k)[i], 1e-5);
          }
        }
      }
    }
  }
}
