package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.SliceAlign;
import dev.neomesh.mesh.lower.Tf;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/**
 * The two einsums with a one-hot operand that an embedding makes, lowered without materialising
 * the one-hot when its depth dim {@code v} is whole on every device:
 * <ul>
 *   <li>lookup, {@code einsum(onehot(ids)[..., v], table[v, ...]) -> [ids dims, table dims - v]}:
 *       a {@code Gather} of table rows (instead of a matmul with a {batch x sequence, vocab} 0/1 matrix);
 *   <li>its table gradient, {@code einsum(dy, onehot(ids)) -> [v, ...]} summing every ids dim:
 *       an {@code UnsortedSegmentSum} of dy's rows into v buckets.
 * </ul>
 * Same values, same layouts and the same plan as the general lowering (the summed dims are the
 * same), so layouts, counters and the cost model do not change; only the local work does.
 * When {@code v} is split (a vocabulary over a mesh axis) the general path runs instead: each device
 * then holds a range of v, which the one-hot's offset handles.
 */
public final class OneHotContraction {
  private OneHotContraction() {}

  /** Lowers {@code op} if it is one of the two patterns on this layout; false when it is not. */
  static boolean tryLower(EinsumOp op, LoweringContext l) {
    if (!l.options().fusedKernels()) {
      return false;
    }
    Match match = match(op, l::layout);
    if (match == null) {
      return false;
    }
    if (match.lookup()) {
      lowerLookup(op, l, match.ids(), match.other(), match.v());
    } else {
      lowerTableGradient(op, l, match.ids(), match.other(), match.v());
    }
    return true;
  }

  /** Which pattern {@code op} is under {@code layoutOf}: the one-hot's ids, the other operand, v. */
  private record Match(boolean lookup, MeshTensor ids, MeshTensor other, Dim v) {}

  private static Match match(EinsumOp op, Function<MeshTensor, TensorLayout> layoutOf) {
    if (op.inputs().size() != 2) {
      return null;
    }
    for (int k = 0; k < 2; k++) {
      MeshTensor hot = op.inputs().get(k);
      MeshTensor other = op.inputs().get(1 - k);
      if (!(hot.op() instanceof OneHotOp) || hot.dtype() != other.dtype()) {
        continue;
      }
      MeshTensor ids = hot.op().inputs().get(0);
      Dim v = hot.shape().get(hot.shape().rank() - 1);
      if (layoutOf.apply(hot).meshAxisOf(hot.shape().rank() - 1) >= 0) {
        continue;
      }
      Shape out = op.output().shape();
      // (the table of a lookup has v; the dy of a table gradient has not: requiring v of both, as this
      // did, never let a table gradient be a segment sum, and every step built the token one-hot)
      if (!out.contains(v.name()) && other.shape().contains(v.name()) && isLookup(ids, other, v, out)) {
        return new Match(true, ids, other, v);
      }
      if (out.contains(v.name()) && isTableGradient(ids, other, v, out)) {
        return new Match(false, ids, other, v);
      }
    }
    return null;
  }

  /**
   * True when the (fused) lowering under {@code layoutOf} builds the one-hot {@code hot} for none of
   * {@code readers}: each is a lookup or a table gradient it lowers to a gather or a segment sum. The
   * memory model then counts no one-hot buffer.
   */
  public static boolean neverBuilt(MeshTensor hot, List<Op> readers, Function<MeshTensor, TensorLayout> layoutOf) {
    if (!(hot.op() instanceof OneHotOp) || readers.isEmpty()) {
      return false;
    }
    for (Op r : readers) {
      if (!(r instanceof EinsumOp e) || match(e, layoutOf) == null) {
        return false;
      }
    }
    return true;
  }

  /** out = ids dims + (table dims - v), ids and table sharing no dim. */
  private static boolean isLookup(MeshTensor ids, MeshTensor table, Dim v, Shape out) {
    Shape rest = table.shape().minus(Shape.of(v));
    for (Dim d : ids.shape().dims()) {
      if (table.shape().contains(d.name())) {
        return false;
      }
    }
    return ids.shape().union(rest).sameDims(out);
  }

  /** out = [v] + (dy dims - ids dims), every ids dim summed and present in dy. */
  private static boolean isTableGradient(MeshTensor ids, MeshTensor dy, Dim v, Shape out) {
    for (Dim d : ids.shape().dims()) {
      if (!dy.shape().contains(d.name()) || out.contains(d.name())) {
        return false;
      }
    }
    if (dy.shape().contains(v.name())) {
      return false;
    }
    return dy.shape().minus(ids.shape()).union(Shape.of(v)).sameDims(out);
  }

  private static void lowerLookup(EinsumOp op, LoweringContext l, MeshTensor ids, MeshTensor table, Dim v) {
    Shape tableSlice = l.layout(table).sliceShape();
    Shape idsSlice = l.layout(ids).sliceShape();
    int axis = tableSlice.indexOf(v.name());
    List<Dim> gathered = new ArrayList<>(tableSlice.dims().subList(0, axis));
    gathered.addAll(idsSlice.dims());
    gathered.addAll(tableSlice.dims().subList(axis + 1, tableSlice.rank()));
    int[] perm = SliceAlign.permutation(new Shape(gathered), l.layout(op.output()).sliceShape());
    LaidOutTensor y = l.slicewise((tf, p, s) -> Tf.transpose(tf, gather(tf, s.get(0), s.get(1), axis), perm),
        table, ids);
    l.set(op.output(), y);
  }

  private static void lowerTableGradient(EinsumOp op, LoweringContext l, MeshTensor ids, MeshTensor dy, Dim v) {
    Shape dySlice = l.layout(dy).sliceShape();
    Shape idsSlice = l.layout(ids).sliceShape();
    Shape rest = dySlice.minus(idsSlice);
    Shape rowsFirst = idsSlice.union(rest); // ids dims in the ids' order, so the ids are a prefix
    int[] toRows = SliceAlign.permutation(dySlice, rowsFirst);
    Shape buckets = Shape.of(v).union(rest); // UnsortedSegmentSum's result: v first
    int[] toOut = SliceAlign.permutation(buckets, l.layout(op.output()).sliceShape());
    LaidOutTensor y = l.slicewise((tf, p, s) -> Tf.transpose(tf,
        segmentSum(tf, Tf.transpose(tf, s.get(0), toRows), s.get(1), v.size()), toOut), dy, ids);
    l.set(op.output(), y); // the ids dims are summed: split ones leave the plan's partial sum, as in the general lowering
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static Operand<?> gather(Ops tf, Operand table, Operand ids, int axis) {
    return tf.gather(table, ids, tf.constant(axis));
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static Operand<?> segmentSum(Ops tf, Operand rows, Operand ids, long buckets) {
    return tf.math.unsortedSegmentSum(rows, ids, tf.constant(buckets));
  }
}
