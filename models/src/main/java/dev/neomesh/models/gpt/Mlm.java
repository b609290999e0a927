package dev.neomesh.models.gpt;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;

/**
 * Masked-LM input masking, in the graph: a token is maskable when it is not 0 and not in
 * {@code mlm_mask_ignore_ids}; it is masked with probability {@code mlm_mask_prob}; a masked token
 * stays itself with probability {@code mlm_same_token_prob}, becomes a random token with probability
 * {@code mlm_random_token_prob}, else {@code mlm_mask_id}. As GPT-Neo, the random token is drawn from
 * [1, n_vocab) and never fed when it is an ignore id (the position then gets {@code mlm_mask_id}, as
 * GPT-Neo's mask overrides a rejected substitution), so neither 0 nor an ignore id is fed. The loss is on the masked positions (GPT-Neo
 * inverts its labels and lands the loss on the unmasked ones; that is its bug, not followed here).
 */
final class Mlm {
  private Mlm() {}

  record Masked(MeshTensor inputs, MeshTensor lossWeights) {}

  static Masked mask(ModelBuilder b, MeshTensor tokens) {
    MeshOps m = b.m;
    Shape shape = tokens.shape();
    MeshTensor maskable = m.notEqual(tokens, m.scalar(0, DType.INT32));
    for (int id : b.cfg.mlmMaskIgnoreIds()) {
      maskable = m.logicalAnd(maskable, m.notEqual(tokens, m.scalar(id, DType.INT32)));
    }
    MeshTensor masked = m.logicalAnd(maskable,
        m.less(b.stepUniform(shape, "gpt2/mlm/mask"), m.scalar(b.cfg.mlmMaskProb(), DType.FLOAT32)));
    MeshTensor choice = b.stepUniform(shape, "gpt2/mlm/replace");
    double same = b.cfg.mlmSameTokenProb();
    double random = b.cfg.mlmRandomTokenProb();
    MeshTensor keepSame = m.less(choice, m.scalar(same, DType.FLOAT32));
    MeshTensor useRandom = m.logicalAnd(m.logicalNot(keepSame), m.less(choice, m.scalar(same + random, DType.FLOAT32)));
    MeshTensor randomToken = m.add(m.cast(m.floor(m.mul(b.stepUniform(shape, "gpt2/mlm/random_token"),
        (double) (b.cfg.nVocab() - 1))), DType.INT32), m.scalar(1, DType.INT32));
    for (int id : b.cfg.mlmMaskIgnoreIds()) {
      useRandom = m.logicalAnd(useRandom, m.notEqual(randomToken, m.scalar(id, DType.INT32)));
    }
    MeshTensor replaced = m.where(useRandom, randomToken, m.constant(b.cfg.mlmMaskId(), shape, DType.INT32));
    MeshTensor inputs = m.where(m.logicalAnd(masked, m.logicalNot(keepSame)), replaced, tokens);
    MeshTensor maskF = m.cast(masked, DType.FLOAT32);
    MeshTensor count = m.maximum(m.reduceSum(maskF, Shape.SCALAR), 1.0);
    return new Masked(inputs, m.div(maskF, count));
  }
}
