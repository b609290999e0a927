package dev.neomesh.models.gpt;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.List;

/**
 * The feed-forward branch: {@code c_proj(act(c_fc(x)))} over {@code intermediate_expanded} (4 n_embd),
 * dense layers with bias initialised N(0, 0.02) (times 1/sqrt(n_layer) for c_proj under
 * scale_by_depth, times 1/sqrt(fan_in) for both under scale_by_in). Under mlp_glu, c_fc is 8 n_embd
 * wide and its two halves are {@code h} and {@code gate}: {@code c_proj(h * act(gate))} (GPT-Neo's
 * version crashes). The halves are taken by reshaping c_fc's kernel to {@code [embd, glu:2,
 * intermediate_expanded]}, so no slice of a possibly split dim is needed. Under μP both kernels are
 * hidden weights ({@link Mup}): c_fc std 0.02/sqrt(width_mult), c_proj /sqrt(filter_mult) (unchanged
 * under scale_by_in, whose std already falls with the fan-in), learning rates lr/width_mult and lr/filter_mult.
 */
final class Mlp {
  private Mlp() {}

  static MeshTensor forward(ModelBuilder b, MeshTensor x, String scope) {
    MeshOps m = b.m;
    int width = 4 * b.embd.size();
    Dim hidden = new Dim("intermediate_expanded", width);
    MeshTensor h;
    if (b.cfg.mlpGlu()) {
      Dim wide = new Dim("intermediate_expanded", 2 * width);
      Dim glu = new Dim("glu", 2);
      MeshTensor kernel = b.hidden(scope + "/conv1d_main/c_fc/kernel", Shape.of(b.embd, wide), Mup.FanIn.WIDTH,
          std(b, b.embd, false), !b.cfg.scaleByIn());
      MeshTensor bias = b.filled(scope + "/conv1d_main/c_fc/bias", Shape.of(wide), 0.0);
      kernel = m.reshape(kernel, Shape.of(b.embd, glu, hidden));
      bias = m.reshape(bias, Shape.of(glu, hidden));
      MeshTensor both = m.add(m.einsum(List.of(x, kernel), Shape.of(b.batch, b.sequence, glu, hidden)), bias);
      MeshTensor half = m.range(glu, DType.INT32);
      MeshTensor first = m.cast(m.equal(half, m.scalar(0, DType.INT32)), b.act);
      MeshTensor second = m.cast(m.equal(half, m.scalar(1, DType.INT32)), b.act);
      Shape out = Shape.of(b.batch, b.sequence, hidden);
      h = m.mul(m.einsum(List.of(both, first), out), b.activation(b.cfg.activationFn(), m.einsum(List.of(both, second), out)));
    } else {
      h = b.activation(b.cfg.activationFn(), dense(b, x, scope + "/conv1d_main/c_fc", b.embd, hidden, false,
          Mup.FanIn.WIDTH));
    }
    MeshTensor y = dense(b, h, scope + "/conv1d_main/c_proj", hidden, b.embd, true, Mup.FanIn.FILTER);
    return b.dropout(y, b.cfg.resDropout(), scope + "/res_dropout");
  }

  static double std(ModelBuilder b, Dim in, boolean residualProjection) {
    double std = 0.02;
    if (residualProjection && b.nanoGptInit()) {
      std = b.nanoGptResidualStd();
    } else if (residualProjection && b.cfg.scaleByDepth()) {
      std /= Math.sqrt(b.cfg.nLayer());
    }
    if (b.cfg.scaleByIn()) {
      std /= Math.sqrt(in.size());
    }
    return std;
  }

  /**
   * GPT-Neo's {@code linear}: {@code x . kernel[in, out] + bias[out]}, replacing dim {@code in} by {@code out}.
   * {@code fanIn}: which width the kernel's fan-in is, for μP's rules ({@link ModelBuilder#hidden}); null for a
   * vector-like kernel (the untied output layer, whose fan-out is the vocabulary).
   */
  static MeshTensor dense(ModelBuilder b, MeshTensor x, String scope, Dim in, Dim out, boolean residualProjection,
      Mup.FanIn fanIn) {
    MeshOps m = b.m;
    double std = std(b, in, residualProjection);
    MeshTensor kernel = fanIn == null ? b.normal(scope + "/kernel", Shape.of(in, out), std)
        : b.hidden(scope + "/kernel", Shape.of(in, out), fanIn, std, !b.cfg.scaleByIn());
    MeshTensor bias = b.filled(scope + "/bias", Shape.of(out), 0.0);
    Shape y = new Shape(x.shape().dims().stream().map(d -> d.name().equals(in.name()) ? out : d).toList());
    return m.add(m.einsum(List.of(x, kernel), y), bias);
  }
}
