package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Shape;

/**
 * A value of a mesh program: a named-dimension shape and an element type, made by one {@link Op}.
 * It holds no data and no device: the layout decides at lowering how it is split.
 */
public final class MeshTensor {
  private final Op op;
  private final int index;
  private final int id;
  private final Shape shape;
  private final DType dtype;

  MeshTensor(Op op, int index, Shape shape, DType dtype) {
    this.op = op;
    this.index = index;
    this.id = op.graph().nextTensorId();
    this.shape = shape;
    this.dtype = dtype;
  }

  public Op op() {
    return op;
  }

  public int index() {
    return index;
  }

  /** This tensor's number in its graph, 0, 1, ... in creation order (an array index for per-tensor state). */
  public int id() {
    return id;
  }

  public Shape shape() {
    return shape;
  }

  public DType dtype() {
    return dtype;
  }

  public MeshGraph graph() {
    return op.graph();
  }

  /** A readable, unique name: the op's name plus the output index when the op has several. */
  public String name() {
    return op.outputs().size() == 1 ? op.name() : op.name() + ":" + index;
  }

  @Override
  public String toString() {
    return name() + shape + dtype.name().toLowerCase();
  }
}
