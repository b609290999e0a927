package dev.neomesh.mesh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.neomesh.mesh.MeshHarness.Case;
import dev.neomesh.mesh.MeshHarness.Run;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The layout-equivalence property, op by op: on every mesh of {@link MeshHarness#MESHES} and under
 * every valid layout of the dims involved, each op's forward value and the gradients of a probe
 * loss equal the single-device run; and on one device the gradients agree with central finite
 * differences (float64), so they are right and not merely consistent.
 */
class OpEquivalenceTest {
  static final Dim A = new Dim("a", 4);
  static final Dim B = new Dim("b", 8);
  static final Dim C = new Dim("c", 4);
  static final Shape AB = Shape.of(A, B);
  static final Shape BC = Shape.of(B, C);
  static final Shape AC = Shape.of(A, C);

  static Case unary(String name, Function<MeshOps, Function<MeshTensor, MeshTensor>> f, boolean positive) {
    return new Case(name, List.of(AB), DType.FLOAT64, (m, xs) -> f.apply(m).apply(xs.get(0)), positive);
  }

  static Case c(String name, List<Shape> in, BiFunction<MeshOps, List<MeshTensor>, MeshTensor> body) {
    return new Case(name, in, DType.FLOAT64, body, false);
  }

  static List<Case> cases() {
    List<Case> cs = new ArrayList<>();
    cs.add(c("einsum_matmul", List.of(AB, BC), (m, x) -> m.matmul(x.get(0), x.get(1), AC)));
    cs.add(c("einsum_three_inputs", List.of(AB, BC, Shape.of(C)),
        (m, x) -> m.einsum(List.of(x.get(0), x.get(1), x.get(2)), Shape.of(A))));
    cs.add(c("einsum_broadcast_new_dim", List.of(Shape.of(A)),
        (m, x) -> m.einsum(List.of(x.get(0)), Shape.of(new Dim("d", 4), A))));
    cs.add(c("einsum_dot_per_row", List.of(AB, AB), (m, x) -> m.einsum(List.of(x.get(0), x.get(1)), Shape.of(A))));
    cs.add(c("einsum_dot_per_column", List.of(AB, Shape.of(B, A)),
        (m, x) -> m.einsum(List.of(x.get(0), x.get(1)), Shape.of(B))));
    cs.add(c("einsum_transpose", List.of(AB), (m, x) -> m.einsum(List.of(x.get(0)), Shape.of(B, A))));
    cs.add(c("einsum_lazy_sum_of_two", List.of(AB, BC, AB, BC),
        (m, x) -> m.add(m.matmul(x.get(0), x.get(1), AC), m.matmul(x.get(2), x.get(3), AC))));
    cs.add(c("einsum_scalars", List.of(AB), (m, x) -> m.mul(m.reduceMean(x.get(0), Shape.SCALAR),
        m.reduceSum(x.get(0), Shape.SCALAR))));
    cs.add(unary("neg", m -> m::neg, false));
    cs.add(unary("exp", m -> m::exp, false));
    cs.add(unary("log", m -> m::log, true));
    cs.add(unary("sqrt", m -> m::sqrt, true));
    cs.add(unary("rsqrt", m -> m::rsqrt, true));
    cs.add(unary("tanh", m -> m::tanh, false));
    cs.add(unary("sigmoid", m -> m::sigmoid, false));
    cs.add(unary("relu", m -> m::relu, false));
    cs.add(unary("abs", m -> m::abs, false));
    cs.add(unary("sin", m -> m::sin, false));
    cs.add(unary("cos", m -> m::cos, false));
    cs.add(unary("square", m -> m::square, false));
    cs.add(unary("softplus", m -> m::softplus, false));
    cs.add(unary("erf", m -> m::erf, false));
    cs.add(unary("reciprocal", m -> m::reciprocal, true));
    cs.add(unary("log1p", m -> m::log1p, true));
    cs.add(unary("gelu", m -> m::gelu, false));
    cs.add(unary("identity", m -> m::identity, false));
    cs.add(c("add_broadcast", List.of(AB, Shape.of(B)), (m, x) -> m.add(x.get(0), x.get(1))));
    // a dense layer's bias add: BiasAdd on the MatMul where the einsum's output is whole (FusedBiasAddTest)
    cs.add(c("dense_bias_add", List.of(AB, BC, Shape.of(C)),
        (m, x) -> m.add(x.get(2), m.matmul(x.get(0), x.get(1), AC))));
    cs.add(c("sub_broadcast", List.of(Shape.of(B), AB), (m, x) -> m.sub(x.get(0), x.get(1))));
    cs.add(c("mul_outer", List.of(AB, BC), (m, x) -> m.mul(x.get(0), x.get(1))));
    cs.add(new Case("div", List.of(AB, Shape.of(A)), DType.FLOAT64, (m, x) -> m.div(x.get(0), x.get(1)), true));
    cs.add(c("maximum", List.of(AB, AB), (m, x) -> m.maximum(x.get(0), x.get(1))));
    cs.add(c("minimum", List.of(AB, Shape.of(B)), (m, x) -> m.minimum(x.get(0), x.get(1))));
    cs.add(new Case("pow", List.of(AB, AB), DType.FLOAT64, (m, x) -> m.pow(x.get(0), x.get(1)), true));
    cs.add(c("cast_roundtrip", List.of(AB), (m, x) -> m.cast(m.mul(m.cast(x.get(0), DType.FLOAT32), 2.0),
        DType.FLOAT64)));
    cs.add(c("where", List.of(AB, AB, Shape.of(B)),
        (m, x) -> m.where(m.greater(x.get(0), 0.0), x.get(1), x.get(2))));
    cs.add(c("reduce_sum", List.of(Shape.of(A, B, C)), (m, x) -> m.reduceSum(x.get(0), "b")));
    cs.add(c("reduce_sum_reordered", List.of(Shape.of(A, B, C)), (m, x) -> m.reduceSum(x.get(0), Shape.of(C, A))));
    cs.add(c("reduce_mean", List.of(Shape.of(A, B, C)), (m, x) -> m.reduceMean(x.get(0), "a", "c")));
    cs.add(c("reduce_max", List.of(AB), (m, x) -> m.reduceMax(x.get(0), "b")));
    // Sum(Square) where dims stay, L2Loss where the slice reduces to a scalar, and of a pending sum
    cs.add(c("sum_of_squares", List.of(Shape.of(A, B, C)), (m, x) -> m.sumOfSquares(x.get(0), Shape.of(C, A))));
    cs.add(c("sum_of_squares_to_scalar", List.of(AB), (m, x) -> m.sumOfSquares(x.get(0), Shape.SCALAR)));
    cs.add(c("sum_of_squares_of_a_pending_sum", List.of(AB, BC),
        (m, x) -> m.sumOfSquares(m.matmul(x.get(0), x.get(1), AC), Shape.SCALAR)));
    cs.add(c("reduce_min", List.of(AB), (m, x) -> m.reduceMin(x.get(0), Shape.of(B))));
    cs.add(c("log_sum_exp", List.of(AB), (m, x) -> m.logSumExp(x.get(0), "b")));
    cs.add(c("softmax", List.of(AB), (m, x) -> m.softmax(x.get(0), "b")));
    cs.add(c("reshape_flatten", List.of(AB), (m, x) -> m.reshape(x.get(0), Shape.of(new Dim("ab", 32)))));
    cs.add(c("reshape_split", List.of(Shape.of(new Dim("ab", 32))), (m, x) -> m.reshape(x.get(0),
        Shape.of(new Dim("a2", 4), new Dim("b2", 8)))));
    cs.add(c("rename", List.of(AB), (m, x) -> m.rename(x.get(0), "b", "b_new")));
    cs.add(c("rename_swap", List.of(AB), (m, x) -> m.reshape(x.get(0), Shape.of(new Dim("b", 4), new Dim("a", 8)))));
    cs.add(c("transpose", List.of(Shape.of(A, B, C)), (m, x) -> m.transpose(x.get(0), Shape.of(C, A, B))));
    cs.add(c("slice", List.of(AB), (m, x) -> m.slice(x.get(0), "b", 2, 5)));
    cs.add(c("pad", List.of(AB), (m, x) -> m.pad(x.get(0), "b", 1, 3)));
    cs.add(c("concat", List.of(AB, Shape.of(A, new Dim("b", 3))), (m, x) -> m.concat(List.of(x.get(0), x.get(1)), "b")));
    for (int offset : new int[] {1, 2, 3, -1, -5, 9}) {
      for (boolean wrap : new boolean[] {false, true}) {
        cs.add(c("shift_" + offset + (wrap ? "_wrap" : ""), List.of(Shape.of(new Dim("s", 8), C)),
            (m, x) -> m.shift(x.get(0), "s", offset, wrap)));
      }
    }
    cs.add(c("one_hot_gather", List.of(Shape.of(new Dim("v", 8), C)), (m, x) -> {
      MeshTensor idx = m.cast(m.floorMod(m.mul(m.range(new Dim("a", 4), DType.INT32), m.scalar(3, DType.INT32)),
          m.scalar(8, DType.INT32)), DType.INT32);
      return m.gather(x.get(0), idx, "v");
    }));
    // ids [a, b] repeat (32 lookups of 8 rows): the table gradient must add up the rows of each id
    cs.add(c("one_hot_gather_repeated_ids", List.of(Shape.of(C, new Dim("v", 8))), (m, x) -> {
      MeshTensor ids = m.floorMod(m.add(m.mul(m.range(A, DType.INT32), m.scalar(3, DType.INT32)),
          m.range(B, DType.INT32)), m.scalar(8, DType.INT32));
      return m.gather(x.get(0), ids, "v");
    }));
    cs.add(c("range_times_x", List.of(AB), (m, x) -> m.mul(x.get(0), m.cast(m.range(B, DType.INT32), DType.FLOAT64))));
    cs.add(c("top_k_values", List.of(AB), (m, x) -> m.topK(x.get(0), "b", new Dim("k", 3)).get(0)));
    cs.add(c("top_k_six", List.of(AB), (m, x) -> m.topK(x.get(0), "b", new Dim("k", 6)).get(0)));
    // b:8 split over 2 devices (slice 4) or 4 (slice 2): float64 rows are reduced to k candidates per
    // device where k (values and indices, 12 bytes each) is fewer bytes than the slice (8 each), so
    // k=1 everywhere and k=2 on 2 devices; k=3 and k=6 gather the whole slices
    for (int k : new int[] {1, 2, 3, 6}) {
      cs.add(c("top_k_indices_" + k, List.of(AB),
          (m, x) -> m.cast(m.topK(x.get(0), "b", new Dim("k", k)).get(1), DType.FLOAT64)));
    }
    cs.add(c("top_k_values_two", List.of(AB), (m, x) -> m.topK(x.get(0), "b", new Dim("k", 2)).get(0)));
    cs.add(c("top_k_values_one", List.of(AB), (m, x) -> m.topK(x.get(0), "b", new Dim("k", 1)).get(0)));
    // the dim in the middle of three: the candidates' indices are gathered with two batch dims
    cs.add(c("top_k_middle_dim", List.of(Shape.of(A, B, C)), (m, x) -> {
      List<MeshTensor> top = m.topK(x.get(0), "b", new Dim("k", 2));
      return m.add(top.get(0), m.mul(m.cast(top.get(1), DType.FLOAT64), 100.0));
    }));
    // ties: row a holds (a + b) mod 3, so equal values sit on one device and on several; the indices
    // must follow the single device's tie-break (lower index first)
    for (int k : new int[] {1, 2, 4}) {
      cs.add(c("top_k_ties_indices_" + k, List.of(AB), (m, x) -> {
        MeshTensor pattern = m.cast(m.floorMod(m.add(m.range(A, DType.INT32), m.range(B, DType.INT32)),
            m.scalar(3, DType.INT32)), DType.FLOAT64);
        MeshTensor tied = m.add(m.mul(x.get(0), 0.0), pattern);
        return m.cast(m.topK(tied, "b", new Dim("k", k)).get(1), DType.FLOAT64);
      }));
    }
    cs.add(c("cumsum", List.of(AB), (m, x) -> m.cumsum(x.get(0), "b", false)));
    cs.add(c("cumsum_exclusive", List.of(AB), (m, x) -> m.cumsum(x.get(0), "a", true)));
    cs.add(c("stop_gradient", List.of(AB), (m, x) -> m.add(m.stopGradient(m.square(x.get(0))), x.get(0))));
    cs.add(c("dropout", List.of(AB), (m, x) -> m.dropout(x.get(0), 0.5, "drop")));
    cs.add(c("random_mix", List.of(AB), (m, x) -> m.add(x.get(0), m.add(m.randomUniform(AB, DType.FLOAT64, "u", -1, 1),
        m.truncatedNormal(Shape.of(B), DType.FLOAT64, "t", 0, 1)))));
    cs.add(c("tensor_feeds_three_ops", List.of(AB), (m, x) -> m.add(m.mul(x.get(0), x.get(0)),
        m.reduceSum(m.exp(x.get(0)), Shape.of(B)))));
    return cs;
  }

  @TestFactory
  Stream<DynamicTest> everyOpOnEveryMeshAndLayout() {
    return cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> checkCase(c)));
  }

  static void checkCase(Case c) {
    List<double[]> values = c.values(11);
    Run ref = MeshHarness.run(c, values, "x:1", "");
    if (hasSmoothExactGradient(c.name())) {
      checkFiniteDifferences(c, values, ref);
    }
    int valid = 0;
    for (String mesh : MeshHarness.MESHES.subList(1, MeshHarness.MESHES.size())) {
      for (String layout : MeshHarness.layouts(c.dimNames(), MeshShape.parse(mesh))) {
        if (mesh.equals("x:2,y:4") && !(layout.contains(":x") && layout.contains(":y"))) {
          continue; // on the largest mesh, only layouts that use both axes (the others are seen on x:2,y:2)
        }
        Run got;
        try {
          got = MeshHarness.run(c, values, mesh, layout);
        } catch (LayoutException e) {
          continue; // not a valid layout of this program (divisibility, or a dim the op needs unsplit)
        }
        valid++;
        String where = c.name() + " on " + mesh + " with \"" + layout + "\"";
        assertClose(ref.output(), got.output(), where + " (forward)");
        assertClose(new double[] {ref.loss()}, new double[] {got.loss()}, where + " (loss)");
        for (int i = 0; i < ref.grads().size(); i++) {
          assertClose(ref.grads().get(i), got.grads().get(i), where + " (gradient of input " + i + ")");
        }
      }
    }
    assertTrue(valid >= 4, c.name() + ": only " + valid + " valid layouts were exercised");
  }

  /**
   * Finite differences check the gradient only where it is the derivative of a smooth float64
   * function: not at kinks (relu, abs, max, min, top_k), not through float32 (cast) and not where
   * the gradient is deliberately not the derivative (stop_gradient).
   */
  static boolean hasSmoothExactGradient(String name) {
    return Stream.of("top_k", "reduce_max", "reduce_min", "relu", "abs", "maximum", "minimum", "cast", "stop_gradient")
        .noneMatch(name::startsWith);
  }

  static void checkFiniteDifferences(Case c, List<double[]> values, Run ref) {
    Random r = new Random(3);
    List<double[]> dir = new ArrayList<>();
    double expected = 0;
    for (int i = 0; i < values.size(); i++) {
      double[] d = new double[values.get(i).length];
      for (int k = 0; k < d.length; k++) {
        d[k] = r.nextGaussian();
        expected += d[k] * ref.grads().get(i)[k];
      }
      dir.add(d);
    }
    double eps = 1e-5;
    double plus = MeshHarness.run(c, shifted(values, dir, eps), "x:1", "").loss();
    double minus = MeshHarness.run(c, shifted(values, dir, -eps), "x:1", "").loss();
    double numeric = (plus - minus) / (2 * eps);
    assertEquals(numeric, expected, 1e-5 * Math.max(1, Math.abs(numeric)),
        c.name() + ": gradient disagrees with finite differences");
  }

  private static List<double[]> shifted(List<double[]> values, List<double[]> dir, double eps) {
    List<double[]> out = new ArrayList<>();
    for (int i = 0; i < values.size(); i++) {
      double[] v = values.get(i).clone();
      for (int k = 0; k < v.length; k++) {
        v[k] += eps * dir.get(i)[k];
      }
      out.add(v);
    }
    return out;
  }

  static void assertClose(double[] expected, double[] actual, String what) {
    assertEquals(expected.length, actual.length, what + ": sizes differ");
    for (int i = 0; i < expected.length; i++) {
      double tol = 1e-9 * Math.max(1, Math.abs(expected[i]));
      if (Math.abs(expected[i] - actual[i]) > tol) {
        fail(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i]);
      }
    }
  }
}
