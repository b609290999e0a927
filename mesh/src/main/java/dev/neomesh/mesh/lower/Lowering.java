package dev.neomesh.mesh.lower;

import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.comm.Comm;
import dev.neomesh.mesh.comm.CommPlan;
import dev.neomesh.mesh.comm.PlanContext;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.ir.Op;
import dev.neomesh.mesh.ir.VariableOp;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/**
 * A mesh program lowered onto a {@link MeshImpl} under layout rules: for every op, in order, its
 * {@link CommPlan} is derived from the layouts and pending sums so far, the pending sums it needs
 * whole are carried out, and the op's {@code lower} turns its laid-out inputs into laid-out outputs
 * through a {@link LoweringContext}. What stays readable afterwards is what the runtime and
 * checkpoints need: layouts, variables, placeholders, the step's updates and the counters.
 *
 * <p>A SUM allreduce is kept pending on the tensor that needs it, so that adding two partial sums
 * over the same axes costs one reduction, not two; the first consumer whose plan needs the whole
 * value pays it.
 */
public final class Lowering {
  private final MeshGraph graph;
  private final MeshImpl impl;
  private final LayoutRules rules;
  private final LoweringOptions options;
  private final Counters counters = new Counters();
  private final Map<MeshTensor, LaidOutTensor> values = new IdentityHashMap<>();
  private final Map<MeshTensor, int[]> pendingSum = new IdentityHashMap<>();
  private final Map<MeshTensor, TensorLayout> layouts = new IdentityHashMap<>();
  private final Map<VariableOp, LoweredVariable> variables = new HashMap<>();
  private final Map<MeshTensor, Operand<?>> placeholders = new IdentityHashMap<>();
  private final List<org.tensorflow.op.Op> updates = new ArrayList<>();
  private final Map<List<Object>, Operand<?>> shared = new HashMap<>();
  private final PlanContext state = new State();
  /** Per TensorFlow op that holds an output slice of a mesh op, the index of the first mesh op whose output it is. */
  private final Map<String, Integer> outputNodes = new HashMap<>();

  /** The per-device TensorFlow state of one mesh variable. */
  public record LoweredVariable(VariableOp variable, TensorLayout layout, List<Operand<?>> handles,
                                List<org.tensorflow.op.Op> initializers) {}

  /**
   * What lowering {@code program} onto {@code mesh} under {@code rules} records, with {@code fetches}
   * exported, without opening a session (no TensorFlow devices are made): the planner's tests compare
   * these counters with the cost model for hundreds of layouts.
   */
  public static Counters countersOf(MeshGraph program, MeshShape mesh, LayoutRules rules, List<MeshTensor> fetches) {
    try (Graph g = new Graph()) {
      Lowering l = new Lowering(program, new PlacementMeshImpl(g, mesh, Devices.virtualCpus(mesh.size())), rules,
          LoweringOptions.DEFAULT);
      fetches.forEach(l::export);
      return l.counters();
    }
  }

  Lowering(MeshGraph graph, MeshImpl impl, LayoutRules rules, LoweringOptions options) {
    this.graph = graph;
    this.impl = impl;
    this.rules = rules.withFollowers(graph.layoutFollowers(), impl.shape());
    this.options = options;
    for (Op op : graph.ops()) {
      for (MeshTensor t : op.outputs()) {
        layout(t); // validates every tensor before any TensorFlow op is built
      }
    }
    List<Op> ops = graph.ops();
    for (int i = 0; i < ops.size(); i++) {
      Op op = ops.get(i);
      CommPlan plan = op.plan(state);
      if (options.allreduceBucketBytes() > 0 && !plan.resolved().isEmpty()) {
        AllreduceBuckets.before(ops, i, plan, state, values::containsKey, options.allreduceBucketBytes())
            .forEach(this::resolve);
      } else {
        plan.resolved().forEach(this::resolve);
      }
      LoweringContext context = new LoweringContext(this, op, plan);
      op.lower(context);
      context.finish();
      for (MeshTensor t : op.outputs()) {
        LaidOutTensor v = values.get(t);
        if (v != null) {
          for (Operand<?> slice : v.slices()) {
            outputNodes.putIfAbsent(slice.op().name(), i);
          }
        }
      }
    }
  }

  /**
   * The mesh op that made each TensorFlow op of {@code tfGraph} (this lowering's graph), for reading
   * TensorFlow's per-node records (allocations, times) by mesh op: the ops are walked in creation
   * order, and each belongs to the mesh op whose output slice it is or which comes next in that
   * order (the reshapes and transposes inside an op's lowering, and the allreduces of the pending
   * sums it resolves before it). TensorFlow ops made after the last mesh op (exports, initialisers,
   * checkpoints) are left out.
   */
  public Map<String, Op> meshOpsOfNodes(org.tensorflow.Graph tfGraph) {
    Map<String, Op> out = new HashMap<>();
    List<String> pending = new ArrayList<>();
    int last = -1;
    for (java.util.Iterator<org.tensorflow.GraphOperation> it = tfGraph.operations(); it.hasNext(); ) {
      String name = it.next().name();
      pending.add(name);
      Integer i = outputNodes.get(name);
      if (i != null && i >= last) {
        last = i;
        Op op = graph.ops().get(i);
        pending.forEach(n -> out.put(n, op));
        pending.clear();
      }
    }
    return out;
  }

  public MeshGraph graph() {
    return graph;
  }

  public MeshShape mesh() {
    return impl.shape();
  }

  public LayoutRules rules() {
    return rules;
  }

  /** The collectives the lowered program runs per step (the planned steps that move data). */
  public Counters counters() {
    return counters;
  }

  public TensorLayout layout(MeshTensor t) {
    return layouts.computeIfAbsent(t, x -> rules.layoutOf(x.name(), x.shape(), impl.shape()));
  }

  /** TensorFlow ops pinned to device {@code pnum} (for code that adds its own ops, such as checkpoints). */
  public Ops tf(int pnum) {
    return impl.tf(pnum);
  }

  public LoweredVariable variable(VariableOp v) {
    LoweredVariable lv = variables.get(v);
    if (lv == null) {
      throw new IllegalStateException("variable " + v.name() + " was not lowered");
    }
    return lv;
  }

  public List<LoweredVariable> variables() {
    return graph.variables().stream().map(this::variable).toList();
  }

  /** The TensorFlow placeholder to feed for an imported tensor (its full, unsliced value). */
  public Operand<?> placeholder(MeshTensor t) {
    Operand<?> p = placeholders.get(t);
    if (p == null) {
      throw new IllegalArgumentException(t + " is not an imported tensor");
    }
    return p;
  }

  /** The assignments of the program: what a training step runs for its side effects. */
  public List<org.tensorflow.op.Op> updates() {
    return List.copyOf(updates);
  }

  /**
   * The full value of {@code t} assembled on device 0, its pending sum carried out first: one
   * distinct slice per position, concatenated along each split dim. For fetching results to the host.
   */
  Operand<?> export(MeshTensor t) {
    int[] axes = pendingSum.remove(t);
    if (axes != null) {
      values.put(t, run(CommPlan.resolution(state, t, axes), values.get(t)));
    }
    LaidOutTensor v = value(t);
    TensorLayout layout = layout(t);
    MeshShape mesh = impl.shape();
    List<Integer> splitAxes = new ArrayList<>();
    for (int a = 0; a < mesh.rank(); a++) {
      if (layout.tensorDimOf(a) >= 0) {
        splitAxes.add(a);
      }
    }
    List<Operand<?>> parts = new ArrayList<>();
    for (int p = 0; p < mesh.size(); p++) {
      if (layout.isFirstReplica(p)) {
        parts.add(v.slice(p)); // row-major over the split axes, as pnum order is
      }
    }
    Ops tf = impl.tf(0);
    for (int i = splitAxes.size() - 1; i >= 0; i--) {
      int axis = splitAxes.get(i);
      int n = mesh.axisSize(axis);
      List<Operand<?>> merged = new ArrayList<>();
      for (int k = 0; k < parts.size(); k += n) {
        merged.add(Tf.concat(tf, parts.subList(k, k + n), layout.tensorDimOf(axis)));
      }
      parts = merged;
    }
    return parts.get(0);
  }

  // ---- for LoweringContext ----

  MeshImpl impl() {
    return impl;
  }

  LoweringOptions options() {
    return options;
  }

  PlanContext planContext() {
    return state;
  }

  /** Carries out one planned step and counts it. */
  LaidOutTensor run(Comm step, LaidOutTensor x) {
    counters.record(step, impl.shape());
    return impl.run(step, x);
  }

  /** Carries out one pending sum with its own allreduce. */
  private void resolve(CommPlan.Resolved r) {
    values.put(r.tensor(), run(r.allreduce(), values.get(r.tensor())));
    pendingSum.remove(r.tensor());
  }

  /**
   * Carries out a bucket's pending sums as one allreduce: on each device its members' slices are
   * flattened and concatenated, reduced together (one collective, counted once with all their
   * bytes) and split back into their shapes.
   */
  private void resolve(AllreduceBuckets.Bucket bucket) {
    List<CommPlan.Resolved> members = bucket.members();
    if (members.size() == 1) {
      resolve(members.get(0));
      return;
    }
    long[] sizes = new long[members.size()];
    long bytes = 0;
    for (int k = 0; k < sizes.length; k++) {
      sizes[k] = members.get(k).allreduce().elementsPerDevice();
      bytes += members.get(k).allreduce().bytesPerDevice();
    }
    Comm.AllReduce first = members.get(0).allreduce();
    Comm.AllReduce fused = new Comm.AllReduce(bucket.axes(), first.reduction(), bytes,
        java.util.Arrays.stream(sizes).sum(), first.groupSize());
    int devices = impl.shape().size();
    List<Operand<?>> flat = new ArrayList<>(devices);
    for (int p = 0; p < devices; p++) {
      List<Operand<?>> parts = new ArrayList<>(sizes.length);
      for (CommPlan.Resolved r : members) {
        parts.add(Tf.reshape(impl.tf(p), values.get(r.tensor()).slice(p), new long[] {-1}));
      }
      flat.add(Tf.concat(impl.tf(p), parts, 0));
    }
    LaidOutTensor reduced = run(fused, LaidOutTensor.of(flat));
    List<List<Operand<?>>> out = new ArrayList<>(sizes.length);
    for (int k = 0; k < sizes.length; k++) {
      out.add(new ArrayList<>(devices));
    }
    for (int p = 0; p < devices; p++) {
      List<Operand<?>> pieces = Tf.splitSizes(impl.tf(p), reduced.slice(p), sizes);
      for (int k = 0; k < sizes.length; k++) {
        long[] shape = values.get(members.get(k).tensor()).slice(p).shape().asArray();
        out.get(k).add(Tf.reshape(impl.tf(p), pieces.get(k), shape));
      }
    }
    for (int k = 0; k < sizes.length; k++) {
      values.put(members.get(k).tensor(), LaidOutTensor.of(out.get(k)));
      pendingSum.remove(members.get(k).tensor());
    }
  }

  LaidOutTensor value(MeshTensor t) {
    LaidOutTensor v = values.get(t);
    if (v == null) {
      throw new IllegalStateException("tensor " + t + " used before it was lowered");
    }
    return v;
  }

  boolean isPending(MeshTensor t) {
    return pendingSum.containsKey(t);
  }

  void set(MeshTensor t, LaidOutTensor v, int[] pending) {
    values.put(t, v);
    if (pending.length > 0) {
      pendingSum.put(t, pending);
    }
  }

  void registerVariable(VariableOp op, LoweredVariable v) {
    variables.put(op, v);
  }

  void registerPlaceholder(MeshTensor t, Operand<?> placeholder) {
    placeholders.put(t, placeholder);
  }

  void addUpdate(org.tensorflow.op.Op update) {
    updates.add(update);
  }

  /** The planning view of the lowering's state, which every op's plan reads. */
  /** The device's one TensorFlow value for {@code key}, made by {@code make} the first time it is asked for. */
  Operand<?> shared(List<Object> key, java.util.function.Supplier<Operand<?>> make) {
    Operand<?> v = shared.get(key);
    if (v == null) {
      v = make.get();
      shared.put(key, v);
    }
    return v;
  }

  private final class State implements PlanContext {
    @Override
    public MeshShape mesh() {
      return impl.shape();
    }

    @Override
    public TensorLayout layout(MeshTensor t) {
      return Lowering.this.layout(t);
    }

    @Override
    public TensorLayout layout(Supplier<String> what, Shape shape) {
      return rules.layoutOf(what.get(), shape, impl.shape());
    }

    @Override
    public int[] pendingSum(MeshTensor t) {
      int[] axes = pendingSum.get(t);
      return axes == null ? NO_AXES : axes;
    }
  }

  private static final int[] NO_AXES = new int[0];
}
