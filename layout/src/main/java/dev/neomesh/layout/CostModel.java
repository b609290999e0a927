package dev.neomesh.layout;

import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.comm.Collective;
import dev.neomesh.mesh.comm.Comm;
import dev.neomesh.mesh.comm.CommPlan;
import dev.neomesh.mesh.comm.PlanContext;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.ir.OneHotContraction;
import dev.neomesh.mesh.ir.OneHotOp;
import dev.neomesh.mesh.ir.Op;
import dev.neomesh.mesh.ir.VariableOp;
import dev.neomesh.mesh.lower.Counters;
import dev.neomesh.mesh.lower.PlacementMeshImpl;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * The cost of a layout, computed from the mesh graph alone (no TensorFlow graph is built).
 *
 * <p>Communication is what the ops themselves plan: walking the ops in creation order (the
 * lowering's order), each op's {@code plan} is asked for on this layout, with the pending sums the
 * plans so far have left ({@link Pricing} is the {@link PlanContext} the lowering's state is
 * otherwise), and its collectives are counted and priced. The model writes no lowering rule of its
 * own, so the predicted counters equal {@code MeshRuntime.counters().entries()}.
 *
 * <p>Memory per device: the trainable variables' slices (parameters); the optimizer: the
 * non-trainable variables already in the graph (a trainer's Adam slots, and the float32 masters of
 * bfloat16 parameters) plus {@code optimizerSlots} float32 slots more per trainable variable (for a
 * graph without its optimizer yet; then also a float32 master of each bfloat16 one); and the peak of the step's
 * live tensors when its ops run in the order TensorFlow's executor runs them ({@link ExecutorOrder}:
 * not the creation order, which held one MLP intermediate less than TensorFlow inside a recomputed
 * block's backward). A tensor lives from its producer until its last reader; an
 * {@link dev.neomesh.mesh.ir.AfterOp}'s output is its input's buffer and its triggers are control
 * dependencies, which keep no buffer alive; an elementwise op writes into an input of its shape that
 * nothing reads later, as TensorFlow's kernels do. The peak is split into the forward's tensors
 * (activations kept for the backward) and the backward's (gradients and their temporaries, made
 * after the first fetch, the loss). A reduce-scatter's inputs (ZeRO's gradient parts, which the
 * executor reduces as soon as they exist, inside the backward) live until the step's last
 * reduce-scatter: TensorFlow's sends do not wait for their receivers, so a device that runs ahead of
 * the others keeps its parts until the others catch up, on virtual devices and on worker processes
 * alike (docs/PLANNER.md, "Accuracy"). Otherwise recompute and ZeRO need no rule here: their ops,
 * and the sizes of their tensors, are in the graph. FLOPs: an einsum costs 2 x the product of its
 * union shape's slice sizes; elementwise ops and reductions one per
 * slice element. The time is those divided by the {@link MachineConstants} rates, plus a fixed
 * overhead per op, plus alpha-beta costs for each collective.
 */
public final class CostModel {
  /**
   * How the step is run: optimizer slots per trainable variable, tensors fetched after the step,
   * the machine, and the devices per task when the mesh spans the tasks of a cluster (the mesh's
   * devices are task-major: pnums {@code [t*k, (t+1)*k)} are task t's; 0, or at least the mesh's
   * size, means one process). It is not a machine constant: the same machine runs one process or
   * several.
   */
  public record Options(int optimizerSlots, List<MeshTensor> fetches, MachineConstants machine, int devicesPerTask) {
    public Options {
      fetches = List.copyOf(fetches);
      if (devicesPerTask < 0) {
        throw new IllegalArgumentException("devicesPerTask must be 0 (one process) or positive: " + devicesPerTask);
      }
    }

    /** One process. */
    public Options(int optimizerSlots, List<MeshTensor> fetches, MachineConstants machine) {
      this(optimizerSlots, fetches, machine, 0);
    }

    /** Adam (2 slots), nothing fetched, on {@code machine} (the CLI reads it from the calibration file), one process. */
    public static Options adam(MachineConstants machine) {
      return new Options(2, List.of(), machine);
    }

    public Options withFetches(List<MeshTensor> f) {
      return new Options(optimizerSlots, f, machine, devicesPerTask);
    }

    public Options withMachine(MachineConstants m) {
      return new Options(optimizerSlots, fetches, m, devicesPerTask);
    }

    public Options withOptimizerSlots(int slots) {
      return new Options(slots, fetches, machine, devicesPerTask);
    }

    /** The mesh spans tasks of {@code k} devices each (0: one process). */
    public Options withDevicesPerTask(int k) {
      return new Options(optimizerSlots, fetches, machine, k);
    }
  }

  final CompiledGraph g;
  private final Options options;
  private final int[] fetchIds;
  /**
   * The first op of the backward pass: the one after the first fetch's (the loss) in creation order;
   * the op count when nothing is fetched. Tensors made from it on are gradients and their temporaries.
   */
  private final int backwardFrom;
  /** Ops a training step runs (everything except the subgraphs that only initialise variables). */
  private final boolean[] inStep;
  /** The in-step ops in the order TensorFlow's executor runs them ({@link ExecutorOrder}). */
  private final int[] order;
  /** Tensors freed after the op at each place of {@link #order}. */
  private final int[][] freeAt;
  private final boolean[] isActivation;
  /** Each in-step one-hot's tensor id and its readers (the ops that may lower without building it). */
  private final Map<Integer, List<Op>> oneHotReaders = new HashMap<>();
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
    this.backwardFrom = options.fetches().isEmpty() ? g.ops.size() : g.ops.indexOf(options.fetches().get(0).op()) + 1;
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
      boolean only = !g.isVariable[i] && !g.isAssign[i] && g.out[i].length > 0;
      for (int t : g.out[i]) {
        only &= !fetched[t] && !consumers.get(t).isEmpty();
        for (int c : consumers.get(t)) {
          only &= g.isVariable[c] || initOnly[c];
        }
      }
      initOnly[i] = only;
      inStep[i] = !only;
    }
    if (fetchIds.length > 0) {
      // TensorFlow runs only what the fetches and the state updates (ops without outputs: assigns,
      // fused Adam) need; e.g. the gradient of a multiply with respect to its constant operand is
      // built but never run, and its reads would otherwise keep a stored activation alive
      boolean[] neededTensor = fetched.clone();
      for (int i = n - 1; i >= 0; i--) {
        boolean needed = g.out[i].length == 0;
        for (int t : g.out[i]) {
          needed |= neededTensor[t];
        }
        if (needed) {
          for (int t : g.in[i]) {
            neededTensor[t] = true;
          }
        }
        inStep[i] &= needed || g.isVariable[i]; // a variable is held whoever reads it (Adam's slots: by reference)
      }
    }
    isActivation = new boolean[nt];
    isVariable = new boolean[nt];
    isTrainable = new boolean[nt];
    int[] last = new int[nt];
    Arrays.fill(last, -1);
    // the tensor whose buffer each tensor is: itself, or for an alias (an AfterOp's output) its input's
    int[] buffer = new int[nt];
    for (int t = 0; t < nt; t++) {
      buffer[t] = t;
    }
    order = ExecutorOrder.of(g, inStep);
    double count = 0;
    for (int k = 0; k < order.length; k++) {
      int i = order[k];
      count += g.work[i].tfOps();
      // an AfterOp's triggers are control dependencies: awaited, not read, so they keep no buffer alive
      int reads = g.isAlias[i] ? 1 : g.in[i].length;
      for (int a = 0; a < reads; a++) {
        int t = g.in[i][a];
        int r = root(buffer, t);
        if (isActivation[r]) {
          last[r] = Math.max(last[r], k);
        }
      }
      for (int t : g.out[i]) {
        if (g.isVariable[i]) {
          isVariable[t] = true;
          isTrainable[t] = ((VariableOp) g.ops.get(i)).trainable();
        } else if (g.isAlias[i]) {
          buffer[t] = root(buffer, g.in[i][0]); // no buffer of its own: its reads keep its input's alive
        } else {
          isActivation[t] = true;
          last[t] = k;
        }
      }
    }
    inStepOps = count;
    // an elementwise op whose input of its own shape has no later reader writes into that input's
    // buffer (TensorFlow's forward_input_or_allocate_output): no new tensor, the input's buffer lives on
    for (int k = 0; k < order.length; k++) {
      int i = order[k];
      if (g.forwardable[i].length == 0) {
        continue;
      }
      int o = g.out[i][0];
      for (int f : g.forwardable[i]) {
        int r = root(buffer, g.in[i][f]);
        if (isActivation[r] && last[r] == k && isActivation[o]) {
          isActivation[o] = false;
          buffer[o] = r;
          last[r] = Math.max(k, last[o]);
          break;
        }
      }
    }
    List<List<Integer>> frees = new ArrayList<>();
    for (int k = 0; k < order.length; k++) {
      frees.add(new ArrayList<>());
    }
    for (int t = 0; t < nt; t++) {
      if (isActivation[t]) {
        frees.get(last[t]).add(t);
      }
    }
    freeAt = frees.stream().map(l -> l.stream().mapToInt(Integer::intValue).toArray()).toArray(int[][]::new);
    for (int i = 0; i < n; i++) {
      if (!inStep[i]) {
        continue;
      }
      for (int t : g.in[i]) {
        if (isActivation[t] && g.ops.get(g.producer[t]) instanceof OneHotOp) {
          oneHotReaders.computeIfAbsent(t, k -> new ArrayList<>()).add(g.ops.get(i));
        }
      }
    }
    einsumWork = new double[g.shapes.size()];
    elementWork = new double[g.shapes.size()];
    for (int i = 0; i < n; i++) {
      int s = g.workShape[i];
      if (inStep[i] && s >= 0) {
        double w = g.work[i].perElement() * g.shapes.get(s).size();
        if (g.work[i].matmul()) {
          einsumWork[s] += w;
        } else {
          elementWork[s] += w;
        }
      }
    }
  }

  private static int root(int[] buffer, int t) {
    while (buffer[t] != t) {
      t = buffer[t];
    }
    return t;
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
  public Cost estimate(MeshShape mesh, LayoutRules written) {
    LayoutRules rules = written.withFollowers(g.graph.layoutFollowers(), mesh); // as the lowering applies them
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

  /** Prices a valid assignment (dim id to mesh axis or -1) with the ops' own plans. */
  Cost evaluate(MeshShape mesh, LayoutRules rules, int[] axisOf) {
    return new Pricing(mesh, rules, axisOf).run();
  }

  /**
   * One pricing of a layout: the ops' plans on it, in the lowering's order, with the pending sums
   * they leave; the answer to every op's {@link PlanContext} questions.
   */
  private final class Pricing implements PlanContext {
    final MeshShape mesh;
    final LayoutRules rules;
    final long[] sliceElems;
    /** Per interned shape, its layout (computed when first asked). */
    final TensorLayout[] layouts;
    /** Per tensor, the mesh axes it is still a pending sum over (null: complete). */
    final int[][] pending;
    /** Collectives per kind and mesh-axis mask: how many, and the bytes each device sends. */
    final long[][] count;
    final long[][] bytes;
    final MachineConstants m = options.machine();
    /** The collectives' work (see {@link #collectiveWork}): ops, transfers, bytes, elements. */
    double commOps;
    double commTransfers;
    double commBytes;
    double commElements;
    /** The transfers and bytes of collectives whose groups span tasks, priced at the cross-task rates. */
    double crossTransfers;
    double crossBytes;
    /** Per mesh-axis mask, whether a collective over those axes spans tasks (null: not asked yet). */
    final Boolean[] crossesTasks;
    /** The in-step ops whose plans reduce-scatter (ZeRO's gradients: each in the backward pass, in the executor's order). */
    final boolean[] reduceScatters;

    Pricing(MeshShape mesh, LayoutRules rules, int[] axisOf) {
      this.mesh = mesh;
      this.rules = rules;
      int[] axisSize = new int[mesh.rank()];
      for (int a = 0; a < axisSize.length; a++) {
        axisSize[a] = mesh.axisSize(a);
      }
      sliceElems = CostModel.this.sliceElements(axisOf, axisSize);
      layouts = new TensorLayout[g.shapes.size()];
      pending = new int[g.tensors.size()][];
      count = new long[KINDS.length][1 << mesh.rank()];
      bytes = new long[KINDS.length][1 << mesh.rank()];
      crossesTasks = new Boolean[1 << mesh.rank()];
      reduceScatters = new boolean[g.ops.size()];
    }

    @Override
    public MeshShape mesh() {
      return mesh;
    }

    @Override
    public TensorLayout layout(MeshTensor t) {
      return layoutOfShape(g.tensorShape[g.id(t)], t::name, t.shape());
    }

    @Override
    public TensorLayout layout(Supplier<String> what, Shape shape) {
      int s = g.shapeId(shape);
      return s >= 0 ? layoutOfShape(s, what, shape) : rules.layoutOf(what.get(), shape, mesh);
    }

    private TensorLayout layoutOfShape(int s, Supplier<String> what, Shape shape) {
      TensorLayout l = layouts[s];
      if (l == null) {
        l = rules.layoutOf(what.get(), shape, mesh);
        layouts[s] = l;
      }
      return l;
    }

    @Override
    public int[] pendingSum(MeshTensor t) {
      int[] axes = pending[g.id(t)];
      return axes == null ? NO_AXES : axes;
    }

    @Override
    public long sliceElements(MeshTensor t) {
      return sliceElems[g.tensorShape[g.id(t)]];
    }

    long sliceBytes(int t) {
      return sliceElems[g.tensorShape[t]] * g.tensorBytes[t];
    }

    void count(Comm step, boolean inStepOp) {
      int mask = 0;
      for (int a : step.axes()) {
        mask |= 1 << a;
      }
      count[step.kind().ordinal()][mask]++;
      bytes[step.kind().ordinal()][mask] += step.bytesPerDevice();
      if (inStepOp) {
        PlacementMeshImpl.Work w = collectiveWork(m, step);
        commOps += w.ops();
        commElements += w.elements();
        if (crossesTasks(mask, step.axes())) {
          crossTransfers += w.transfers();
          crossBytes += w.bytes();
        } else {
          commTransfers += w.transfers();
          commBytes += w.bytes();
        }
      }
    }

    /** {@link #spansTasks} for the axes of {@code mask}, asked once per mask. */
    boolean crossesTasks(int mask, int[] axes) {
      Boolean c = crossesTasks[mask];
      if (c == null) {
        c = spansTasks(mesh, axes, options.devicesPerTask());
        crossesTasks[mask] = c;
      }
      return c;
    }

    Cost run() {
      for (int i = 0; i < g.ops.size(); i++) {
        CommPlan plan = g.ops.get(i).plan(this);
        if (plan == CommPlan.NONE) {
          continue;
        }
        for (CommPlan.Resolved r : plan.resolved()) {
          pending[g.id(r.tensor())] = null;
          count(r.allreduce(), inStep[i]);
        }
        for (Comm step : plan.steps()) {
          if (step.communicates()) {
            count(step, inStep[i]);
            reduceScatters[i] |= inStep[i] && step.kind() == Collective.REDUCESCATTER;
          }
        }
        if (plan.pendingSum().length > 0) {
          pending[g.out[i][0]] = plan.pendingSum();
        }
      }
      for (int t : fetchIds) { // a fetched tensor is exported whole, as MeshRuntime.exported does
        MeshTensor x = g.tensors.get(t);
        if (pending[t] != null) {
          count(CommPlan.resolution(this, x, pending[t]), true);
          pending[t] = null;
        }
      }
      return result();
    }

    Cost result() {
      long trainable = 0;
      long state = 0;
      long slotBytes = 0; // a float32 slot of every trainable variable (and a float32 master of a bf16 one)
      long[] live = new long[2]; // forward tensors, backward tensors
      long[] atPeak = new long[2];
      // one-hots that every reader lowers without (a gather, a segment sum: OneHotContraction) take no memory
      java.util.Set<Integer> unbuilt = new java.util.HashSet<>();
      oneHotReaders.forEach((t, readers) -> {
        if (OneHotContraction.neverBuilt(g.tensors.get(t), readers, this::layout)) {
          unbuilt.add(t);
        }
      });
      // a reduce-scatter's inputs (a device's parts of a gradient) are held until the last one (see the class comment)
      List<Integer> held = new ArrayList<>();
      int lastHeld = -1; // the place of the last reduce-scatter in the order
      for (int k = 0; k < order.length; k++) {
        lastHeld = reduceScatters[order[k]] ? k : lastHeld;
      }
      for (int k = 0; k < order.length; k++) {
        int i = order[k];
        for (int t : g.out[i]) {
          if (isVariable[t]) {
            if (isTrainable[t]) {
              trainable += sliceBytes(t);
              long elems = sliceElems[g.tensorShape[t]];
              slotBytes += 4 * elems;
              state += g.tensorBytes[t] < 4 && options.optimizerSlots() > 0 ? 4 * elems : 0;
            } else {
              state += sliceBytes(t);
            }
          } else if (isActivation[t] && !unbuilt.contains(t)) {
            live[i < backwardFrom ? 0 : 1] += sliceBytes(t);
          }
        }
        if (live[0] + live[1] > atPeak[0] + atPeak[1]) {
          atPeak = live.clone();
        }
        for (int t : freeAt[k]) {
          if (reduceScatters[i] && k < lastHeld) {
            held.add(t);
          } else {
            free(live, t, unbuilt);
          }
        }
        if (k == lastHeld) {
          held.forEach(t -> free(live, t, unbuilt));
          held.clear();
        }
      }
      double stretch = m.stretch(mesh.size());
      double[] fe = computeWork(sliceElems);
      long flops = Math.round(fe[0] + fe[1]);
      Cost.Work work = new Cost.Work(fe[0] * stretch, (fe[1] + commElements) * stretch,
          (inStepOps + commOps) * stretch, commTransfers * stretch, commBytes * stretch, crossTransfers * stretch,
          crossBytes * stretch);
      double compute = (fe[0] / m.matmulFlopsPerSecond() + fe[1] / m.elementwisePerSecond()) * stretch;
      double overhead = overheadSeconds() * stretch;
      Cost.Time time = new Cost.Time(compute, overhead, m.seconds(work) - compute - overhead);
      Cost.Memory memory = new Cost.Memory(trainable, atPeak[1],
          state + (long) options.optimizerSlots() * slotBytes, atPeak[0]);
      return new Cost(mesh, rules, memory, counters(), flops, time, work);
    }

    /** Takes tensor t's bytes off the forward's or the backward's live total (nothing for an unbuilt one-hot). */
    private void free(long[] live, int t, java.util.Set<Integer> unbuilt) {
      live[g.producer[t] < backwardFrom ? 0 : 1] -= unbuilt.contains(t) ? 0 : sliceBytes(t);
    }

    /** The counters the lowering would record: the same keys ({@link Counters#key}), counts and bytes. */
    Map<String, Counters.Entry> counters() {
      Map<String, Counters.Entry> out = new TreeMap<>();
      for (Collective k : KINDS) {
        for (int mask = 1; mask < count[k.ordinal()].length; mask++) {
          if (count[k.ordinal()][mask] > 0) {
            List<String> names = new ArrayList<>();
            for (int a = 0; a < mesh.rank(); a++) {
              if ((mask & (1 << a)) != 0) {
                names.add(mesh.axes().get(a).name());
              }
            }
            out.put(Counters.key(k, names), new Counters.Entry(count[k.ordinal()][mask], bytes[k.ordinal()][mask]));
          }
        }
      }
      return out;
    }
  }

  private static final int[] NO_AXES = new int[0];
  private static final Collective[] KINDS = Collective.values();

  /**
   * Whether some group of a collective over {@code axes} of {@code mesh} holds devices of two tasks
   * of {@code devicesPerTask} devices each (task-major pnums: pnum p is task p / devicesPerTask).
   * A collective is only as fast as its slowest group, so one spanning group prices all its
   * transfers at the cross-task rates. 0, or at least the mesh's size, means one process.
   */
  static boolean spansTasks(MeshShape mesh, int[] axes, int devicesPerTask) {
    if (devicesPerTask <= 0 || devicesPerTask >= mesh.size()) {
      return false;
    }
    for (int[] group : mesh.groups(axes)) {
      for (int p : group) {
        if (p / devicesPerTask != group[0] / devicesPerTask) {
          return true;
        }
      }
    }
    return false;
  }

  /**
   * Seconds one planned collective adds per device (before {@link MachineConstants#stretch}): its
   * {@link #collectiveWork} at the machine's rates.
   */
  static double collectiveSeconds(MachineConstants m, Comm step) {
    PlacementMeshImpl.Work w = collectiveWork(m, step);
    return m.seconds(new Cost.Work(0, w.elements(), w.ops(), w.transfers(), w.bytes()));
  }

  /**
   * What one planned collective asks of each device: on shared workers the whole lowered algorithm
   * ({@link PlacementMeshImpl#work}), on devices of their own only the critical path (alpha-beta:
   * allreduce 2(n-1) transfers, allconcat, alltoall and reduce-scatter n-1, a shift one, and the
   * bytes along it).
   */
  static PlacementMeshImpl.Work collectiveWork(MachineConstants m, Comm step) {
    int n = step.groupSize();
    if (!step.communicates() || n <= 1) {
      return PlacementMeshImpl.Work.NONE;
    }
    if (!m.shared()) {
      long bytes = step.bytesPerDevice();
      return switch (step.kind()) {
        case ALLREDUCE -> new PlacementMeshImpl.Work(0, 2 * (n - 1), 2.0 * (n - 1) / n * bytes, 0);
        case ALLCONCAT -> new PlacementMeshImpl.Work(0, n - 1, (n - 1.0) * bytes, 0);
        case ALLTOALL -> new PlacementMeshImpl.Work(0, n - 1, (n - 1.0) / n * bytes, 0);
        case SHIFT -> new PlacementMeshImpl.Work(0, 1, bytes, 0);
        case REDUCESCATTER -> new PlacementMeshImpl.Work(0, n - 1, (n - 1.0) / n * bytes, 0);
      };
    }
    return PlacementMeshImpl.work(step);
  }
}
