package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.comm.Comm;
import dev.neomesh.mesh.comm.CommPlan;
import dev.neomesh.mesh.comm.PlanContext;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.LoweringContext;
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
  private final boolean transpose;

  ReshapeOp(MeshGraph g, MeshTensor x, Shape output) {
    super(g, "reshape", List.of(x));
    if (x.shape().size() != output.size()) {
      throw new IllegalArgumentException("cannot reshape " + x.shape() + " (" + x.shape().size() + " elements) to "
          + output + " (" + output.size() + ")");
    }
    this.transpose = new HashSet<>(x.shape().dims()).equals(new HashSet<>(output.dims()));
    addOutput(output, x.dtype());
  }

  /**
   * Per mesh axis, where the old and new shapes are split: the same cut of the flattened tensor
   * needs nothing; a split that moves to an unsplit old dim of the same geometry is an alltoall; a
   * split that goes away is an allconcat (in axis order, each on the slices the previous left); a
   * split that appears is an allsplit after the local reshape, or, where x is a pending sum over
   * that axis, a reduce-scatter ({@link #reduceScatterAxis}). Renaming a dim set (transpose) is local.
   */
  @Override
  public CommPlan plan(PlanContext c) {
    MeshTensor x = inputs().get(0);
    if (isTranspose()) {
      return CommPlan.builder(c).resolve(x).build();
    }
    Shape oldShape = x.shape();
    Shape newShape = output().shape();
    MeshShape mesh = c.mesh();
    TensorLayout oldL = c.layout(x);
    TensorLayout newL = c.layout(output());
    int scatterAxis = reduceScatterAxis(c, x, oldL, newL);
    CommPlan.Builder b = CommPlan.builder(c);
    if (scatterAxis < 0) {
      b.resolve(x);
    }
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
        long elements = sliceElements(oldShape, axisOfOldDim, mesh);
        long bytes = elements * x.dtype().bytes();
        int j = nd >= 0 ? matchingOldDim(oldShape, newShape, nd, axisOfOldDim) : -1;
        if (j >= 0) {
          b.alltoall(a, j, od, bytes, elements);
          axisOfOldDim[j] = a;
          splitInNew[a] = true;
        } else {
          b.allconcat(a, od, bytes, elements);
        }
        axisOfOldDim[od] = -1;
      }
    }
    for (int a = 0; a < mesh.rank(); a++) {
      int nd = newL.tensorDimOf(a);
      if (nd >= 0 && !splitInNew[a] && a == scatterAxis) {
        long elements = c.sliceElements(output()) * mesh.axisSize(a);
        b.reduceScatter(a, nd, elements * x.dtype().bytes(), elements);
      } else if (nd >= 0 && !splitInNew[a]) {
        b.allsplit(a, nd);
      }
    }
    return b.build();
  }

  /**
   * The mesh axis of a reduce-scatter, or -1: when {@code x} is a pending sum over one axis only,
   * and this reshape splits over that axis a new dim where nothing of x was split (an allsplit, and
   * the only one), the sum and the split are one reduce-scatter: each device receives and adds only
   * its part. The partial sums are reshaped first, which a sum commutes with.
   */
  private static int reduceScatterAxis(PlanContext c, MeshTensor x, TensorLayout oldL, TensorLayout newL) {
    int[] pending = c.pendingSum(x);
    if (pending.length != 1) {
      return -1;
    }
    int splits = 0;
    int axis = -1;
    for (int a = 0; a < c.mesh().rank(); a++) {
      if (c.mesh().axisSize(a) > 1 && newL.tensorDimOf(a) >= 0 && oldL.tensorDimOf(a) < 0) {
        splits++;
        axis = a;
      }
    }
    return splits == 1 && axis == pending[0] ? axis : -1;
  }

  /** The same dims in another order: a local transpose. */
  private boolean isTranspose() {
    return transpose;
  }

  @Override
  public void lower(LoweringContext l) {
    MeshTensor x = inputs().get(0);
    if (isTranspose()) {
      int[] perm = SliceAlign.permutation(x.shape(), output().shape());
      l.set(output(), l.slicewise((tf, p, s) -> Tf.transpose(tf, s.get(0), perm), x));
      return;
    }
    List<Comm> steps = l.plan().steps();
    boolean scatters = steps.stream().anyMatch(st -> st instanceof Comm.ReduceScatter);
    LaidOutTensor v = scatters ? l.partial(x) : l.get(x);
    // the local reshape sees the new shape cut by every split it has before the allsplits and the reduce-scatter
    long[] localNew = l.layout(output()).sliceShape().sizes();
    for (Comm step : steps) {
      if (step instanceof Comm.AllSplit s) {
        localNew[s.dim()] *= s.groupSize();
      } else if (step instanceof Comm.ReduceScatter r) {
        localNew[r.dim()] *= r.groupSize();
      } else {
        v = l.run(step, v);
      }
    }
    v = l.slicewise((tf, p, s) -> Tf.reshape(tf, s.get(0), localNew), List.of(v));
    for (Comm step : steps) {
      if (step instanceof Comm.AllSplit || step instanceof Comm.ReduceScatter) {
        v = l.run(step, v);
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

  private static long sliceElements(Shape shape, int[] axisOfDim, MeshShape mesh) {
    long n = 1;
    for (int i = 0; i < shape.rank(); i++) {
      n *= shape.get(i).size() / (axisOfDim[i] >= 0 ? mesh.axisSize(axisOfDim[i]) : 1);
    }
    return n;
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    return List.of(new MeshOps(graph()).reshape(dys.get(0), inputs().get(0).shape()));
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
