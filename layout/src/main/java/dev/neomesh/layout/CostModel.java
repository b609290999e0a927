package dev.neomesh.layout;

import dev.neomesh.layout.CompiledGraph.Kind;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.ir.VariableOp;
import dev.neomesh.mesh.lower.Collective;
import dev.neomesh.mesh.lower.Counters;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The cost of a layout, computed from the mesh graph alone (no TensorFlow graph is built).
 *
 * <p>Communication is predicted by replaying, op by op in creation order, the decisions each op's
 * {@code lower} makes: an einsum leaves a pending SUM allreduce over the mesh axes of its split
 * summed dims; ADD/SUB of two pending sums over equal axes (and equal shapes) and a SUM reduction
 * keep it pending; any other consumer pays it once; reshape compares split positions per mesh
 * axis (allconcat, alltoall or nothing), top_k gathers a split dim, shift receives from
 * neighbours. So the predicted counters equal {@code MeshRuntime.counters().entries()}.
 *
 * <p>Memory per device: the trainable variables' slices (parameters), one gradient of each, the
 * optimizer: the non-trainable variables already in the graph (a trainer's Adam slots) plus
 * {@code optimizerSlots} more per trainable variable (for a graph without its optimizer yet), and the peak of live activations when the step's ops run in
 * creation order (a tensor lives from its producer until its last consumer). FLOPs: an einsum
 * costs 2 x the product of its union shape's slice sizes; elementwise ops and reductions one per
 * slice element. The time is those divided by the {@link MachineConstants} rates, plus a fixed
 * overhead per op, plus alpha-beta costs for each collective.
 */
public final class CostModel {
  /** How the step is run: optimizer slots per trainable variable, tensors fetched after the step, the machine. */
  public record Options(int optimizerSlots, List<MeshTensor> fetches, MachineConstants machine) {
    public Options {
      fetches = List.copyOf(fetches);
    }

    /** Adam (2 slots), nothing fetched, constants from {@link Calibration#load()}. */
    public static Options adam() {
      return new Options(2, List.of(), Calibration.load());
    }

    public Options withFetches(List<MeshTensor> f) {
      return new Options(optimizerSlots, f, machine);
    }

    public Options withMachine(MachineConstants m) {
      return new Options(optimizerSlots, fetches, m);
    }

    public Options withOptimizerSlots(int slots) {
      return new Options(slots, fetches, machine);
    }
  }

  private static final Collective[] KINDS = Collective.values();

  final CompiledGraph g;
  private final Options options;
  private final int[] fetchIds;
  /** Ops a training step runs (everything except the subgraphs that only initialise variables). */
  private final boolean[] inStep;
  /** Tensors freed after each op in the step's creation-order schedule. */
  private final int[][] freeAt;
  private final boolean[] isActivation;
  private final boolean[] isVariable;
  private final boolean[] isTrainable;
  /** TensorFlow ops the step's mesh ops lower to on each device (an einsum: a reshape per input, the product, a reshape). */
  private final double inStepOps;
  /** Per interned shape: einsum work (2 x elements, summed over the step's einsums with that union) and elementwise work. */
  final double[] einsumWork;
  final double[] elementWork;

  public CostModel(MeshGraph graph, Options options) {
    this.g = new CompiledGraph(graph);
    this.options = options;
    this.fetchIds = options.fetches().stream().mapToInt(g::id).toArray();
    int n = g.ops.size();
    int nt = g.tensors.size();
    inStep = new boolean[n];
    // An op only initialises variables when everything it feeds is a variable or such an op; a step skips it.
    List<List<Integer>> consumers = new ArrayList<>();
    for (int t = 0; t < nt; t++) {
      consumers.add(new ArrayList<>());
    }
    for (int i = 0; i < n; i++) {
      for (int t : g.in[i]) {
        consumers.get(t).add(i);
      }
    }
    boolean[] fetched = new boolean[nt];
    for (int t : fetchIds) {
      fetched[t] = true;
    }
    boolean[] initOnly = new boolean[n];
    for (int i = n - 1; i >= 0; i--) {
      boolean only = g.kind[i] != Kind.VARIABLE && g.kind[i] != Kind.ASSIGN && g.out[i].length > 0;
      for (int t : g.out[i]) {
        only &= !fetched[t] && !consumers.get(t).isEmpty();
        for (int c : consumers.get(t)) {
          only &= g.kind[c] == Kind.VARIABLE || initOnly[c];
        }
      }
      initOnly[i] = only;
      inStep[i] = !only;
    }
    isActivation = new boolean[nt];
    isVariable = new boolean[nt];
    isTrainable = new boolean[nt];
    int[] last = new int[nt];
    Arrays.fill(last, -1);
    double count = 0;
    for (int i = 0; i < n; i++) {
      if (!inStep[i]) {
        continue;
      }
      count += g.kind[i] == Kind.EINSUM ? g.in[i].length + 2 : 1;
      for (int t : g.out[i]) {
        if (g.kind[i] == Kind.VARIABLE) {
          isVariable[t] = true;
          isTrainable[t] = ((VariableOp) g.ops.get(i)).trainable();
        } else {
          isActivation[t] = true;
          last[t] = i;
        }
      }
      for (int t : g.in[i]) {
        if (isActivation[t]) {
          last[t] = Math.max(last[t], i);
        }
      }
    }
    inStepOps = count;
    List<List<Integer>> frees = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      frees.add(new ArrayList<>());
    }
    for (int t = 0; t < nt; t++) {
      if (isActivation[t]) {
        frees.get(last[t]).add(t);
      }
    }
    freeAt = frees.stream().map(l -> l.stream().mapToInt(Integer::intValue).toArray()).toArray(int[][]::new);
    einsumWork = new double[g.shapes.size()];
    elementWork = new double[g.shapes.size()];
    for (int i = 0; i < n; i++) {
      if (!inStep[i]) {
        continue;
      }
      switch (g.kind[i]) {
        case EINSUM -> einsumWork[g.aux2[i]] += 2.0 * g.shapes.get(g.aux2[i]).size();
        case ELEMENTWISE, ADD_SUB -> elementWork[g.tensorShape[g.out[i][0]]] += g.shapes.get(g.tensorShape[g.out[i][0]]).size();
        // the fused kernel reads w, m, v and g and writes w, m and v: about eight passes of w's slice
        case ADAM_UPDATE -> elementWork[g.tensorShape[g.in[i][0]]] += 8.0 * g.shapes.get(g.tensorShape[g.in[i][0]]).size();
        // max, subtract, exp, sum and divide in one kernel
        case SOFTMAX -> elementWork[g.tensorShape[g.out[i][0]]] += 5.0 * g.shapes.get(g.tensorShape[g.out[i][0]]).size();
        case REDUCE_SUM, REDUCE_OTHER -> elementWork[g.tensorShape[g.in[i][0]]] += g.shapes.get(g.tensorShape[g.in[i][0]]).size();
        default -> { }
      }
    }
  }

  public CostModel(MeshGraph graph) {
    this(graph, Options.adam());
  }

  public Options options() {
    return options;
  }

  public MeshGraph graph() {
    return g.graph;
  }

  /**
   * The cost of {@code rules} on {@code mesh}. Throws a {@link dev.neomesh.mesh.LayoutException}
   * listing every violation when the layout cannot lower the graph.
   */
  public Cost estimate(MeshShape mesh, LayoutRules rules) {
    LayoutValidator.check(g.graph, mesh, rules);
    return evaluate(mesh, rules, axisAssignment(mesh, rules));
  }

  int[] axisAssignment(MeshShape mesh, LayoutRules rules) {
    int[] axisOf = new int[g.dimNames.size()];
    for (int d = 0; d < axisOf.length; d++) {
      Optional<String> a = rules.axisFor(g.dimNames.get(d));
      axisOf[d] = a.isEmpty() ? -1 : mesh.axisIndex(a.get());
    }
    return axisOf;
  }

  /** Slice elements of every interned shape under an assignment. */
  long[] sliceElements(int[] axisOf, int[] axisSize) {
    long[] e = new long[g.shapes.size()];
    for (int s = 0; s < e.length; s++) {
      int[] ds = g.shapeDims.get(s);
      long[] sz = g.shapeSizes.get(s);
      long n = 1;
      for (int k = 0; k < ds.length; k++) {
        int a = axisOf[ds[k]];
        n *= a >= 0 ? sz[k] / axisSize[a] : sz[k];
      }
      e[s] = n;
    }
    return e;
  }

  /** Einsum FLOPs and elementwise elements of one device (before the stretch). */
  private double[] computeWork(long[] sliceElems) {
    double flops = 0;
    double elems = 0;
    for (int s = 0; s < sliceElems.length; s++) {
      double frac = (double) sliceElems[s] / g.shapes.get(s).size();
      flops += einsumWork[s] * frac;
      elems += elementWork[s] * frac;
    }
    return new double[] {flops, elems};
  }

  double overheadSeconds() {
    return inStepOps * options.machine().opOverheadSeconds();
  }

  /** Replays the lowering for a valid assignment (dim id to mesh axis or -1). */
  Cost evaluate(MeshShape mesh, LayoutRules rules, int[] axisOf) {
    return new Replay(mesh, axisOf).run(rules);
  }

  /** One replay of the lowering's decisions. */
  private final class Replay {
    final MeshShape mesh;
    final int[] axisOf;
    final int[] axisSize;
    final int active;
    final long[] sliceElems;
    final int[] pending;
    final long[][] count;
    final long[][] bytes;
    final MachineConstants m = options.machine();
    /** The collectives' work (see {@link #collectiveWork}): ops, transfers, bytes, elements. */
    double commOps;
    double commTransfers;
    double commBytes;
    double commElements;
    boolean stepOp;

    Replay(MeshShape mesh, int[] axisOf) {
      this.mesh = mesh;
      this.axisOf = axisOf;
      axisSize = new int[mesh.rank()];
      int act = 0;
      for (int a = 0; a < axisSize.length; a++) {
        axisSize[a] = mesh.axisSize(a);
        if (axisSize[a] > 1) {
          act |= 1 << a;
        }
      }
      active = act;
      sliceElems = sliceElements(axisOf, axisSize);
      pending = new int[g.tensors.size()];
      count = new long[KINDS.length][1 << mesh.rank()];
      bytes = new long[KINDS.length][1 << mesh.rank()];
    }

    long sliceBytes(int t) {
      return sliceElems[g.tensorShape[t]] * g.tensorBytes[t];
    }

    int groupSize(int mask) {
      int n = 1;
      for (int a = 0; a < axisSize.length; a++) {
        if ((mask & (1 << a)) != 0) {
          n *= axisSize[a];
        }
      }
      return n;
    }

    void record(Collective kind, int mask, long b, long elements) {
      count[kind.ordinal()][mask]++;
      bytes[kind.ordinal()][mask] += b;
      if (!stepOp) {
        return;
      }
      CollectiveWork w = collectiveWork(m, kind, groupSize(mask), b, elements);
      commOps += w.ops();
      commTransfers += w.transfers();
      commBytes += w.bytes();
      commElements += w.elements();
    }

    void get(int t) {
      if (pending[t] != 0) {
        record(Collective.ALLREDUCE, pending[t], sliceBytes(t), sliceElems[g.tensorShape[t]]);
        pending[t] = 0;
      }
    }

    int axesOf(int[] dims) {
      int mask = 0;
      for (int d : dims) {
        if (axisOf[d] >= 0) {
          mask |= 1 << axisOf[d];
        }
      }
      return mask;
    }

    Cost run(LayoutRules rules) {
      for (int i = 0; i < g.ops.size(); i++) {
        stepOp = inStep[i];
        int[] in = g.in[i];
        switch (g.kind[i]) {
          case EINSUM -> {
            for (int x : in) {
              get(x);
            }
            pending[g.out[i][0]] = axesOf(g.aux[i]) & active;
          }
          case REDUCE_SUM -> {
            int x = in[0];
            int lazy = pending[x];
            if (lazy == 0) {
              get(x);
            }
            pending[g.out[i][0]] = (axesOf(g.aux[i]) | lazy) & active;
          }
          case REDUCE_OTHER -> {
            get(in[0]);
            int mask = axesOf(g.aux[i]) & active;
            if (mask != 0) {
              record(Collective.ALLREDUCE, mask, sliceBytes(g.out[i][0]), sliceElems[g.tensorShape[g.out[i][0]]]);
            }
          }
          case ADD_SUB -> {
            int a = in[0];
            int b = in[1];
            if (pending[a] != 0 && pending[a] == pending[b] && g.aux2[i] == 1) {
              pending[g.out[i][0]] = pending[a];
            } else {
              get(a);
              get(b);
            }
          }
          case RESHAPE -> {
            get(in[0]);
            reshape(in[0], g.out[i][0]);
          }
          case SOFTMAX -> {
            int x = in[0];
            get(x);
            int pos = g.aux[i][0];
            int a = axisOf[g.shapeDims.get(g.tensorShape[x])[pos]];
            if (a >= 0 && axisSize[a] > 1) { // SoftmaxOp.lower: a MAX then a SUM allreduce of the reduced slice
              long size = g.shapeSizes.get(g.tensorShape[x])[pos] / axisSize[a];
              long e = sliceElems[g.tensorShape[x]] / size;
              record(Collective.ALLREDUCE, 1 << a, sliceBytes(x) / size, e);
              record(Collective.ALLREDUCE, 1 << a, sliceBytes(x) / size, e);
            }
          }
          case TOP_K -> {
            int x = in[0];
            get(x);
            int a = axisOf[g.shapeDims.get(g.tensorShape[x])[g.aux[i][0]]];
            if (a >= 0 && axisSize[a] > 1) {
              record(Collective.ALLCONCAT, 1 << a, sliceBytes(x), sliceElems[g.tensorShape[x]]);
            }
          }
          case SHIFT -> shift(i);
          default -> {
            for (int x : in) {
              get(x);
            }
          }
        }
      }
      stepOp = true;
      for (int t : fetchIds) {
        get(t);
      }
      return result(rules);
    }

    void shift(int i) {
      int x = g.in[i][0];
      int pos = g.aux[i][0];
      int offset = g.aux[i][1];
      boolean wrap = g.aux[i][2] == 1;
      int a = axisOf[g.shapeDims.get(g.tensorShape[x])[pos]];
      if (a < 0) {
        get(x);
        return;
      }
      int block = (int) (g.shapeSizes.get(g.tensorShape[x])[pos] / axisSize[a]);
      int q = Math.floorDiv(offset, block);
      int r = Math.floorMod(offset, block);
      long b = sliceBytes(x);
      long e = sliceElems[g.tensorShape[x]];
      get(x);
      shiftBy(a, q, wrap, b, e);
      if (r != 0) {
        shiftBy(a, q + 1, wrap, b, e);
      }
    }

    void shiftBy(int a, int offset, boolean wrap, long b, long e) {
      int n = axisSize[a];
      if (offset % n == 0 && wrap || offset == 0 || !wrap && Math.abs(offset) >= n) {
        return;
      }
      record(Collective.SHIFT, 1 << a, b, e);
    }

    /** ReshapeOp.lower's per-axis decisions, on arrays. */
    void reshape(int x, int y) {
      int[] oldDims = g.shapeDims.get(g.tensorShape[x]);
      long[] oldSizes = g.shapeSizes.get(g.tensorShape[x]);
      int[] newDims = g.shapeDims.get(g.tensorShape[y]);
      long[] newSizes = g.shapeSizes.get(g.tensorShape[y]);
      int[] axisOfOld = new int[oldDims.length];
      for (int k = 0; k < oldDims.length; k++) {
        axisOfOld[k] = axisOf[oldDims[k]];
      }
      for (int a = 0; a < axisSize.length; a++) {
        int od = indexOf(axisOfOld, a);
        int nd = -1;
        for (int k = 0; k < newDims.length; k++) {
          if (axisOf[newDims[k]] == a) {
            nd = k;
          }
        }
        if (od < 0 && nd < 0 || axisSize[a] == 1) {
          continue;
        }
        if (od >= 0 && nd >= 0 && before(oldSizes, od) == before(newSizes, nd)) {
          continue;
        }
        if (od >= 0) {
          long n = g.tensorBytes[x];
          for (int k = 0; k < oldSizes.length; k++) {
            n *= oldSizes[k] / (axisOfOld[k] >= 0 ? axisSize[axisOfOld[k]] : 1);
          }
          int j = -1;
          if (nd >= 0) {
            for (int k = 0; k < oldDims.length && j < 0; k++) {
              if (axisOfOld[k] < 0 && oldSizes[k] == newSizes[nd] && before(oldSizes, k) == before(newSizes, nd)) {
                j = k;
              }
            }
          }
          if (j >= 0) {
            record(Collective.ALLTOALL, 1 << a, n, n / g.tensorBytes[x]);
            axisOfOld[j] = a;
          } else {
            record(Collective.ALLCONCAT, 1 << a, n, n / g.tensorBytes[x]);
          }
          axisOfOld[od] = -1;
        }
      }
    }

    Cost result(LayoutRules rules) {
      Map<String, Counters.Entry> comm = new TreeMap<>();
      for (Collective k : KINDS) {
        for (int mask = 1; mask < count[k.ordinal()].length; mask++) {
          if (count[k.ordinal()][mask] > 0) {
            List<String> names = new ArrayList<>();
            for (int a = 0; a < axisSize.length; a++) {
              if ((mask & (1 << a)) != 0) {
                names.add(mesh.axes().get(a).name());
              }
            }
            comm.put(Counters.key(k, names), new Counters.Entry(count[k.ordinal()][mask], bytes[k.ordinal()][mask]));
          }
        }
      }
      long trainable = 0;
      long state = 0;
      long live = 0;
      long peak = 0;
      for (int i = 0; i < g.ops.size(); i++) {
        if (!inStep[i]) {
          continue;
        }
        for (int t : g.out[i]) {
          if (isVariable[t]) {
            if (isTrainable[t]) {
              trainable += sliceBytes(t);
            } else {
              state += sliceBytes(t);
            }
          } else if (isActivation[t]) {
            live += sliceBytes(t);
          }
        }
        peak = Math.max(peak, live);
        for (int t : freeAt[i]) {
          live -= sliceBytes(t);
        }
      }
      double stretch = m.stretch(mesh.size());
      double[] fe = computeWork(sliceElems);
      long flops = Math.round(fe[0] + fe[1]);
      Cost.Work work = new Cost.Work(fe[0] * stretch, (fe[1] + commElements) * stretch,
          (inStepOps + commOps) * stretch, commTransfers * stretch, commBytes * stretch);
      double compute = (fe[0] / m.matmulFlopsPerSecond() + fe[1] / m.elementwisePerSecond()) * stretch;
      double overhead = overheadSeconds() * stretch;
      Cost.Time time = new Cost.Time(compute, overhead, m.seconds(work) - compute - overhead);
      Cost.Memory memory = new Cost.Memory(trainable, trainable,
          state + (long) options.optimizerSlots() * trainable, peak);
      return new Cost(mesh, rules, memory, comm, flops, time, work);
    }
  }

  /** Below this many elements per slice, or when not divisible by the group, {@code PlacementMeshImpl} uses a chain allreduce. */
  static final long RING_MIN_ELEMENTS = 1024;

  /**
   * What one collective costs each device of a group of {@code n}, on average over the group, as
   * {@code PlacementMeshImpl} lowers it for a slice of {@code elements} elements ({@code bytes}
   * bytes): TensorFlow ops, cross-device transfers (Send/Recv pairs), bytes transferred and
   * elements added or copied. Counted from the algorithms, per group:
   * <ul>
   *   <li>chain allreduce: n-1 combines and n-1 identities, each receiving from another device
   *       (2(n-1) ops and transfers, 2(n-1) S bytes, (n-1) S elements added);
   *   <li>ring allreduce: per member a reshape, a split, a concat and a reshape, per chunk n-1
   *       combines and n-1 identities (4n + 2n(n-1) ops, 2n(n-1) transfers of S/n, (n-1) S added and
   *       n S copied by the concats);
   *   <li>allconcat: n concats of n parts, n(n-1) of them received (n^2 S copied);
   *   <li>alltoall: n splits and n concats, n(n-1) pieces of S/n received (2 n S copied);
   *   <li>shift: one identity per member, received from its neighbour.
   * </ul>
   */
  public record CollectiveWork(double ops, double transfers, double bytes, double elements) {
    public static CollectiveWork of(Collective kind, int n, long bytes, long elements) {
      double s = bytes;
      double e = elements;
      return switch (kind) {
        case ALLREDUCE -> elements >= RING_MIN_ELEMENTS && elements % n == 0
            ? new CollectiveWork(2.0 * (n + 1), 2.0 * (n - 1), 2.0 * (n - 1) / n * s, (n - 1.0) / n * e + e)
            : new CollectiveWork(2.0 * (n - 1) / n, 2.0 * (n - 1) / n, 2.0 * (n - 1) / n * s, (n - 1.0) / n * e);
        case ALLCONCAT -> new CollectiveWork(1, n - 1, (n - 1) * s, n * e);
        case ALLTOALL -> new CollectiveWork(2, n - 1, (n - 1.0) / n * s, 2 * e);
        case SHIFT -> new CollectiveWork(1, 1, s, 0);
      };
    }
  }

  /**
   * Seconds one collective adds per device (before {@link MachineConstants#stretch}): its
   * {@link #collectiveWork} at the machine's rates.
   */
  static double collectiveSeconds(MachineConstants m, Collective kind, int n, long bytes, long elements) {
    CollectiveWork w = collectiveWork(m, kind, n, bytes, elements);
    return m.seconds(new Cost.Work(0, w.elements(), w.ops(), w.transfers(), w.bytes()));
  }

  /**
   * What one collective asks of each device: on shared workers the whole lowered algorithm
   * ({@link CollectiveWork#of}), on devices of their own only the critical path (alpha-beta:
   * allreduce 2(n-1) transfers, allconcat and alltoall n-1, a shift one, and the bytes along it).
   */
  static CollectiveWork collectiveWork(MachineConstants m, Collective kind, int n, long bytes, long elements) {
    if (n <= 1) {
      return new CollectiveWork(0, 0, 0, 0);
    }
    if (!m.shared()) {
      return switch (kind) {
        case ALLREDUCE -> new CollectiveWork(0, 2 * (n - 1), 2.0 * (n - 1) / n * bytes, 0);
        case ALLCONCAT -> new CollectiveWork(0, n - 1, (n - 1.0) * bytes, 0);
        case ALLTOALL -> new CollectiveWork(0, n - 1, (n - 1.0) / n * bytes, 0);
        case SHIFT -> new CollectiveWork(0, 1, bytes, 0);
      };
    }
    return CollectiveWork.of(kind, n, bytes, elements);
  }

  private static int indexOf(int[] xs, int v) {
    for (int i = 0; i < xs.length; i++) {
      if (xs[i] == v) {
        return i;
      }
    }
    return -1;
  }

  private static long before(long[] sizes, int i) {
    long n = 1;
    for (int k = 0; k < i; k++) {
      n *= sizes[k];
    }
    return n;
  }
}
