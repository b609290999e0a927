package dev.neomesh.models.train;

import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.ArrayList;
import java.util.List;

/** Plain gradient descent: {@code w -= lr·g}. */
public final class Sgd implements Optimizer {
  @Override
  public List<Update> updates(MeshOps m, List<MeshTensor> params, List<MeshTensor> grads, MeshTensor lr,
      StepFeeds feeds) {
    List<Update> out = new ArrayList<>();
    for (int i = 0; i < params.size(); i++) {
      MeshTensor w = params.get(i);
      out.add(new Update(w, m.sub(w, m.mul(grads.get(i), m.cast(lr, w.dtype())))));
    }
    return out;
  }
}
