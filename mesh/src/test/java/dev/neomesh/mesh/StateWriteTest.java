package dev.neomesh.mesh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tensorflow.Tensor;

/**
 * State writes (a key/value cache's): a block written at a run-time offset lands where it should on
 * every layout, including a split length where the block crosses devices or misses some, persists to
 * the next run, is cut at the end of the dim, and reads back through the output in the same run.
 */
class StateWriteTest {
  static final Dim BATCH = new Dim("batch", 2);
  static final Dim LENGTH = new Dim("memory_length", 8);
  static final Dim KV = new Dim("kv", 2);
  static final Dim BLOCK = new Dim("block", 3);

  @ParameterizedTest(name = "{0} {1} ring={2}")
  @CsvSource(delimiter = ';', value = {"x:1;'';false", "x:2;memory_length:x;false", "x:4;memory_length:x;false",
      "x:2;batch:x;false", "x:2,y:2;batch:x,memory_length:y;false", "x:2,y:2;kv:x,memory_length:y;false",
      "x:1;'';true", "x:4;memory_length:x;true", "x:2,y:2;batch:x,memory_length:y;true"})
  void blocksLandAtTheirOffsetOnEveryLayout(String mesh, String layout, boolean ring) {
    MeshGraph g = new MeshGraph(1);
    MeshOps m = new MeshOps(g);
    MeshTensor cache = m.variable("cache", m.zeros(Shape.of(BATCH, LENGTH, KV), DType.FLOAT32), false);
    MeshTensor block = m.importTensor("block", Shape.of(BATCH, BLOCK, KV), DType.FLOAT32);
    MeshTensor offset = m.importTensor("offset", Shape.SCALAR, DType.INT32);
    MeshTensor after = ring ? m.writeStateRing(cache, block, LENGTH.name(), offset)
        : m.writeStateBlock(cache, block, LENGTH.name(), offset);
    MeshTensor sum = m.reduceSum(after, Shape.SCALAR); // a consumer in the same run sees the write
    double[] expected = new double[BATCH.size() * LENGTH.size() * KV.size()];
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse(mesh), LayoutRules.parse(layout))) {
      rt.initialize();
      int run = 0;
      // 6: runs past the end, cut to two entries (a ring wraps the third to 0); 13: a ring's 5
      for (int at : ring ? new int[] {2, 6, 13, 0} : new int[] {2, 6, 0, 3}) {
        run++;
        double[] values = new double[BATCH.size() * BLOCK.size() * KV.size()];
        for (int i = 0; i < values.length; i++) {
          values[i] = run * 100 + i;
        }
        for (int b = 0; b < BATCH.size(); b++) {
          for (int j = 0; j < BLOCK.size() && (ring || at + j < LENGTH.size()); j++) {
            int slot = (at + j) % LENGTH.size();
            for (int k = 0; k < KV.size(); k++) {
              expected[(b * LENGTH.size() + slot) * KV.size() + k] = values[(b * BLOCK.size() + j) * KV.size() + k];
            }
          }
        }
        try (Tensor x = HostTensors.of(block.shape(), DType.FLOAT32, values);
            Tensor o = HostTensors.ofInts(Shape.SCALAR, new int[] {at})) {
          List<double[]> out = rt.step().feed(block, x).feed(offset, o).fetch(after).fetch(sum).run();
          assertArrayEquals(expected, out.get(0), "after writing at " + at);
          assertEquals(java.util.Arrays.stream(expected).sum(), out.get(1)[0], 1e-9);
        }
      }
    }
  }

  @Test
  void aWholeWriteReplacesTheStateAndEveryRunStartsFromTheLast() {
    MeshGraph g = new MeshGraph(1);
    MeshOps m = new MeshOps(g);
    Shape shape = Shape.of(BATCH, KV);
    MeshTensor total = m.variable("total", m.zeros(shape, DType.FLOAT32), false);
    MeshTensor add = m.importTensor("add", shape, DType.FLOAT32);
    MeshTensor after = m.writeState(total, m.add(total, add));
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse("x:2"), LayoutRules.parse("batch:x"))) {
      rt.initialize();
      double[] out = null;
      for (int run = 0; run < 3; run++) {
        try (Tensor x = HostTensors.of(shape, DType.FLOAT32, new double[] {1, 2, 3, 4})) {
          out = rt.step().feed(add, x).fetch(after).run().get(0);
        }
      }
      assertArrayEquals(new double[] {3, 6, 9, 12}, out);
    }
  }

  @Test
  void trainableVariablesAndMisshapenBlocksAreRefused() {
    MeshOps m = new MeshOps(new MeshGraph(1));
    MeshTensor weights = m.variable("w", m.zeros(Shape.of(BATCH, LENGTH), DType.FLOAT32));
    MeshTensor state = m.variable("s", m.zeros(Shape.of(BATCH, LENGTH), DType.FLOAT32), false);
    MeshTensor offset = m.importTensor("offset", Shape.SCALAR, DType.INT32);
    assertThrows(IllegalArgumentException.class, () -> m.writeState(weights, m.zeros(weights.shape(), DType.FLOAT32)));
    assertThrows(IllegalArgumentException.class,
        () -> m.writeStateBlock(state, m.zeros(Shape.of(new Dim("batch", 3), BLOCK), DType.FLOAT32), LENGTH.name(), offset));
    assertThrows(IllegalArgumentException.class,
        () -> m.writeStateBlock(state, m.zeros(Shape.of(BATCH, LENGTH), DType.FLOAT32), LENGTH.name(), offset));
  }
}
