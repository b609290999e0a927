package dev.neomesh.mesh.lower;

import dev.neomesh.mesh.Shape;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/** Local (per-slice) dim reordering and broadcasting, shared by the slicewise ops. */
public final class SliceAlign {
  private SliceAlign() {}

  /**
   * Reorders the dims of a slice of shape {@code from} into the order of {@code to} (which must
   * contain them) and inserts size-1 dims for the dims of {@code to} it lacks, so that TensorFlow
   * broadcasting does the rest.
   */
  public static Operand<?> expandTo(Ops tf, Operand<?> slice, Shape from, Shape to, Shape toSlice) {
    List<Integer> order = new ArrayList<>();
    for (dev.neomesh.mesh.Dim d : to.dims()) {
      int i = from.indexOf(d.name());
      if (i >= 0) {
        order.add(i);
      }
    }
    if (order.size() != from.rank()) {
      throw new IllegalArgumentException("cannot broadcast " + from + " to " + to);
    }
    Operand<?> x = Tf.transpose(tf, slice, order.stream().mapToInt(Integer::intValue).toArray());
    if (from.rank() == to.rank()) {
      return x;
    }
    long[] shape = new long[to.rank()];
    for (int i = 0; i < to.rank(); i++) {
      shape[i] = from.contains(to.get(i).name()) ? toSlice.get(i).size() : 1;
    }
    return Tf.reshape(tf, x, shape);
  }

  /** Permutation taking a slice of shape {@code from} to the dim order of {@code to} (same names). */
  public static int[] permutation(Shape from, Shape to) {
    int[] perm = new int[to.rank()];
    for (int i = 0; i < to.rank(); i++) {
      perm[i] = from.indexOf(to.get(i).name());
    }
    return perm;
  }

}
