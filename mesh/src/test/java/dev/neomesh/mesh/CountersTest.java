package dev.neomesh.mesh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.Counters;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** Every collective is derived from the layout, and the counters say exactly which and how many bytes. */
class CountersTest {
  static final Dim BATCH = new Dim("batch", 4);
  static final Dim HIDDEN = new Dim("hidden", 8);
  static final Dim OUT = new Dim("out", 6);

  record Lowered(Map<String, Counters.Entry> counters, double[] value) {}

  private static Lowered lower(String mesh, String layout, Function<MeshOps, MeshTensor> program) {
    MeshGraph g = new MeshGraph(1);
    MeshOps m = new MeshOps(g);
    MeshTensor out = program.apply(m);
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse(mesh), LayoutRules.parse(layout))) {
      rt.initialize();
      double[] v = rt.step().fetch(out).run().get(0);
      return new Lowered(rt.counters().entries(), v);
    }
  }

  private static MeshTensor input(MeshOps m, String key, Dim... dims) {
    return m.randomNormal(Shape.of(dims), DType.FLOAT32, key, 0, 1);
  }

  @Test
  void contractingASplitDimAddsOneAllreduceOfTheOutputSlice() {
    Lowered l = lower("x:2,y:2", "batch:x,hidden:y",
        m -> m.matmul(input(m, "a", BATCH, HIDDEN), input(m, "b", HIDDEN, OUT), Shape.of(BATCH, OUT)));
    // the output [batch:4 (split 2), out:6] is 2*6 floats per device
    assertEquals(Map.of("allreduce[y]", new Counters.Entry(1, 2 * 6 * 4)), l.counters());
  }

  @Test
  void noCommunicationWhenTheContractedDimIsWhole() {
    Lowered l = lower("x:2,y:2", "batch:x,out:y",
        m -> m.matmul(input(m, "a", BATCH, HIDDEN), input(m, "b", HIDDEN, OUT), Shape.of(BATCH, OUT)));
    assertEquals(Map.of(), l.counters());
  }

  @Test
  void lazyAllreduceAddsBeforeOneReduction() {
    Lowered l = lower("x:4", "hidden:x", m -> m.add(
        m.matmul(input(m, "a", BATCH, HIDDEN), input(m, "b", HIDDEN, OUT), Shape.of(BATCH, OUT)),
        m.matmul(input(m, "c", BATCH, HIDDEN), input(m, "d", HIDDEN, OUT), Shape.of(BATCH, OUT))));
    assertEquals(Map.of("allreduce[x]", new Counters.Entry(1, 4 * 6 * 4)), l.counters());
  }

  @Test
  void relayoutsAreAllconcatAllsplitAndAlltoall() {
    Dim e = new Dim("experts", 4);
    Dim eu = new Dim("experts_unsplit", 4);
    Dim b = new Dim("batch", 8);
    Dim bu = new Dim("batch_unsplit", 8);
    String layout = "experts:x,batch:x";
    // split -> unsplit: allconcat of the [experts:4/4, c] slice
    Lowered concat = lower("x:4", layout, m -> m.rename(input(m, "t", e, OUT), "experts", "experts_unsplit"));
    assertEquals(Map.of("allconcat[x]", new Counters.Entry(1, 6 * 4)), concat.counters());
    // unsplit -> split: local (allsplit), no communication
    Lowered split = lower("x:4", layout, m -> m.rename(input(m, "t", eu, OUT), "experts_unsplit", "experts"));
    assertEquals(Map.of(), split.counters());
    // the split moves from batch to experts: alltoall
    Lowered a2a = lower("x:4", layout, m -> m.reshape(input(m, "t", eu, b), Shape.of(e, bu)));
    assertEquals(Map.of("alltoall[x]", new Counters.Entry(1, 4 * 2 * 4)), a2a.counters());
    // values equal a plain reshape on one device
    assertArrayEquals(lower("x:1", "", m -> m.rename(input(m, "t", e, OUT), "experts", "experts_unsplit")).value(),
        concat.value(), 0);
    assertArrayEquals(lower("x:1", "", m -> m.reshape(input(m, "t", eu, b), Shape.of(e, bu))).value(),
        a2a.value(), 0);
  }

  @Test
  void reductionsOverSplitDims() {
    Lowered sum = lower("x:2,y:4", "batch:x,hidden:y", m -> m.reduceSum(input(m, "a", BATCH, HIDDEN), Shape.SCALAR));
    assertEquals(Map.of("allreduce[x,y]", new Counters.Entry(1, 4)), sum.counters());
    Lowered max = lower("x:2,y:4", "batch:x,hidden:y", m -> m.reduceMax(input(m, "a", BATCH, HIDDEN), Shape.of(BATCH)));
    assertEquals(Map.of("allreduce[y]", new Counters.Entry(1, 2 * 4)), max.counters());
  }

  @Test
  void shiftOnASplitDimTalksToNeighbours() {
    Dim s = new Dim("s", 8);
    Lowered aligned = lower("x:4", "s:x", m -> m.shift(input(m, "a", s, OUT), "s", 2, false));
    assertEquals(Map.of("shift[x]", new Counters.Entry(1, 2 * 6 * 4)), aligned.counters());
    Lowered unaligned = lower("x:4", "s:x", m -> m.shift(input(m, "a", s, OUT), "s", 1, false));
    assertEquals(Map.of("shift[x]", new Counters.Entry(1, 2 * 6 * 4)), unaligned.counters(),
        "offset 1 < slice length 2: one neighbour shift by 1 slice plus the local part (q=0 is free)");
  }

  @Test
  void shiftWithNoNeighbourMovesNothing() {
    Dim s = new Dim("s", 8);
    Lowered sizeOne = lower("x:1,y:2", "s:x", m -> m.shift(input(m, "a", s, OUT), "s", 1, false));
    assertEquals(Map.of(), sizeOne.counters(), "a size-1 axis has no neighbour");
    Lowered far = lower("x:4", "s:x", m -> m.shift(input(m, "a", s, OUT), "s", 9, false));
    assertEquals(Map.of(), far.counters(), "shifted past the end: zeros, computed locally");
    assertArrayEquals(new double[8 * 6], far.value(), 0);
  }

  @Test
  void topKOverASplitDimGathersOnlyCandidatesWhenThatIsFewerBytes() {
    Dim vocab = new Dim("vocab", 64);
    // x [batch:4, vocab:64] float32 with vocab:x on x:4: each device's slice is [4, 16], 4*16*4 = 256 B
    Function<Integer, Function<MeshOps, List<MeshTensor>>> topK =
        k -> m -> m.topK(input(m, "a", BATCH, vocab), "vocab", new Dim("k", k));
    // k=2: k values (4 B) and k int32 indices (4 B) per row, 2*8 = 16 B < 16*4 = 64 B of the row:
    // two allconcats of the [4, 2] candidates, 4*2*4 = 32 B each, 64 B in all (whole slices: 256 B)
    assertEquals(Map.of("allconcat[x]", new Counters.Entry(2, 2 * (4 * 2 * 4))),
        lower("x:4", "vocab:x", m -> topK.apply(2).apply(m).get(0)).counters());
    // k=7: 7*8 = 56 B < 64 B a row: two allconcats of 4*7*4 = 112 B, 224 B in all
    assertEquals(Map.of("allconcat[x]", new Counters.Entry(2, 2 * (4 * 7 * 4))),
        lower("x:4", "vocab:x", m -> topK.apply(7).apply(m).get(0)).counters());
    // k=8: 8*8 = 64 B, not fewer than the row's 64 B: the whole [4, 16] slice, 4*16*4 = 256 B, once
    assertEquals(Map.of("allconcat[x]", new Counters.Entry(1, 4 * 16 * 4)),
        lower("x:4", "vocab:x", m -> topK.apply(8).apply(m).get(0)).counters());
    // values and indices equal one device's, on both algorithms and with the k dim split too
    for (int k : new int[] {2, 7, 8}) {
      for (int out = 0; out < 2; out++) {
        int o = out;
        Function<MeshOps, MeshTensor> p = m -> topK.apply(k).apply(m).get(o);
        double[] ref = lower("x:1", "", p).value();
        assertArrayEquals(ref, lower("x:4", "vocab:x", p).value(), 0, "k=" + k + " output " + o);
        assertArrayEquals(ref, lower("x:2,y:2", "vocab:x,batch:y", p).value(), 0, "k=" + k + " output " + o);
        if (k % 2 == 0) {
          assertArrayEquals(ref, lower("x:2,y:2", "vocab:y,k:x", p).value(), 0, "k=" + k + " output " + o);
        }
      }
    }
  }

  @Test
  void ringAllreduceForLargeTensorsGivesTheSameSum() {
    Dim big = new Dim("big", 4096);
    Dim parts = new Dim("parts", 4);
    Function<MeshOps, MeshTensor> p = m -> m.reduceSum(input(m, "a", parts, big), Shape.of(big));
    double[] ref = lower("x:1", "", p).value();
    Lowered ring = lower("x:4", "parts:x", p);
    assertEquals(List.of("allreduce[x]"), List.copyOf(ring.counters().keySet()));
    assertArrayEquals(ref, ring.value(), 1e-5);
  }
}
