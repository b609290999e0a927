package dev.neomesh.mesh.comm;

import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.function.Supplier;

/**
 * What an op reads to plan its communication: the mesh, the layout of every tensor (and of working
 * shapes such as an einsum's input union) and which tensors are still pending sums. The lowering
 * answers from its state; the planner's cost model from a layout it is pricing. No TensorFlow.
 */
public interface PlanContext {
  MeshShape mesh();

  TensorLayout layout(MeshTensor t);

  /** The layout of a shape that is not a tensor of the graph (an op's working shape); {@code what} names it in errors. */
  TensorLayout layout(Supplier<String> what, Shape shape);

  /** The mesh axes (ascending, each of size above one) over which {@code t} is still a partial sum; empty when complete. */
  int[] pendingSum(MeshTensor t);

  /** The mesh axis that splits dim {@code dim} of {@code t}, or -1. */
  default int axisOf(MeshTensor t, String dim) {
    return layout(t).meshAxisOf(t.shape().indexOf(dim));
  }

  /** Bytes of one device's slice of {@code t}. */
  default long sliceBytes(MeshTensor t) {
    return sliceElements(t) * t.dtype().bytes();
  }

  /** Elements of one device's slice of {@code t}. */
  default long sliceElements(MeshTensor t) {
    return layout(t).sliceShape().size();
  }
}
