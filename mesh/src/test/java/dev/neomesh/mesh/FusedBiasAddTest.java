package dev.neomesh.mesh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.Gradients;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.LoweringOptions;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.tensorflow.Tensor;

/**
 * A dense layer's {@code x . w + b} (named einsum, then a bias add over its output dim) lowers to
 * {@code BiasAdd(MatMul)}, which TensorFlow's graph optimizer runs as one {@code _FusedMatMul}
 * kernel (oneDNN's {@code _MklNativeFusedMatMul} when oneDNN is on); the values and gradients are those of the plain lowering. Where the einsum's output is a
 * partial sum (its input dim split), the add follows the allreduce and stays a plain add.
 */
class FusedBiasAddTest {
  static final Dim BATCH = new Dim("batch", 8);
  static final Dim SEQ = new Dim("sequence", 4);
  static final Dim IN = new Dim("in", 16);
  static final Dim OUT = new Dim("out", 32);

  record Run(List<double[]> values, Set<String> graphOps, Set<String> executedOps) {}

  static Run run(String mesh, String layout, LoweringOptions options) {
    MeshGraph g = new MeshGraph(3);
    MeshOps m = new MeshOps(g);
    MeshTensor x = m.importTensor("x", Shape.of(BATCH, SEQ, IN), DType.FLOAT32);
    MeshTensor w = m.variable("w", m.randomNormal(Shape.of(IN, OUT), DType.FLOAT32, "w", 0, 0.3));
    MeshTensor b = m.variable("b", m.randomNormal(Shape.of(OUT), DType.FLOAT32, "b", 0, 0.3));
    MeshTensor y = m.gelu(m.add(m.einsum(List.of(x, w), Shape.of(BATCH, SEQ, OUT)), b));
    MeshTensor loss = m.reduceSum(m.mul(y, m.randomNormal(y.shape(), DType.FLOAT32, "probe", 0, 1)), Shape.SCALAR);
    List<MeshTensor> grads = Gradients.of(loss, List.of(x, w, b));
    double[] xs = new Random(5).doubles(BATCH.size() * SEQ.size() * IN.size(), -1, 1).toArray();
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse(mesh), LayoutRules.parse(layout), options);
        Tensor feed = HostTensors.of(x.shape(), DType.FLOAT32, xs)) {
      rt.initialize();
      MeshRuntime.Step step = rt.step().feed(x, feed).fetch(y).fetch(loss).traced();
      grads.forEach(step::fetch);
      List<double[]> values = step.run();
      Set<String> graphOps = new HashSet<>();
      rt.graph().operations().forEachRemaining(op -> graphOps.add(op.type()));
      Set<String> executed = new HashSet<>();
      rt.lastRunMetadata().getStepStats().getDevStatsList().forEach(d -> d.getNodeStatsList()
          .forEach(n -> executed.add(n.getTimelineLabel().replaceAll(".*= (\\w+).*", "$1"))));
      return new Run(values, graphOps, executed);
    }
  }

  static void assertClose(List<double[]> expected, List<double[]> actual, String what) {
    assertEquals(expected.size(), actual.size());
    for (int i = 0; i < expected.size(); i++) {
      double[] e = expected.get(i);
      double[] a = actual.get(i);
      double scale = 0;
      for (double v : e) {
        scale = Math.max(scale, Math.abs(v));
      }
      for (int j = 0; j < e.length; j++) {
        // float32; the fused kernel may order the matmul's sums differently from the plain one
        assertEquals(e[j], a[j], 1e-5 * scale, what + ": fetch " + i + " element " + j);
      }
    }
  }

  /** {@code _FusedMatMul}, or oneDNN's {@code _MklNativeFusedMatMul} with TF_ENABLE_ONEDNN_OPTS=1 (the tests' setting). */
  static boolean ranFusedMatMul(Run r) {
    return r.executedOps().stream().anyMatch(t -> t.endsWith("FusedMatMul"));
  }

  @Test
  void denseBiasAddIsOneFusedMatMulWithThePlainValues() {
    List<double[]> reference = run("x:1", "", LoweringOptions.UNFUSED).values();
    for (String[] ml : new String[][] {{"x:1", ""}, {"x:2", "batch:x"}, {"x:2", "out:x"}, {"x:2,y:2", "batch:x,out:y"}}) {
      Run fused = run(ml[0], ml[1], LoweringOptions.DEFAULT);
      Run plain = run(ml[0], ml[1], LoweringOptions.UNFUSED);
      String where = ml[0] + " " + ml[1];
      assertTrue(fused.graphOps().contains("BiasAdd"), where + ": no BiasAdd in " + fused.graphOps());
      assertTrue(ranFusedMatMul(fused), where + ": TensorFlow ran " + fused.executedOps());
      assertFalse(plain.graphOps().contains("BiasAdd"), where);
      assertFalse(ranFusedMatMul(plain), where + ": the plain lowering fused");
      assertClose(reference, fused.values(), where + " fused");
      assertClose(reference, plain.values(), where + " plain");
    }
    // in split: each device's matmul is a partial sum, and the bias is added once after the allreduce
    Run partial = run("x:2", "in:x", LoweringOptions.DEFAULT);
    assertFalse(partial.graphOps().contains("BiasAdd"), "a partial sum's bias add was fused");
    assertClose(reference, partial.values(), "x:2 in:x");
  }
}
