package dev.neomesh.models.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.AdamUpdateOp;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.Gradients;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Tensor;

/**
 * Each optimizer's steps on {@code loss = Σ w·x} (so {@code g = x}, the same every step) against
 * values worked out by hand in double precision, on one device and on a two-device mesh.
 */
class OptimizersTest {
  static final Dim A = new Dim("a", 2);
  static final Dim B = new Dim("b", 3);

  /** The initial weights, the gradient, and the weights after {@code steps} steps. */
  record Run(double[] w0, double[] g, double[] w) {}

  static Run run(Optimizer opt, Shape shape, double lr, int steps, String mesh, String layout) {
    MeshGraph graph = new MeshGraph(7);
    MeshOps m = new MeshOps(graph);
    MeshTensor w = m.variable("layer/w", m.randomNormal(shape, DType.FLOAT32, "w", 0, 1));
    MeshTensor x = m.variable("x", m.randomNormal(shape, DType.FLOAT32, "x", 0, 1), false);
    MeshTensor loss = m.reduceSum(m.mul(w, x), Shape.SCALAR);
    List<MeshTensor> grads = Gradients.of(loss, List.of(w));
    StepFeeds feeds = new StepFeeds(m);
    MeshTensor lrT = feeds.scalar("lr", t -> lr);
    opt.apply(m, List.of(w), grads, lrT, feeds); // Adam: the fused kernel (see adamWithoutFusedKernel...)
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(graph, MeshShape.parse(mesh), LayoutRules.parse(layout))) {
      rt.initialize();
      double[] w0 = null;
      double[] g = null;
      for (int s = 0; s < steps; s++) {
        MeshRuntime.Step st = rt.step().fetch(w).fetch(x).withUpdates();
        List<Tensor> open = feeds.feed(st, s);
        List<double[]> r = st.run();
        open.forEach(Tensor::close);
        if (s == 0) {
          w0 = r.get(0);
          g = r.get(1);
        }
      }
      MeshRuntime.Step st = rt.step().fetch(w);
      List<Tensor> open = feeds.feed(st, steps);
      double[] after = st.run().get(0);
      open.forEach(Tensor::close);
      return new Run(w0, g, after);
    }
  }

  static void assertClose(double[] want, double[] got, double tol) {
    assertEquals(want.length, got.length);
    for (int i = 0; i < want.length; i++) {
      assertEquals(want[i], got[i], tol * Math.max(1, Math.abs(want[i])), "element " + i);
    }
  }

  @Test
  void sgdSubtractsLrTimesGradient() {
    Run r = run(new Sgd(), Shape.of(A, B), 0.5, 2, "x:1", "");
    double[] want = r.w0().clone();
    for (int i = 0; i < want.length; i++) {
      want[i] -= 2 * 0.5 * r.g()[i];
    }
    assertClose(want, r.w(), 1e-6);
  }

  /** Adam by hand: no bias correction, decoupled weight decay on the decayed parameter. */
  static double[] adamByHand(Run r, double lr, int steps, double b1, double b2, double eps, double wd,
      boolean correct) {
    double[] w = r.w0().clone();
    double[] mm = new double[w.length];
    double[] vv = new double[w.length];
    for (int t = 0; t < steps; t++) {
      for (int i = 0; i < w.length; i++) {
        double g = r.g()[i];
        mm[i] = b1 * mm[i] + (1 - b1) * g;
        vv[i] = b2 * vv[i] + (1 - b2) * g * g;
        double mh = correct ? mm[i] / (1 - Math.pow(b1, t + 1)) : mm[i];
        double vh = correct ? vv[i] / (1 - Math.pow(b2, t + 1)) : vv[i];
        w[i] -= lr * (mh / (Math.sqrt(vh) + eps) + wd * w[i]);
      }
    }
    return w;
  }

  @Test
  void adamMatchesHandComputedStepsWithoutBiasCorrection() {
    for (String[] ml : new String[][] {{"x:1", ""}, {"x:2", "a:x"}}) {
      Run r = run(new Adam(OptimizerSettings.adam(0.9, 0.95, 1e-8, 0.1), t -> true), Shape.of(A, B), 0.25, 3, ml[0],
          ml[1]);
      assertClose(adamByHand(r, 0.25, 3, 0.9, 0.95, 1e-8, 0.1, false), r.w(), 1e-5);
    }
  }

  @Test
  void adamWithBiasCorrectionAndNoDecayForExcludedParameters() {
    Run r = run(new Adam(OptimizerSettings.adam(0.9, 0.999, 1e-6, 0.5).withBiasCorrection(true), t -> false),
        Shape.of(A, B), 0.25, 2, "x:1", "");
    assertClose(adamByHand(r, 0.25, 2, 0.9, 0.999, 1e-6, 0.0, true), r.w(), 1e-5);
  }

  /** The mesh-op form (what microbatching uses, and {@code fusedAdam} false) gives the fused kernel's values. */
  @Test
  void adamWithoutFusedKernelMatchesTheSameSteps() {
    OptimizerSettings unfused = OptimizerSettings.adam(0.9, 0.99, 1e-8, 0.1).withBiasCorrection(true)
        .withFusedAdam(false);
    Run r = run(unfused.create(t -> true), Shape.of(A, B), 0.25, 3, "x:2", "a:x");
    assertClose(adamByHand(r, 0.25, 3, 0.9, 0.99, 1e-8, 0.1, true), r.w(), 1e-5);
  }

  /** {@code fusedAdam} alone decides between the in-place kernel and the mesh-op update (no global switch). */
  @Test
  void fusedAdamOptionPicksTheKernelOrTheMeshOps() {
    for (boolean fused : new boolean[] {true, false}) {
      MeshGraph graph = new MeshGraph(7);
      MeshOps m = new MeshOps(graph);
      MeshTensor w = m.variable("layer/w", m.randomNormal(Shape.of(A, B), DType.FLOAT32, "w", 0, 1));
      MeshTensor loss = m.reduceSum(m.mul(w, w), Shape.SCALAR);
      StepFeeds feeds = new StepFeeds(m);
      OptimizerSettings.adam(0.9, 0.95, 1e-8, 0).withFusedAdam(fused).create(t -> true)
          .apply(m, List.of(w), Gradients.of(loss, List.of(w)), feeds.scalar("lr", t -> 0.1), feeds);
      assertEquals(fused ? 1 : 0, graph.ops().stream().filter(op -> op instanceof AdamUpdateOp).count(),
          "fusedAdam " + fused);
    }
  }

  @Test
  void adafactorUnfactoredMatchesHandComputedSteps() {
    Run r = run(new Adafactor(0.0, 1e-30, 1e-3), Shape.of(A, B), 0.25, 2, "x:2", "a:x");
    double[] w = r.w0().clone();
    double[] v = new double[w.length];
    for (int t = 0; t < 2; t++) {
      double decay = 1 - Math.pow(t + 1, -0.8);
      double[] x = new double[w.length];
      double sq = 0;
      double wsq = 0;
      for (int i = 0; i < w.length; i++) {
        double g = r.g()[i];
        v[i] = decay * v[i] + (1 - decay) * (g * g + 1e-30);
        x[i] = g / Math.sqrt(v[i]);
        sq += x[i] * x[i];
        wsq += w[i] * w[i];
      }
      double clip = Math.max(1, Math.sqrt(sq / w.length));
      double scale = 0.25 * Math.max(Math.sqrt(wsq / w.length), 1e-3);
      for (int i = 0; i < w.length; i++) {
        w[i] -= x[i] / clip * scale;
      }
    }
    assertClose(w, r.w(), 1e-5);
  }

  @Test
  void adafactorFactorsTheTwoLargestDimsFromSize128() {
    Dim big = new Dim("big", 256);
    Dim mid = new Dim("mid", 128);
    Dim small = new Dim("small", 4);
    Dim[] f = Adafactor.factoredDims(Shape.of(small, mid, big));
    assertArrayEquals(new Dim[] {big, mid}, f);
    assertNull(Adafactor.factoredDims(Shape.of(big, small)));
    assertNull(Adafactor.factoredDims(Shape.of(big)));
  }

  @Test
  void adafactorFactoredMatchesHandComputedStep() {
    Dim r0 = new Dim("r", 128);
    Dim c0 = new Dim("c", 130);
    Run r = run(new Adafactor(0.0, 1e-30, 1e-3), Shape.of(r0, c0), 0.5, 1, "x:2", "r:x");
    int rows = 128;
    int cols = 130;
    // t = 0: decay 0, so vr = mean over the largest dim (c) of g², vc = mean over r of g².
    double[] vr = new double[rows];
    double[] vc = new double[cols];
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < cols; j++) {
        double g2 = r.g()[i * cols + j] * r.g()[i * cols + j] + 1e-30;
        vr[i] += g2 / cols;
        vc[j] += g2 / rows;
      }
    }
    double mean = 0;
    for (double x : vr) {
      mean += x / rows;
    }
    double[] x = new double[rows * cols];
    double sq = 0;
    double wsq = 0;
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < cols; j++) {
        int k = i * cols + j;
        x[k] = r.g()[k] / Math.sqrt(vr[i] / mean) / Math.sqrt(vc[j]);
        sq += x[k] * x[k];
        wsq += r.w0()[k] * r.w0()[k];
      }
    }
    double clip = Math.max(1, Math.sqrt(sq / x.length));
    double scale = 0.5 * Math.max(Math.sqrt(wsq / x.length), 1e-3);
    double[] want = r.w0().clone();
    for (int k = 0; k < want.length; k++) {
      want[k] -= x[k] / clip * scale;
    }
    assertClose(want, r.w(), 1e-4);
  }
}
