package dev.neomesh.mesh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.Gradients;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.Counters;
import dev.neomesh.mesh.lower.LoweringOptions;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Bucketed allreduces ({@code LoweringOptions.allreduceBucketBytes}): the pending sums that are ready
 * together become one collective with all their bytes, the values stay those of one allreduce per
 * tensor, and no other op's communication changes.
 */
class AllreduceBucketsTest {
  static final Dim BATCH = new Dim("batch", 8);
  static final Dim IN = new Dim("in", 6);
  static final Dim HIDDEN = new Dim("hidden", 10);
  static final Dim OUT = new Dim("out", 4);

  record Lowered(Map<String, Counters.Entry> counters, List<double[]> values) {}

  static Lowered lower(String mesh, String layout, LoweringOptions options, Function<MeshOps, List<MeshTensor>> program) {
    MeshGraph g = new MeshGraph(3);
    MeshOps m = new MeshOps(g);
    List<MeshTensor> fetches = program.apply(m);
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse(mesh), LayoutRules.parse(layout), options)) {
      rt.initialize();
      MeshRuntime.Step step = rt.step();
      fetches.forEach(step::fetch);
      return new Lowered(rt.counters().entries(), step.run());
    }
  }

  static MeshTensor input(MeshOps m, String key, Dim... dims) {
    return m.randomNormal(Shape.of(dims), DType.FLOAT32, key, 0, 1);
  }

  /** A two-layer MLP's weight gradients on a split batch, each read whole by a scaling: three pending sums. */
  static List<MeshTensor> dataParallelGradients(MeshOps m) {
    MeshTensor x = input(m, "x", BATCH, IN);
    MeshTensor w1 = input(m, "w1", IN, HIDDEN);
    MeshTensor b1 = input(m, "b1", HIDDEN);
    MeshTensor w2 = input(m, "w2", HIDDEN, OUT);
    MeshTensor h = m.tanh(m.add(m.matmul(x, w1, Shape.of(BATCH, HIDDEN)), b1));
    MeshTensor y = m.matmul(h, w2, Shape.of(BATCH, OUT));
    MeshTensor loss = m.reduceSum(m.square(y), Shape.SCALAR);
    List<MeshTensor> grads = Gradients.of(loss, List.of(w1, b1, w2));
    MeshTensor half = m.scalar(0.5, DType.FLOAT32);
    List<MeshTensor> out = new ArrayList<>();
    for (MeshTensor gr : grads) {
      out.add(m.mul(gr, half));
    }
    return out;
  }

  @Test
  void readyGradientsShareOneAllreduceWithTheSameBytesAndValues() {
    for (String mesh : List.of("x:2", "x:4")) {
      Lowered perTensor = lower(mesh, "batch:x", LoweringOptions.DEFAULT, AllreduceBucketsTest::dataParallelGradients);
      Lowered bucketed = lower(mesh, "batch:x", LoweringOptions.DEFAULT.withAllreduceBuckets(1 << 20),
          AllreduceBucketsTest::dataParallelGradients);
      Counters.Entry each = perTensor.counters().get("allreduce[x]");
      assertEquals(3, each.count(), mesh + ": one allreduce per gradient without buckets " + perTensor.counters());
      assertEquals(Map.of("allreduce[x]", new Counters.Entry(1, each.bytesPerDevice())), bucketed.counters(),
          mesh + ": one bucket, the same bytes");
      for (int i = 0; i < 3; i++) {
        assertArrayEquals(perTensor.values().get(i), bucketed.values().get(i), 1e-5, mesh + " gradient " + i);
      }
      Lowered whole = lower("x:1", "", LoweringOptions.DEFAULT, AllreduceBucketsTest::dataParallelGradients);
      for (int i = 0; i < 3; i++) {
        assertArrayEquals(whole.values().get(i), bucketed.values().get(i), 1e-5, mesh + " vs one device, gradient " + i);
      }
    }
  }

  @Test
  void aBucketHoldsUnderItsCap() {
    // w1's gradient is 6 x 10 floats (240 B): with b1 (40 B) it would pass a 250-byte cap, so b1 and w2 (160 B) share the next
    Lowered bucketed = lower("x:2", "batch:x", LoweringOptions.DEFAULT.withAllreduceBuckets(250),
        AllreduceBucketsTest::dataParallelGradients);
    assertEquals(2, bucketed.counters().get("allreduce[x]").count(), bucketed.counters().toString());
  }

  /**
   * Pending sums that other ops read before the op that resolves them ({@code t2 + t3}, where the
   * add decides itself what to reduce): bucketing moves the same bytes as one allreduce per tensor,
   * in no more collectives, with the same values.
   */
  @Test
  void aSumThatAnotherOpStillReadsPendingStaysOutOfTheBucket() {
    Function<MeshOps, List<MeshTensor>> program = m -> {
      MeshTensor t1 = m.matmul(input(m, "a", BATCH, HIDDEN), input(m, "b", HIDDEN, OUT), Shape.of(BATCH, OUT));
      MeshTensor t2 = m.matmul(input(m, "c", BATCH, HIDDEN), input(m, "d", HIDDEN, OUT), Shape.of(BATCH, OUT));
      MeshTensor t3 = m.matmul(input(m, "e", HIDDEN), input(m, "f", HIDDEN, OUT), Shape.of(OUT));
      MeshTensor r1 = m.tanh(t1); // resolves t1: the first bucket's trigger
      MeshTensor s = m.add(t2, t3); // reads t2 and t3 pending: one allreduce for the sum
      MeshTensor r2 = m.tanh(t2); // resolves t2
      MeshTensor u = m.tanh(s); // resolves the sum
      return List.of(r1, u, r2);
    };
    Lowered perTensor = lower("x:2", "hidden:x", LoweringOptions.DEFAULT, program);
    Lowered bucketed = lower("x:2", "hidden:x", LoweringOptions.DEFAULT.withAllreduceBuckets(1 << 20), program);
    Counters.Entry each = perTensor.counters().get("allreduce[x]");
    Counters.Entry fused = bucketed.counters().get("allreduce[x]");
    assertEquals(3, each.count(), perTensor.counters().toString());
    assertEquals(each.bytesPerDevice(), fused.bytesPerDevice(), "the same bytes: " + bucketed.counters());
    assertTrue(fused.count() < each.count(), "fewer collectives: " + bucketed.counters());
    for (int i = 0; i < 3; i++) {
      assertArrayEquals(perTensor.values().get(i), bucketed.values().get(i), 1e-5, "value " + i);
    }
  }
}
