package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.comm.CommPlan;
import dev.neomesh.mesh.comm.PlanContext;
import dev.neomesh.mesh.lower.LoweringContext;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * One operation of a mesh program. Each op knows four things: its output shapes (fixed at
 * construction); what it communicates on given layouts, its {@link #plan} (no TensorFlow, so the
 * planner prices layouts with the very decisions the lowering takes); how to {@link #lower} itself
 * onto a mesh by carrying that plan out; and its {@link #gradient} expressed as further mesh ops,
 * so that the backward pass is laid out and communicates exactly like the forward pass.
 *
 * <p>The hierarchy is sealed: code that must handle every op kind does so through
 * {@link OpVisitor}, which the compiler checks for completeness.
 */
public abstract sealed class Op permits AdamUpdateOp, AfterOp, AssignOp, BinaryOp, CastOp, ConcatOp, ConstantOp, CumsumOp, EinsumOp,
    ImportOp, OneHotOp, PadOp, RandomOp, RangeOp, ReduceOp, ReshapeOp, ShiftOp, SliceOp, SoftmaxOp, StateWriteOp,
    StopGradientOp, TopKOp, UnaryOp, VariableOp, WhereOp {
  private final MeshGraph graph;
  private final String name;
  private final List<MeshTensor> inputs;
  private final List<MeshTensor> outputs = new ArrayList<>();

  protected Op(MeshGraph graph, String baseName, List<MeshTensor> inputs) {
    this.graph = graph;
    for (MeshTensor t : inputs) {
      if (t.graph() != graph) {
        throw new IllegalArgumentException("input " + t + " of " + baseName + " belongs to another graph");
      }
    }
    // a recomputed copy reads variables only once the backward reaches it (MeshGraph#setRecomputing)
    this.inputs = List.copyOf(this instanceof AfterOp ? inputs : graph.gateVariables(inputs));
    this.name = graph.register(this, baseName);
  }

  protected final MeshTensor addOutput(Shape shape, DType dtype) {
    MeshTensor t = new MeshTensor(this, outputs.size(), shape, dtype);
    outputs.add(t);
    return t;
  }

  public final MeshGraph graph() {
    return graph;
  }

  public final String name() {
    return name;
  }

  public final List<MeshTensor> inputs() {
    return inputs;
  }

  public final List<MeshTensor> outputs() {
    return Collections.unmodifiableList(outputs);
  }

  public final MeshTensor output() {
    return outputs.get(0);
  }

  /**
   * What this op communicates on the layouts of {@code c}: which inputs' pending sums it carries
   * out, its collectives in order, and the pending sum its output is left with. The default reads
   * every input whole and communicates nothing else; ops that communicate, or that keep a sum
   * pending, override it. The lowering and the cost model both call this, nothing else decides.
   */
  public CommPlan plan(PlanContext c) {
    return CommPlan.resolving(c, inputs);
  }

  /**
   * Adds this op's TensorFlow ops for every device, carrying out {@code l.plan()}: reads inputs from
   * and writes outputs to the lowering context.
   */
  public abstract void lower(LoweringContext l);

  /** Calls the visitor's method for this op's class. */
  public abstract <R> R accept(OpVisitor<R> visitor);

  /** Whether gradients flow through this op (float inputs and outputs, and a defined derivative). */
  public boolean hasGradient() {
    return outputs.stream().allMatch(t -> t.dtype().isFloating());
  }

  /**
   * The gradient with respect to each input, given the gradient of each output (null where an
   * output has none). Returns a list with one entry per input, null where none flows.
   */
  public List<MeshTensor> gradient(List<MeshTensor> outputGrads) {
    // only reached for an op whose hasGradient() is false, which Gradients.of never asks
    throw new IllegalStateException(getClass().getSimpleName() + " " + name + " is not differentiable");
  }

  @Override
  public String toString() {
    return name + "(" + inputs.stream().map(MeshTensor::name).toList() + ")";
  }
}
