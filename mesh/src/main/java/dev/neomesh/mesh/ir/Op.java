package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.lower.Lowering;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * One operation of a mesh program. Each op knows three things: its output shapes (fixed at
 * construction), how to {@link #lower} itself onto a mesh given its laid-out inputs, and its
 * {@link #gradient} expressed as further mesh ops, so that the backward pass is laid out and
 * communicates exactly like the forward pass.
 */
public abstract class Op {
  private final MeshGraph graph;
  private final String name;
  private final List<MeshTensor> inputs;
  private final List<MeshTensor> outputs = new ArrayList<>();

  protected Op(MeshGraph graph, String baseName, List<MeshTensor> inputs) {
    this.graph = graph;
    this.inputs = List.copyOf(inputs);
    for (MeshTensor t : inputs) {
      if (t.graph() != graph) {
        throw new IllegalArgumentException("input " + t + " of " + baseName + " belongs to another graph");
      }
    }
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

  /** Adds this op's TensorFlow ops for every device, reading inputs from and writing outputs to the lowering. */
  public abstract void lower(Lowering lowering);

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
