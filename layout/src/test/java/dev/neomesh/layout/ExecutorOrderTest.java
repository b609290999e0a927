package dev.neomesh.layout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The order the cost model counts live tensors in: TensorFlow's executor's ({@link ExecutorOrder}),
 * not the creation order, and an {@code after}'s triggers awaited without being read.
 */
class ExecutorOrderTest {
  static final Dim N = new Dim("n", 256);

  static int[] order(MeshGraph g) {
    CompiledGraph c = new CompiledGraph(g);
    boolean[] all = new boolean[c.ops.size()];
    Arrays.fill(all, true);
    return ExecutorOrder.of(c, all);
  }

  @Test
  void theLastCreatedExpensiveConsumerRunsFirstAfterTheInexpensiveOnes() {
    MeshGraph g = new MeshGraph(1);
    MeshOps m = new MeshOps(g);
    MeshTensor x = m.importTensor("x", Shape.of(N), DType.FLOAT32); // op 0
    MeshTensor a = m.exp(x); // 1
    m.square(a); // 2: made ready with 3 and 4, handed to the pool first, so it runs last
    m.reshape(a, Shape.of(new Dim("m", 256))); // 3: inexpensive, runs inline at once
    m.tanh(a); // 4: the last expensive one; an inline op is queued, so it goes to the pool's front
    assertArrayEquals(new int[] {0, 1, 3, 4, 2}, order(g));
  }

  @Test
  void aDepthFirstWalkFinishesOneChainBeforeItsSibling() {
    MeshGraph g = new MeshGraph(1);
    MeshOps m = new MeshOps(g);
    MeshTensor x = m.importTensor("x", Shape.of(N), DType.FLOAT32); // 0
    MeshTensor b = m.exp(x); // 1: waits in the pool
    MeshTensor c = m.tanh(x); // 2: runs inline, then its own consumers
    m.square(b); // 3
    m.square(c); // 4
    assertArrayEquals(new int[] {0, 2, 4, 1, 3}, order(g));
  }

  /**
   * The trigger {@code a} is made first (the walk takes the last-created consumer of {@code x}) and
   * awaited by an {@code after} that also waits for the chain of {@code b1}: as a control
   * dependency it keeps no buffer, so the peak is two tensors, {@code x} and one of the chain's
   * (each of its elementwise ops writes into its input), not three.
   */
  @Test
  void anAftersTriggersKeepNoBufferAlive() {
    MeshGraph g = new MeshGraph(1);
    MeshOps m = new MeshOps(g);
    MeshTensor x = m.importTensor("x", Shape.of(N), DType.FLOAT32);
    MeshTensor b1 = m.tanh(x);
    MeshTensor a = m.exp(x);
    MeshTensor b3 = m.exp(m.square(b1));
    MeshTensor gate = m.after(x, List.of(a, b3));
    int[] ord = order(g);
    assertEquals(2, ord[1], "a runs right after x: " + Arrays.toString(ord));
    CostModel model = new CostModel(g, CostModel.Options.adam(MachineConstants.DEFAULTS).withOptimizerSlots(0)
        .withFetches(List.of(gate)));
    long tensor = 256 * 4;
    assertEquals(2 * tensor, model.estimate(MeshShape.parse("x:1"), LayoutRules.parse("")).memory().stepPeak());
  }
}
