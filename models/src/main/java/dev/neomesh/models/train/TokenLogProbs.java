package dev.neomesh.models.train;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.List;

/**
 * The log-probability a model gives each label, {@code log softmax(z)[label] = z_label - logsumexp(z)}
 * over {@code vocab}, in float32 and on the mesh: a split vocab dim is reduced by the lowering's
 * collectives, so nobody fetches {@code [batch, sequence, vocab]} logits to the host. The training
 * loss is its negation ({@code Gpt.crossEntropy}); {@code --score} writes it ({@link Scorer}).
 *
 * @param logProbs the labels' shape, e.g. {@code [batch, sequence]}
 * @param logSumExp {@code logsumexp(z)} over vocab, the same dims (the z-loss term squares it)
 */
public record TokenLogProbs(MeshTensor logProbs, MeshTensor logSumExp) {
  /** logits: float32 with {@code vocab}; labels: int32 ids, the logits' other dims. */
  public static TokenLogProbs of(MeshOps m, MeshTensor logits, MeshTensor labels, Dim vocab) {
    MeshTensor lse = m.logSumExp(logits, vocab.name());
    MeshTensor zLabel = m.einsum(List.of(logits, m.oneHot(labels, vocab, DType.FLOAT32)), labels.shape());
    return new TokenLogProbs(m.sub(zLabel, lse), lse);
  }
}
