package dev.neomesh.models.train;

import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.List;

/**
 * What generation needs of a model: two programs on one graph that share the weights and a
 * per-row decoding state (key/value caches): a chunk program that reads a block of prompt tokens
 * (the prefill) and a one-token step, each writing its tokens' state at cache slots
 * {@code [start, start + chunk)} and returning each row's next id, drawn on the devices.
 */
public interface Generative {
  /**
   * The programs for {@code batch} rows, the prefill reading {@code chunk} tokens per run, the next
   * id drawn by {@code sampling}.
   */
  Decoder decoder(MeshOps m, int batch, int chunk, Sampling sampling);

  /**
   * {@code start}: int32 scalar, the cache slot of a run's first token. {@code pad}: int32
   * {@code [batch]}, each row's left padding: its slots below it hold no token, and its token at
   * slot s stands at position {@code s - pad}. {@code slots}: the cache length (a row's context).
   */
  record Decoder(MeshTensor start, MeshTensor pad, Program prefill, Program step, List<MeshTensor> parameters,
                 int slots, long cacheBytesPerRow) {}

  /** int32 {@code tokens [batch, chunk]} in, int32 {@code next [batch]} out. */
  record Program(MeshTensor tokens, MeshTensor next) {}
}
