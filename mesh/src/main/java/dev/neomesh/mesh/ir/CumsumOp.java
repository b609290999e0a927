package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.lower.LoweringContext;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.math.Cumsum;
import org.tensorflow.types.family.TNumber;

/**
 * The running sum along one dim, which must be unsplit, by TensorFlow's Cumsum: linear in the dim,
 * for dims too long for {@link MeshOps#cumsum}'s triangular einsum (a sorted vocabulary). Not
 * differentiable; the einsum form is, and works on a split dim.
 */
public final class CumsumOp extends Op implements UnsplitDimOp {
  private final String dim;
  private final boolean exclusive;

  CumsumOp(MeshGraph g, MeshTensor x, String dim, boolean exclusive) {
    super(g, "cumsum", List.of(x));
    x.shape().dim(dim); // the dim must exist
    this.dim = dim;
    this.exclusive = exclusive;
    addOutput(x.shape(), x.dtype());
  }

  @Override
  public String dim() {
    return dim;
  }

  @Override
  public boolean hasGradient() {
    return false;
  }

  @Override
  @SuppressWarnings("unchecked")
  public void lower(LoweringContext l) {
    MeshTensor x = inputs().get(0);
    UnsplitDims.require(l, this, dim);
    int axis = x.shape().indexOf(dim);
    l.set(output(), l.slicewise((tf, p, s) -> tf.math.cumsum((Operand<TNumber>) s.get(0), tf.constant(axis),
        Cumsum.exclusive(exclusive)), x));
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
