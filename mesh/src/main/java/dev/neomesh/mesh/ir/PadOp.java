package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.lower.LoweringContext;
import java.util.List;
import org.tensorflow.Operand;

/** Zeros added before and after one dim, which must be unsplit; the dim keeps its name. */
public final class PadOp extends Op implements UnsplitDimOp {
  private final String dim;
  private final int before;
  private final int after;

  PadOp(MeshGraph g, MeshTensor x, String dim, int before, int after) {
    super(g, "pad", List.of(x));
    if (before < 0 || after < 0) {
      throw new IllegalArgumentException("negative padding of " + dim);
    }
    this.dim = dim;
    this.before = before;
    this.after = after;
    addOutput(x.shape().resize(dim, x.shape().dim(dim).size() + before + after), x.dtype());
  }

  @Override
  public String dim() {
    return dim;
  }

  @Override
  public void lower(LoweringContext l) {
    MeshTensor x = inputs().get(0);
    UnsplitDims.require(l, this, dim);
    int i = x.shape().indexOf(dim);
    int[][] paddings = new int[x.shape().rank()][2];
    paddings[i][0] = before;
    paddings[i][1] = after;
    l.set(output(), l.slicewise((tf, p, s) -> pad(tf, s.get(0), paddings), x));
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private Operand<?> pad(org.tensorflow.op.Ops tf, Operand x, int[][] paddings) {
    return tf.pad(x, tf.constant(paddings), (Operand) dev.neomesh.mesh.lower.Tf.constant(tf, 0, output().dtype()));
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    return List.of(new MeshOps(graph()).slice(dys.get(0), dim, before, inputs().get(0).shape().dim(dim).size()));
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
