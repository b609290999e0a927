package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.Tf;
import java.util.ArrayList;
import java.util.List;

/** Joins tensors along one dim, which must be unsplit; the other dims must agree. */
public final class ConcatOp extends Op implements UnsplitDimOp {
  private final String dim;

  ConcatOp(MeshGraph g, List<MeshTensor> xs, String dim) {
    super(g, "concat", xs);
    this.dim = dim;
    int total = 0;
    Shape first = xs.get(0).shape();
    for (MeshTensor x : xs) {
      if (!x.shape().resize(dim, 1).equals(first.resize(dim, 1)) || x.dtype() != xs.get(0).dtype()) {
        throw new IllegalArgumentException("concat along " + dim + " of mismatched tensors " + xs);
      }
      total += x.shape().dim(dim).size();
    }
    addOutput(first.resize(dim, total), xs.get(0).dtype());
  }

  @Override
  public String dim() {
    return dim;
  }

  @Override
  public void lower(LoweringContext l) {
    UnsplitDims.require(l, this, dim);
    int axis = output().shape().indexOf(dim);
    l.set(output(), l.slicewise((tf, p, s) -> Tf.concat(tf, s, axis), inputs().toArray(MeshTensor[]::new)));
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    MeshOps m = new MeshOps(graph());
    List<MeshTensor> grads = new ArrayList<>();
    int begin = 0;
    for (MeshTensor x : inputs()) {
      int size = x.shape().dim(dim).size();
      grads.add(m.slice(dys.get(0), dim, begin, size));
      begin += size;
    }
    return grads;
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
