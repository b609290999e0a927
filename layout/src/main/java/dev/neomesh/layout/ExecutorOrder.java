package dev.neomesh.layout;

import dev.neomesh.mesh.ir.AfterOp;
import dev.neomesh.mesh.ir.ConstantOp;
import dev.neomesh.mesh.ir.ImportOp;
import dev.neomesh.mesh.ir.Op;
import dev.neomesh.mesh.ir.ReshapeOp;
import dev.neomesh.mesh.ir.StopGradientOp;
import dev.neomesh.mesh.ir.VariableOp;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * The order in which TensorFlow's executor runs one device's ops, simulated on the mesh graph: the
 * order a step's live tensors are counted in ({@link CostModel}).
 *
 * <p>TensorFlow does not run a graph in its creation order. Its executor ({@code executor.cc},
 * {@code ExecutorState::ScheduleReady}) takes the ops an op's outputs made ready, in the order of
 * its out-edges (the consumers' creation order): inexpensive kernels (identities, reshapes,
 * constants, variable handles) join the running thread's queue of inline ops; of the expensive
 * ones, the last runs inline next when no inexpensive op is queued, and every other one is handed
 * to the inter-op thread pool. A task handed over from a pool thread goes to the front of that
 * thread's queue (Eigen's {@code NonBlockingThreadPool}), so the pool runs the most recent first; the
 * step's first ready ops, handed over by the caller's thread, go to the back. An op's cost
 * estimate starts at 10^8 cycles and falls by a tenth per run toward its measured cost, so every
 * compute kernel counts as expensive for the first 90 or so steps, and keeps counting on this
 * machine's tensors (beyond 8000 cycles). The result is a depth-first walk that follows the
 * latest-created consumer first: a weight gradient's matmul, created before the elementwise ops
 * of the activation's gradient, waits behind them, and its input stays live meanwhile.
 *
 * <p>One device is simulated, each op done when it runs: a collective waits for no peer. That a
 * device runs ahead of its peers, and holds what it sends until they read it, is
 * {@link CostModel}'s rule for reduce-scatters.
 */
final class ExecutorOrder {
  private ExecutorOrder() {}

  /**
   * Whether TensorFlow's kernels for {@code op} mark themselves inexpensive ({@code OpKernel::IsExpensive}).
   * The order is the graph's, not a layout's: a reshape that communicates on some layout (ZeRO's
   * reduce-scatter of a gradient into its view) lowers to splits and adds, which are expensive, and is
   * still taken as a reshape here.
   */
  static boolean inexpensive(Op op) {
    return op instanceof AfterOp || op instanceof ReshapeOp || op instanceof ConstantOp || op instanceof VariableOp
        || op instanceof StopGradientOp || op instanceof ImportOp;
  }

  /** The in-step ops of {@code g} in the order the executor runs them. */
  static int[] of(CompiledGraph g, boolean[] inStep) {
    int n = g.ops.size();
    // the executor's edges: one per input read, from an op that runs in the step
    int[] pending = new int[n];
    List<List<Integer>> consumers = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      consumers.add(new ArrayList<>());
    }
    for (int i = 0; i < n; i++) {
      if (!inStep[i]) {
        continue;
      }
      for (int t : g.in[i]) {
        int p = g.producer[t];
        if (inStep[p]) {
          consumers.get(p).add(i);
          pending[i]++;
        }
      }
    }
    Deque<Integer> pool = new ArrayDeque<>();
    for (int i = 0; i < n; i++) {
      if (inStep[i] && pending[i] == 0) {
        pool.addLast(i); // the step's roots, handed over by the caller's thread
      }
    }
    boolean[] expensive = new boolean[n];
    for (int i = 0; i < n; i++) {
      expensive[i] = !inexpensive(g.ops.get(i));
    }
    int[] order = new int[n];
    int k = 0;
    Deque<Integer> inline = new ArrayDeque<>();
    while (!pool.isEmpty()) {
      inline.addLast(pool.pollFirst());
      while (!inline.isEmpty()) {
        int op = inline.pollFirst();
        order[k++] = op;
        int next = -1;
        for (int c : consumers.get(op)) {
          if (--pending[c] != 0) {
            continue;
          }
          if (!expensive[c]) {
            inline.addLast(c);
          } else {
            if (next >= 0) {
              pool.addFirst(next);
            }
            next = c;
          }
        }
        if (next >= 0) {
          if (inline.isEmpty()) {
            inline.addLast(next);
          } else {
            pool.addFirst(next);
          }
        }
      }
    }
    return java.util.Arrays.copyOf(order, k);
  }
}
