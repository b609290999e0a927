package dev.neomesh.mesh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.neomesh.mesh.MeshHarness.Case;
import dev.neomesh.mesh.ir.DType;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Forward values against plain Java reference computations (independent of TensorFlow and of the
 * lowering), on a split layout: the other half of "equals the single-device run and a plain
 * computation".
 */
class ReferenceValuesTest {
  static final Dim A = new Dim("a", 4);
  static final Dim B = new Dim("b", 8);
  static final Dim C = new Dim("c", 4);

  private static double[] run(Case c, List<double[]> values) {
    return MeshHarness.run(c, values, "x:2,y:2", "a:x,b:y").output();
  }

  @Test
  void matmul() {
    Case c = new Case("mm", List.of(Shape.of(A, B), Shape.of(B, C)), DType.FLOAT64,
        (m, x) -> m.matmul(x.get(0), x.get(1), Shape.of(A, C)), false);
    List<double[]> v = c.values(1);
    double[] expected = new double[16];
    for (int i = 0; i < 4; i++) {
      for (int k = 0; k < 4; k++) {
        for (int j = 0; j < 8; j++) {
          expected[i * 4 + k] += v.get(0)[i * 8 + j] * v.get(1)[j * 4 + k];
        }
      }
    }
    assertArrayEquals(expected, run(c, v), 1e-12);
  }

  @Test
  void geluIsTheTanhApproximation() {
    Case c = new Case("gelu", List.of(Shape.of(A, B)), DType.FLOAT64, (m, x) -> m.gelu(x.get(0)), false);
    List<double[]> v = c.values(3);
    double[] expected = new double[32];
    for (int i = 0; i < 32; i++) {
      double x = 3 * v.get(0)[i];
      v.get(0)[i] = x;
      expected[i] = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }
    assertArrayEquals(expected, run(c, v), 1e-12);
  }

  @Test
  void softmaxOverASplitDim() {
    Case c = new Case("softmax", List.of(Shape.of(A, B)), DType.FLOAT64, (m, x) -> m.softmax(x.get(0), "b"), false);
    List<double[]> v = c.values(2);
    double[] expected = new double[32];
    for (int i = 0; i < 4; i++) {
      double sum = 0;
      for (int j = 0; j < 8; j++) {
        sum += Math.exp(v.get(0)[i * 8 + j]);
      }
      for (int j = 0; j < 8; j++) {
        expected[i * 8 + j] = Math.exp(v.get(0)[i * 8 + j]) / sum;
      }
    }
    assertArrayEquals(expected, run(c, v), 1e-12);
  }

  @Test
  void cumsumAndShiftAlongASplitDim() {
    Case cum = new Case("cumsum", List.of(Shape.of(A, B)), DType.FLOAT64, (m, x) -> m.cumsum(x.get(0), "b", false), false);
    Case shift = new Case("shift", List.of(Shape.of(A, B)), DType.FLOAT64, (m, x) -> m.shift(x.get(0), "b", 3, false),
        false);
    List<double[]> v = cum.values(3);
    double[] expectedCum = new double[32];
    double[] expectedShift = new double[32];
    for (int i = 0; i < 4; i++) {
      double acc = 0;
      for (int j = 0; j < 8; j++) {
        acc += v.get(0)[i * 8 + j];
        expectedCum[i * 8 + j] = acc;
        expectedShift[i * 8 + j] = j >= 3 ? v.get(0)[i * 8 + j - 3] : 0;
      }
    }
    assertArrayEquals(expectedCum, run(cum, v), 1e-12);
    assertArrayEquals(expectedShift, run(shift, v), 0);
  }

  @Test
  void topKAsMeshTensorFlowsGoldenCase() {
    // mesh-tensorflow's ops_test: a:6,b:2 laid out a:rows,b:cols, k=2 along a
    Dim a = new Dim("a", 6);
    Dim b = new Dim("b", 2);
    Case c = new Case("topk", List.of(Shape.of(a, b)), DType.FLOAT64,
        (m, x) -> m.topK(x.get(0), "a", new Dim("k", 2)).get(0), false);
    double[] in = {1, 10, 2, 9, 3, 8, 4, 7, 5, 6, 6, 5}; // column b=0: 1..6, b=1: 10..5
    double[] got = MeshHarness.run(c, List.of(in), "rows:2,cols:2", "a:rows,b:cols").output();
    assertArrayEquals(new double[] {6, 10, 5, 9}, got, 0);
  }

  @Test
  void gatherFromASplitVocabulary() {
    Dim v = new Dim("v", 8);
    Case c = new Case("gather", List.of(Shape.of(v, C)), DType.FLOAT64, (m, x) -> m.gather(x.get(0),
        m.floorMod(m.mul(m.range(A, DType.INT32), m.scalar(3, DType.INT32)), m.scalar(8, DType.INT32)), "v"), false);
    List<double[]> vals = c.values(4);
    double[] expected = new double[16];
    for (int i = 0; i < 4; i++) {
      int row = (i * 3) % 8;
      System.arraycopy(vals.get(0), row * 4, expected, i * 4, 4);
    }
    assertArrayEquals(expected, MeshHarness.run(c, vals, "x:2,y:2", "v:x,a:y").output(), 0);
  }
}
