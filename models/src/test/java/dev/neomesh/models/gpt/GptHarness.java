package dev.neomesh.models.gpt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.Gradients;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.Devices;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.models.config.GptConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.tensorflow.Tensor;

/** Builds the tiny GPT on a fresh graph, runs it on one mesh and layout, and compares runs. */
final class GptHarness {
  private GptHarness() {}

  static final int BATCH = 4;
  static final int SEQUENCE = 8;
  static final String TINY = "\"n_head\": 4, \"n_embd\": 16, \"n_layer\": 2, \"n_ctx\": 8, \"n_vocab\": 32";

  static GptConfig config(String extra) {
    return GptConfig.fromJson("{" + TINY + (extra.isEmpty() ? "" : ", " + extra) + "}");
  }

  /** The loss, then one gradient per parameter, and the parameter names. */
  record Run(double loss, List<double[]> grads, List<String> names) {}

  static int[] tokens(long seed, int vocab) {
    Random r = new Random(seed);
    int[] t = new int[BATCH * SEQUENCE];
    for (int i = 0; i < t.length; i++) {
      t[i] = 1 + r.nextInt(vocab - 1);
    }
    return t;
  }

  static Run run(GptConfig cfg, String mesh, String layout, boolean train) {
    MeshGraph g = new MeshGraph(1234);
    MeshOps m = new MeshOps(g);
    Shape shape = Shape.of(new Dim("batch", BATCH), new Dim("sequence", SEQUENCE));
    MeshTensor tokens = m.importTensor("tokens", shape, DType.INT32);
    MeshTensor labels = m.importTensor("labels", shape, DType.INT32);
    Gpt gpt = Gpt.build(m, cfg, tokens, labels, train);
    List<MeshTensor> params = gpt.parameters();
    List<MeshTensor> grads = Gradients.of(gpt.loss(), params);
    List<String> names = params.stream().map(v -> m.variableOp(v).name()).toList();
    MeshShape meshShape = MeshShape.parse(mesh);
    try (MeshRuntime rt = unoptimized(g, meshShape, LayoutRules.parse(layout));
         Tensor t = HostTensors.ofInts(shape, tokens(1, cfg.nVocab()));
         Tensor l = HostTensors.ofInts(shape, tokens(2, cfg.nVocab()))) {
      rt.initialize();
      MeshRuntime.Step step = rt.step().feed(tokens, t).feed(labels, l).fetch(gpt.loss());
      grads.forEach(step::fetch);
      List<double[]> out = step.run();
      return new Run(out.get(0)[0], new ArrayList<>(out.subList(1, out.size())), names);
    }
  }

  /** Loss to 1e-4 relative; each gradient to 1e-4 of its largest element (float32 sums differ in order). */
  static void assertSame(Run ref, Run got, String where) {
    assertSame(ref, got, where, 1e-4);
  }

  /** Loss to {@code tol} relative; each gradient to {@code tol} of its largest element. */
  static void assertSame(Run ref, Run got, String where, double tol) {
    assertEquals(ref.loss(), got.loss(), tol * Math.abs(ref.loss()), where + ": loss");
    for (int i = 0; i < ref.grads().size(); i++) {
      double[] a = ref.grads().get(i);
      double[] b = got.grads().get(i);
      double scale = 0;
      for (double v : a) {
        scale = Math.max(scale, Math.abs(v));
      }
      for (int k = 0; k < a.length; k++) {
        if (Math.abs(a[k] - b[k]) > tol * scale + 1e-9) {
          fail(where + ": gradient of " + ref.names().get(i) + "[" + k + "] is " + b[k] + ", expected " + a[k]
              + " (largest " + scale + ")");
        }
      }
    }
  }

  /**
   * {@code g} lowered onto virtual CPUs without Grappler, for programs a test runs a few times:
   * optimizing them took longer than running them (GptEquivalenceTest's blocked-local cases 11.5 s
   * against 6.7 s). These tests prove the lowering's values; the training tests (TrainerTest,
   * MainTest, the reference tests) run with Grappler on.
   */
  static MeshRuntime unoptimized(MeshGraph g, MeshShape mesh, LayoutRules rules) {
    return MeshRuntime.create(g, mesh, rules, Devices.virtualCpus(mesh.size()).withoutGraphOptimizer());
  }
}
