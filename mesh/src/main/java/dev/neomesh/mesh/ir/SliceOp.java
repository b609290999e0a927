package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.Tf;
import java.util.List;

/** The part {@code [begin, begin+size)} of one dim, which must be unsplit; the dim keeps its name. */
public final class SliceOp extends Op implements UnsplitDimOp {
  private final String dim;
  private final int begin;

  SliceOp(MeshGraph g, MeshTensor x, String dim, int begin, int size) {
    super(g, "slice", List.of(x));
    int full = x.shape().dim(dim).size();
    if (begin < 0 || size <= 0 || begin + size > full) {
      throw new IllegalArgumentException("slice [" + begin + "," + (begin + size) + ") is outside dim " + dim + " of " + x);
    }
    this.dim = dim;
    this.begin = begin;
    addOutput(x.shape().resize(dim, size), x.dtype());
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
    long[] size = l.layout(output()).sliceShape().sizes();
    long[] start = new long[size.length];
    start[i] = begin;
    l.set(output(), l.slicewise((tf, p, s) -> Tf.slice(tf, s.get(0), start, size), x));
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    int full = inputs().get(0).shape().dim(dim).size();
    int size = output().shape().dim(dim).size();
    return List.of(new MeshOps(graph()).pad(dys.get(0), dim, begin, full - begin - size));
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
