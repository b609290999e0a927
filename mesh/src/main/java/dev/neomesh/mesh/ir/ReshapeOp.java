package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.Lowering;
import dev.neomesh.mesh.lower.SliceAlign;
import dev.neomesh.mesh.lower.Tf;
import java.util.HashSet;
import java.util.List;

/**
 * Reshape, rename or transpose: the relayout op. Renaming a dim to a name with another layout
 * rule moves data, so for each mesh axis the lowering compares where the old and new shapes are
 * split (by the product of the sizes before the split dim, as Mesh-TensorFlow does): equal needs
 * nothing, split to unsplit is an allconcat, unsplit to split an allsplit (local), and a split
 * moving to another dim of the same geometry an alltoall. Then each device reshapes locally.
 */
public final class ReshapeOp extends Op {
  ReshapeOp(MeshGraph g, MeshTensor x, Shape output) {
    super(g, "reshape", List.of(x));
    if (x.shape().size() != output.size()) {
      throw new IllegalArgumentException("cannot reshape " + x.shape() + " (" + x.shape().size() + " elements) to "
          + output + " (" + output.size() + ")");
    }
    addOutput(output, x.dtype());
  }

  @Override
  public void lower(Lowering l) {
    MeshTensor x = inputs().get(0);
    Shape oldShape = x.shape();
    Shape newShape = output().shape();
    TensorLayout oldL = l.layout(x);
    TensorLayout newL = l.layout(output());
    if (new HashSet<>(oldShape.dims()).equals(new HashSet<>(newShape.dims()))) {
      int[] perm = SliceAlign.permutation(oldShape, newShape);
      l.set(output(), l.slicewise((tf, p, s) -> Tf.transpose(tf, s.get(0), perm), x));
      return;
    }
    MeshShape mesh = l.mesh();
    LaidOutTensor v = l.get(x);
    int[] axisOfOldDim = new int[oldShape.rank()];
    for (int i = 0; i < axisOfOldDim.length; i++) {
      axisOfOldDim[i] = oldL.meshAxisOf(i);
    }
    boolean[] splitInNew = new boolean[mesh.rank()];
    for (int a = 0; a < mesh.rank(); a++) {
      int od = indexOf(axisOfOldDim, a);
      int nd = newL.tensorDimOf(a);
      if (od < 0 && nd < 0 || mesh.axisSize(a) == 1) {
        splitInNew[a] = nd >= 0;
        continue;
      }
      if (od >= 0 && nd >= 0 && compatible(oldShape, od, newShape, nd)) {
        splitInNew[a] = true;
        continue;
      }
      if (od >= 0) {
        long bytes = sliceBytes(oldShape, axisOfOldDim, mesh, x.dtype());
        int j = nd >= 0 ? matchingOldDim(oldShape, newShape, nd, axisOfOldDim) : -1;
        if (j >= 0) {
          v = l.impl().alltoall(v, a, j, od, bytes);
          axisOfOldDim[j] = a;
          splitInNew[a] = true;
        } else {
          v = l.impl().allconcat(v, a, od, bytes);
        }
        axisOfOldDim[od] = -1;
      }
    }
    long[] localNew = newShape.sizes();
    for (int a = 0; a < mesh.rank(); a++) {
      int nd = newL.tensorDimOf(a);
      if (nd >= 0 && splitInNew[a]) {
        localNew[nd] /= mesh.axisSize(a);
      }
    }
    v = l.impl().slicewise((tf, p, s) -> Tf.reshape(tf, s.get(0), localNew), List.of(v));
    for (int a = 0; a < mesh.rank(); a++) {
      int nd = newL.tensorDimOf(a);
      if (nd >= 0 && !splitInNew[a]) {
        v = l.impl().allsplit(v, a, nd);
      }
    }
    l.set(output(), v);
  }

  private static int indexOf(int[] axisOfDim, int axis) {
    for (int i = 0; i < axisOfDim.length; i++) {
      if (axisOfDim[i] == axis) {
        return i;
      }
    }
    return -1;
  }

  /** Splitting old dim {@code od} and new dim {@code nd} cuts the flattened tensor at the same places. */
  private static boolean compatible(Shape oldShape, int od, Shape newShape, int nd) {
    return oldShape.sizeBefore(od) == newShape.sizeBefore(nd);
  }

  /** An unsplit old dim that splits like new dim {@code nd} (same size, same position in the flattening). */
  private static int matchingOldDim(Shape oldShape, Shape newShape, int nd, int[] axisOfOldDim) {
    Dim target = newShape.get(nd);
    for (int j = 0; j < oldShape.rank(); j++) {
      if (axisOfOldDim[j] < 0 && oldShape.get(j).size() == target.size()
          && oldShape.sizeBefore(j) == newShape.sizeBefore(nd)) {
        return j;
      }
    }
    return -1;
  }

  private static long sliceBytes(Shape shape, int[] axisOfDim, MeshShape mesh, DType dtype) {
    long n = 1;
    for (int i = 0; i < shape.rank(); i++) {
      n *= shape.get(i).size() / (axisOfDim[i] >= 0 ? mesh.axisSize(axisOfDim[i]) : 1);
    }
    return n * dtype.bytes();
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    return List.of(new MeshOps(graph()).reshape(dys.get(0), inputs().get(0).shape()));
  }
}
