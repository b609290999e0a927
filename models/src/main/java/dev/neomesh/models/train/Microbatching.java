package dev.neomesh.models.train;

import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.NeomeshException;
import java.util.Optional;

/**
 * GPT-Neo's microbatch count: with {@code tokens_per_mb_per_replica} set, each replica (one slice
 * of the {@code batch} dim) processes {@code mb = max(1, tokens // n_ctx)} examples at a time,
 * shrunk until it divides the batch per replica; the step then runs
 * {@code batchPerReplica / mb} microbatches and applies their averaged gradient once.
 */
public final class Microbatching {
  private Microbatching() {}

  /** How many replicas the {@code batch} dim is split into under {@code rules} on {@code mesh}. */
  public static int replicas(MeshShape mesh, LayoutRules rules) {
    Optional<String> axis = rules.axisFor("batch");
    if (axis.isEmpty()) {
      return 1;
    }
    for (int i = 0; i < mesh.rank(); i++) {
      if (mesh.axes().get(i).name().equals(axis.get())) {
        return mesh.axisSize(i);
      }
    }
    return 1;
  }

  /** The number of microbatches per step (1 when {@code tokensPerMbPerReplica} is null or not positive). */
  public static int count(Integer tokensPerMbPerReplica, int nCtx, int batchSize, int replicas) {
    if (tokensPerMbPerReplica == null || tokensPerMbPerReplica <= 0) {
      return 1;
    }
    if (batchSize % replicas != 0) {
      throw new NeomeshException("train_batch_size " + batchSize + " is not divisible by the " + replicas
          + " replicas the batch dim is split into; choose a batch size that is a multiple of " + replicas);
    }
    int perReplica = batchSize / replicas;
    int mb = Math.max(1, tokensPerMbPerReplica / nCtx);
    mb = Math.min(mb, perReplica);
    while (perReplica % mb != 0) {
      mb--;
    }
    return perReplica / mb;
  }
}
