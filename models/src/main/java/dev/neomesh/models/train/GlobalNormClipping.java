package dev.neomesh.models.train;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Global-norm gradient clipping as GPT-Neo: every gradient times {@code c / max(‖g‖, c)}, where
 * {@code ‖g‖} is the norm of all gradients together. The norm is a sum of per-tensor reductions,
 * each laid out like its gradient (an allreduce where a gradient is split).
 */
public final class GlobalNormClipping {
  private GlobalNormClipping() {}

  /** The clipped gradients and the global norm before clipping (float32 scalar). */
  public record Clipped(List<MeshTensor> grads, MeshTensor norm) {}

  /** The global norm of {@code grads} as a float32 scalar. */
  public static MeshTensor globalNorm(MeshOps m, List<MeshTensor> grads) {
    MeshTensor sum = null;
    for (MeshTensor g : grads) {
      MeshTensor s = m.cast(m.sumOfSquares(g, Shape.SCALAR), DType.FLOAT32);
      sum = sum == null ? s : m.add(sum, s);
    }
    return m.sqrt(sum == null ? m.scalar(0, DType.FLOAT32) : sum);
  }

  /** Clips to {@code clip}; {@code clip <= 0} leaves the gradients alone (the norm is still computed). */
  public static Clipped clip(MeshOps m, List<MeshTensor> grads, double clip) {
    MeshTensor norm = globalNorm(m, grads);
    if (!(clip > 0)) {
      return new Clipped(grads, norm);
    }
    MeshTensor scale = m.div(m.scalar(clip, DType.FLOAT32), m.maximum(norm, clip));
    List<MeshTensor> out = new ArrayList<>();
    for (MeshTensor g : grads) {
      out.add(m.mul(g, m.cast(scale, g.dtype())));
    }
    return new Clipped(out, norm);
  }
}
