package dev.neomesh.models.gpt;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;

/**
 * The pre-norms of a block, over {@code embd} (a split embd costs an allreduce per mean):
 * layer norm {@code (x-mean)/sqrt(var+1e-5)*g+b}; scale norm, the mean-centred RMS norm times a
 * scalar {@code g} (init 1); and ReZero, which has no norm but scales each residual branch by a
 * scalar {@code g} (init 0). ReZero wins over scale norm, as in GPT-Neo.
 */
final class Norms {
  private Norms() {}

  static final double EPSILON = 1e-5;

  static MeshTensor layerNorm(ModelBuilder b, MeshTensor x, String scope) {
    MeshOps m = b.m;
    MeshTensor g = b.filled(scope + "/g", Shape.of(b.embd), 1.0);
    MeshTensor bias = b.filled(scope + "/b", Shape.of(b.embd), 0.0);
    MeshTensor centred = m.sub(x, m.reduceMean(x, b.embd.name()));
    MeshTensor variance = m.reduceMean(m.square(centred), b.embd.name());
    return m.add(m.mul(m.mul(centred, m.rsqrt(m.add(variance, EPSILON))), g), bias);
  }

  static MeshTensor scaleNorm(ModelBuilder b, MeshTensor x, String scope) {
    MeshOps m = b.m;
    MeshTensor g = b.filled(scope + "/g", Shape.SCALAR, 1.0);
    MeshTensor centred = m.sub(x, m.reduceMean(x, b.embd.name()));
    MeshTensor meanSquare = m.reduceMean(m.square(centred), b.embd.name());
    return m.mul(m.mul(centred, m.rsqrt(m.add(meanSquare, EPSILON))), g);
  }

  /** The block's pre-norm: identity under ReZero, else scale norm or layer norm. */
  static MeshTensor preNorm(ModelBuilder b, MeshTensor x, String scope) {
    if (b.cfg.rezero()) {
      return x;
    }
    return b.cfg.scalenorm() ? scaleNorm(b, x, scope) : layerNorm(b, x, scope);
  }

  /** The residual branch's scale: {@code g * branch} (g init 0) under ReZero, else the branch itself. */
  static MeshTensor residual(ModelBuilder b, MeshTensor branch, String scope) {
    if (!b.cfg.rezero()) {
      return branch;
    }
    return b.m.mul(branch, b.filled(scope + "/g", Shape.SCALAR, 0.0));
  }
}
