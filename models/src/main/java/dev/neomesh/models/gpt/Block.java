package dev.neomesh.models.gpt;

import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.models.config.AttentionType;

/**
 * One pre-norm transformer block, as GPT-Neo's {@code block}:
 * <pre>
 *   x += 0.5 * MLP_macaron(x)                 (macaron only; the main MLP is then also halved)
 *   x += rezero(Attn(norm_1(x)))              (skipped for attention type "none")
 *   x += rezero(mult * MLP(norm_2(x)))        (a mixture of experts in moe_layers)
 * </pre>
 * Attention type "none" leaves x unchanged (GPT-Neo adds x to itself there). Returns the new stream
 * and the block's MoE auxiliary loss (null when it has none).
 */
final class Block {
  private Block() {}

  record Out(MeshTensor x, MeshTensor auxLoss) {}

  static Out forward(ModelBuilder b, MeshTensor x, int layer) {
    MeshOps m = b.m;
    String scope = b.cfg.shareParameters() ? "gpt2" : "gpt2/h" + layer;
    double mult = 1.0;
    if (b.cfg.macaron()) {
      mult = 0.5;
      x = m.add(x, m.mul(Mlp.forward(b, x, scope + "/mlp_macaron"), mult));
    }
    AttentionType type = b.cfg.attentionTypes().get(layer);
    if (type != AttentionType.NONE) {
      MeshTensor a = Attention.forward(b, Norms.preNorm(b, x, scope + "/norm_1"), scope + "/attn", type);
      x = m.add(x, Norms.residual(b, a, scope + "/norm_rezero_1"));
    }
    MeshTensor normed = Norms.preNorm(b, x, scope + "/norm_2");
    MeshTensor aux = null;
    MeshTensor f;
    if (b.cfg.moeLayers().contains(layer)) {
      Moe.Out moe = Moe.forward(b, normed, scope + "/moe");
      f = moe.y();
      aux = moe.auxLoss();
    } else {
      f = Mlp.forward(b, normed, scope + "/mlp");
    }
    if (mult != 1.0) {
      f = m.mul(f, mult);
    }
    return new Out(m.add(x, Norms.residual(b, f, scope + "/norm_rezero_2")), aux);
  }
}
