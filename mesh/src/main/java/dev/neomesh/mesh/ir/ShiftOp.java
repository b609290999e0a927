package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.comm.Comm;
import dev.neomesh.mesh.comm.CommPlan;
import dev.neomesh.mesh.comm.PlanContext;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.LoweringContext;
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

  /**
   * The input whole; on a split dim, the shift of whole slices by {@code floor(offset / slice)}
   * devices, and when the offset is not a multiple of the slice length a second one by one device
   * more (each device then joins the tail of one to the head of the other).
   */
  @Override
  public CommPlan plan(PlanContext c) {
    MeshTensor x = inputs().get(0);
    CommPlan.Builder b = CommPlan.builder(c).resolve(x);
    int axis = c.axisOf(x, dim);
    if (axis >= 0) {
      int block = c.layout(x).sliceShape().dim(dim).size();
      int q = Math.floorDiv(offset, block);
      b.shift(axis, q, wrap, c.sliceBytes(x), c.sliceElements(x));
      if (Math.floorMod(offset, block) != 0) {
        b.shift(axis, q + 1, wrap, c.sliceBytes(x), c.sliceElements(x));
      }
    }
    return b.build();
  }

  @Override
  public void lower(LoweringContext l) {
    MeshTensor x = inputs().get(0);
    int i = x.shape().indexOf(dim);
    long[] slice = l.layout(x).sliceShape().sizes();
    List<Comm> steps = l.plan().steps();
    if (steps.isEmpty()) { // the dim is whole on every device
      l.set(output(), l.slicewise((tf, p, s) -> localShift(tf, s.get(0), i, slice, offset, wrap), x));
      return;
    }
    LaidOutTensor v = l.get(x);
    LaidOutTensor a = l.run(steps.get(0), v);
    if (steps.size() == 1) {
      l.set(output(), a);
      return;
    }
    int block = (int) slice[i];
    int r = Math.floorMod(offset, block);
    LaidOutTensor b = l.run(steps.get(1), v);
    l.set(output(), l.slicewise((tf, p, s) -> {
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

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
