package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.LayoutException;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.lower.LoweringContext;

/** The check shared by slice, concat and pad: they work along one dim, which must not be split. */
final class UnsplitDims {
  private UnsplitDims() {}

  /** Every input and output of {@code op} must leave {@code dim} unsplit. */
  static void require(LoweringContext l, Op op, String dim) {
    op.inputs().forEach(t -> require(l, t, dim, op.name()));
    op.outputs().forEach(t -> require(l, t, dim, op.name()));
  }

  /** Tensor {@code t} must leave {@code dim} unsplit. */
  static void require(LoweringContext l, MeshTensor t, String dim, String opName) {
    TensorLayout layout = l.layout(t);
    int i = t.shape().indexOf(dim);
    int axis = layout.meshAxisOf(i);
    if (axis >= 0) {
      String axisName = l.mesh().axes().get(axis).name();
      throw new LayoutException("Op \"" + opName + "\" works along dim \"" + dim + "\" of tensor \"" + t.name()
          + "\", which the layout splits over mesh axis \"" + axisName + "\" (rule \"" + dim + ":" + axisName
          + "\"). Slice, concat and pad need that dim unsplit: drop the rule for \"" + dim + "\"");
    }
  }
}
