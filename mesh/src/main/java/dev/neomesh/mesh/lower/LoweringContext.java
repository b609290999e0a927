package dev.neomesh.mesh.lower;

import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.comm.Comm;
import dev.neomesh.mesh.comm.CommPlan;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.ir.Op;
import dev.neomesh.mesh.ir.VariableOp;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/**
 * What one op's {@code lower} works with: its {@link #plan()}, its inputs' laid-out values, the
 * per-device TensorFlow scopes, and the mutators (outputs, variables, placeholders, updates). The
 * op carries its plan out with {@link #run}; the context checks that it ran every planned
 * collective, in order, and none other, and gives each output the pending sum the plan says.
 */
public final class LoweringContext {
  private final Lowering lowering;
  private final Op op;
  private final CommPlan plan;
  private final List<Comm> planned;
  private int ran;

  LoweringContext(Lowering lowering, Op op, CommPlan plan) {
    this.lowering = lowering;
    this.op = op;
    this.plan = plan;
    this.planned = plan.steps().stream().filter(Comm::communicates).toList();
  }

  /** What this op communicates on this layout (its inputs' resolutions are already carried out). */
  public CommPlan plan() {
    return plan;
  }

  public MeshShape mesh() {
    return lowering.mesh();
  }

  public LoweringOptions options() {
    return lowering.options();
  }

  public TensorLayout layout(MeshTensor t) {
    return lowering.layout(t);
  }

  /** Bytes of one device's slice of {@code t}. */
  public long sliceBytes(MeshTensor t) {
    return lowering.planContext().sliceBytes(t);
  }

  /** TensorFlow ops pinned to device {@code pnum}. */
  public Ops tf(int pnum) {
    return lowering.impl().tf(pnum);
  }

  /** The whole value of input {@code t} (the plan carried out any pending sum it had). */
  public LaidOutTensor get(MeshTensor t) {
    if (lowering.isPending(t)) {
      throw new IllegalStateException(op + " reads " + t + " whole, but its plan left it a pending sum");
    }
    return lowering.value(t);
  }

  /** The value of input {@code t} as it is: a partial sum where the plan kept it one. */
  public LaidOutTensor partial(MeshTensor t) {
    return lowering.value(t);
  }

  /** A per-device function of the whole values of {@code inputs}. */
  public LaidOutTensor slicewise(MeshImpl.SliceFn fn, MeshTensor... inputs) {
    List<LaidOutTensor> ins = new ArrayList<>();
    for (MeshTensor t : inputs) {
      ins.add(get(t));
    }
    return lowering.impl().slicewise(fn, ins);
  }

  /** A per-device function of laid-out values. */
  public LaidOutTensor slicewise(MeshImpl.SliceFn fn, List<LaidOutTensor> inputs) {
    return lowering.impl().slicewise(fn, inputs);
  }

  /**
   * Carries out {@code step}, one of the objects in {@code plan().steps()} (not an equal copy: the
   * plan is the one decision); the collectives must run in plan order.
   */
  public LaidOutTensor run(Comm step, LaidOutTensor x) {
    if (plan.steps().stream().noneMatch(s -> s == step)) {
      throw new IllegalStateException(op + " ran " + step + ", which is not one of its plan's steps " + plan.steps()
          + " (run the plan's own step objects)");
    }
    if (step.communicates()) {
      if (ran >= planned.size() || planned.get(ran) != step) {
        throw new IllegalStateException(op + " ran " + step + " out of its plan's order " + planned);
      }
      ran++;
    }
    return lowering.run(step, x);
  }

  /** Sets output {@code t}; it stays a partial sum over the axes the plan says ({@link CommPlan#pendingSum}). */
  public void set(MeshTensor t, LaidOutTensor v) {
    if (t.op() != op) {
      throw new IllegalArgumentException(op + " cannot set " + t + ", an output of another op");
    }
    lowering.set(t, v, t.index() == 0 ? plan.pendingSum() : new int[0]);
  }

  public void registerVariable(VariableOp v, TensorLayout layout, List<Operand<?>> handles,
                               List<org.tensorflow.op.Op> initializers) {
    lowering.registerVariable(v, new Lowering.LoweredVariable(v, layout, handles, initializers));
  }

  public Lowering.LoweredVariable variable(VariableOp v) {
    return lowering.variable(v);
  }

  public void registerPlaceholder(MeshTensor t, Operand<?> placeholder) {
    lowering.registerPlaceholder(t, placeholder);
  }

  /**
   * One TensorFlow value per device for what {@code key} names (with the device's number), made once
   * by {@code make} and reused by every op that asks with an equal key: e.g. the scalars every
   * parameter's optimizer update derives from the same step inputs, which would otherwise be the same
   * few ops once per parameter. {@code key} must name everything the value depends on (its mesh
   * inputs and constants), and {@code make} must build it on {@code tf(pnum)} without control
   * dependencies.
   */
  public Operand<?> shared(int pnum, java.util.function.Supplier<Operand<?>> make, Object... key) {
    List<Object> k = new ArrayList<>(List.of(key));
    k.add(pnum);
    return lowering.shared(k, make);
  }

  public void addUpdate(org.tensorflow.op.Op update) {
    lowering.addUpdate(update);
  }

  /** Checks that the op ran every planned collective and set every output. */
  void finish() {
    if (ran != planned.size()) {
      throw new IllegalStateException(op + " ran " + ran + " of the " + planned.size() + " collectives its plan "
          + planned + " holds");
    }
    for (MeshTensor t : op.outputs()) {
      lowering.value(t);
    }
  }
}
