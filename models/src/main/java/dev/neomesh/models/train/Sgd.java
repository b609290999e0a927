package dev.neomesh.models.train;

import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToDoubleFunction;

/** Plain gradient descent: {@code w -= lr·k·g}, k the parameter's learning-rate multiplier (1 by default). */
public final class Sgd implements Optimizer {
  private final ToDoubleFunction<MeshTensor> lrMultiplier;

  public Sgd() {
    this(t -> 1.0);
  }

  public Sgd(ToDoubleFunction<MeshTensor> lrMultiplier) {
    this.lrMultiplier = lrMultiplier;
  }

  @Override
  public List<Update> updates(MeshOps m, List<MeshTensor> params, List<MeshTensor> grads, MeshTensor lr,
      StepFeeds feeds) {
    List<Update> out = new ArrayList<>();
    for (int i = 0; i < params.size(); i++) {
      MeshTensor w = params.get(i);
      MeshTensor rate = Optimizer.rate(m, lr, lrMultiplier.applyAsDouble(w));
      out.add(new Update(w, m.sub(w, m.mul(grads.get(i), m.cast(rate, w.dtype())))));
    }
    return out;
  }
}
