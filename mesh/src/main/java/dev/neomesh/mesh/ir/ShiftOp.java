package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.Lowering;
import dev.neomesh.mesh.lower.Tf;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/**
 * {@code y[i] = x[i - offset]} along one dim, zeros where {@code i - offset} is outside (or
 * wrapped around). Local attention uses it for the halo of the previous block. On an unsplit dim
 * it is a local slice and concat; on a split dim each device also receives from its neighbours:
 * one shift of whole slices when the offset is a multiple of the slice length, else two.
 */
public final class ShiftOp extends Op {
  private final String dim;
  private final int offset;
  private final boolean wrap;

  ShiftOp(MeshGraph g, MeshTensor x, String dim, int offset, boolean wrap) {
    super(g, "shift", List.of(x));
    x.shape().dim(dim);
    this.dim = dim;
    this.offset = offset;
    this.wrap = wrap;
    addOutput(x.shape(), x.dtype());
  }

  /** The dim shifted along. */
  public String dim() {
    return dim;
  }

  public int offset() {
    return offset;
  }

  public boolean wrap() {
    return wrap;
  }

  @Override
  public void lower(Lowering l) {
    MeshTensor x = inputs().get(0);
    int i = x.shape().indexOf(dim);
    TensorLayout layout = l.layout(x);
    int axis = layout.meshAxisOf(i);
    long[] slice = layout.sliceShape().sizes();
    int block = (int) slice[i];
    if (axis < 0) {
      l.set(output(), l.slicewise((tf, p, s) -> localShift(tf, s.get(0), i, slice, offset, wrap), x));
      return;
    }
    int q = Math.floorDiv(offset, block);
    int r = Math.floorMod(offset, block);
    long bytes = l.sliceBytes(x);
    LaidOutTensor v = l.get(x);
    LaidOutTensor a = l.impl().shift(v, axis, q, wrap, bytes);
    if (r == 0) {
      l.set(output(), a);
      return;
    }
    LaidOutTensor b = l.impl().shift(v, axis, q + 1, wrap, bytes);
    l.set(output(), l.impl().slicewise((tf, p, s) -> {
      List<Operand<?>> parts = new ArrayList<>();
      parts.add(part(tf, s.get(1), i, slice, block - r, r));
      parts.add(part(tf, s.get(0), i, slice, 0, block - r));
      return Tf.concat(tf, parts, i);
    }, List.of(a, b)));
  }

  private static Operand<?> part(Ops tf, Operand<?> x, int dim, long[] shape, long begin, long size) {
    long[] b = new long[shape.length];
    long[] s = shape.clone();
    b[dim] = begin;
    s[dim] = size;
    return Tf.slice(tf, x, b, s);
  }

  static Operand<?> localShift(Ops tf, Operand<?> x, int dim, long[] shape, int offset, boolean wrap) {
    int n = (int) shape[dim];
    int k = wrap ? Math.floorMod(offset, n) : offset;
    if (k == 0) {
      return x;
    }
    if (!wrap && Math.abs(k) >= n) {
      return Tf.zerosLike(tf, x);
    }
    List<Operand<?>> parts = new ArrayList<>();
    long[] zeros = shape.clone();
    zeros[dim] = Math.abs(k);
    if (k > 0) {
      parts.add(wrap ? part(tf, x, dim, shape, n - k, k) : Tf.zerosLike(tf, part(tf, x, dim, shape, 0, k)));
      parts.add(part(tf, x, dim, shape, 0, n - k));
    } else {
      parts.add(part(tf, x, dim, shape, -k, n + k));
      parts.add(Tf.zerosLike(tf, part(tf, x, dim, shape, 0, -k)));
    }
    return Tf.concat(tf, parts, dim);
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    return List.of(new MeshOps(graph()).shift(dys.get(0), dim, -offset, wrap));
  }
}
