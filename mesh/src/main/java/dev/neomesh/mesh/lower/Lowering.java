package dev.neomesh.mesh.lower;

import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.ir.Op;
import dev.neomesh.mesh.ir.VariableOp;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/**
 * Lowers a mesh program onto a {@link MeshImpl} under layout rules: every op, in order, turns its
 * laid-out inputs into laid-out outputs. Keeps the per-tensor layouts, the per-variable handles,
 * the pending (lazy) sum-allreduces and the ops a step or an initialisation must run.
 *
 * <p>A SUM allreduce is kept pending on the tensor that needs it, so that adding two partial sums
 * over the same axes costs one reduction, not two; any other consumer forces it.
 */
public final class Lowering {
  private final MeshGraph graph;
  private final MeshImpl impl;
  private final LayoutRules rules;
  private final Map<MeshTensor, LaidOutTensor> values = new IdentityHashMap<>();
  private final Map<MeshTensor, int[]> pendingSum = new IdentityHashMap<>();
  private final Map<MeshTensor, TensorLayout> layouts = new IdentityHashMap<>();
  private final Map<VariableOp, LoweredVariable> variables = new HashMap<>();
  private final Map<MeshTensor, Operand<?>> placeholders = new IdentityHashMap<>();
  private final List<org.tensorflow.op.Op> updates = new ArrayList<>();

  /** The per-device TensorFlow state of one mesh variable. */
  public record LoweredVariable(VariableOp variable, TensorLayout layout, List<Operand<?>> handles,
                                List<org.tensorflow.op.Op> initializers) {}

  public Lowering(MeshGraph graph, MeshImpl impl, LayoutRules rules) {
    this.graph = graph;
    this.impl = impl;
    this.rules = rules;
    for (Op op : graph.ops()) {
      for (MeshTensor t : op.outputs()) {
        layout(t); // validates every tensor before any TensorFlow op is built
      }
    }
    for (Op op : graph.ops()) {
      op.lower(this);
    }
  }

  public MeshGraph graph() {
    return graph;
  }

  /**
   * Whether to use TensorFlow's fused kernels where the plain form takes several ops (the softmax
   * kernel, a gather for an embedding lookup, read when a runtime is lowered; Adam's in-place
   * update, read when the trainer builds its graph). On unless the system property
   * {@code neomesh.fused} is {@code false}, so that a benchmark can build a program both ways and
   * compare ({@code scripts/bench gpt-step --compare_unfused}) and a suspected kernel can be ruled out.
   */
  public static boolean fusedKernels() {
    return !"false".equals(System.getProperty("neomesh.fused"));
  }

  public MeshImpl impl() {
    return impl;
  }

  public MeshShape mesh() {
    return impl.shape();
  }

  public LayoutRules rules() {
    return rules;
  }

  public Counters counters() {
    return impl.counters();
  }

  public TensorLayout layout(MeshTensor t) {
    return layouts.computeIfAbsent(t, x -> rules.layoutOf(x.name(), x.shape(), impl.shape()));
  }

  /** The layout of a shape that is not a tensor of the graph (an op's working shape); named for errors. */
  public TensorLayout layout(String what, Shape shape) {
    return rules.layoutOf(what, shape, impl.shape());
  }

  /** Bytes of one device's slice of {@code t}. */
  public long sliceBytes(MeshTensor t) {
    return layout(t).sliceShape().size() * t.dtype().bytes();
  }

  /** The laid-out value of {@code t}, with any pending allreduce carried out. */
  public LaidOutTensor get(MeshTensor t) {
    LaidOutTensor v = values.get(t);
    if (v == null) {
      throw new IllegalStateException("tensor " + t + " used before it was lowered");
    }
    int[] axes = pendingSum.remove(t);
    if (axes != null) {
      v = impl.allreduce(v, axes, MeshImpl.Reduction.SUM, sliceBytes(t));
      values.put(t, v);
    }
    return v;
  }

  /** The mesh axes over which {@code t} is still a partial sum (empty when complete). */
  public int[] pendingSumAxes(MeshTensor t) {
    return pendingSum.getOrDefault(t, new int[0]);
  }

  /** The value of {@code t} without carrying out its pending allreduce (see {@link #pendingSumAxes}). */
  public LaidOutTensor getPartial(MeshTensor t) {
    return values.get(t);
  }

  public void set(MeshTensor t, LaidOutTensor v) {
    values.put(t, v);
  }

  /** Sets {@code t} to a value that still needs a SUM allreduce over {@code axes}. */
  public void setPartialSum(MeshTensor t, LaidOutTensor v, int[] axes) {
    values.put(t, v);
    int[] sorted = Arrays.stream(axes).filter(a -> impl.shape().axisSize(a) > 1).sorted().distinct().toArray();
    if (sorted.length > 0) {
      pendingSum.put(t, sorted);
    }
  }

  /** A per-device function of two slices. */
  @FunctionalInterface
  public interface SlicePair {
    Operand<?> apply(Ops tf, int pnum, Operand<?> a, Operand<?> b);
  }

  public LaidOutTensor slicewise(MeshImpl.SliceFn fn, MeshTensor... inputs) {
    List<LaidOutTensor> ins = new ArrayList<>();
    for (MeshTensor t : inputs) {
      ins.add(get(t));
    }
    return impl.slicewise(fn, ins);
  }

  public void registerVariable(VariableOp op, TensorLayout layout, List<Operand<?>> handles,
                               List<org.tensorflow.op.Op> initializers) {
    variables.put(op, new LoweredVariable(op, layout, handles, initializers));
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

  public void registerPlaceholder(MeshTensor t, Operand<?> placeholder) {
    placeholders.put(t, placeholder);
  }

  /** The TensorFlow placeholder to feed for an imported tensor (its full, unsliced value). */
  public Operand<?> placeholder(MeshTensor t) {
    Operand<?> p = placeholders.get(t);
    if (p == null) {
      throw new IllegalArgumentException(t + " is not an imported tensor");
    }
    return p;
  }

  public void addUpdate(org.tensorflow.op.Op update) {
    updates.add(update);
  }

  /** The assignments of the program: what a training step runs for its side effects. */
  public List<org.tensorflow.op.Op> updates() {
    return List.copyOf(updates);
  }

  public List<org.tensorflow.op.Op> initializers() {
    List<org.tensorflow.op.Op> all = new ArrayList<>();
    variables().forEach(v -> all.addAll(v.initializers()));
    return all;
  }

  /**
   * The full value of {@code t} assembled on device 0: one distinct slice per position, concatenated
   * along each split dim. For fetching results to the host.
   */
  public Operand<?> export(MeshTensor t) {
    LaidOutTensor v = get(t);
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
}
