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
   * id drawn by {@code sampling}; one step program per entry of {@code spans} (ascending, the last
   * the whole cache), each reading only the first {@code span} slots of the global caches.
   */
  Decoder decoder(MeshOps m, int batch, int chunk, Sampling sampling, List<Integer> spans);

  /** What the key/value cache's size owes to the model, for the line that prints it ("" when nothing). */
  default String cacheNote() {
    return "";
  }

  /**
   * {@code start}: int32 scalar, the cache slot of a run's first token. {@code pad}: int32
   * {@code [batch]}, each row's left padding: its slots below it hold no token, and its token at
   * slot s stands at position {@code s - pad}. {@code slots}: the cache length (a row's context).
   * {@code steps}: the step programs of {@code spans}.
   */
  record Decoder(MeshTensor start, MeshTensor pad, Program prefill, List<Program> steps, List<Integer> spans,
                 List<MeshTensor> parameters, int slots, long cacheBytesPerRow) {
    /** The step program for a token at {@code slot}: the shortest span that holds it. */
    public Program step(int slot) {
      for (int i = 0; i < spans.size(); i++) {
        if (slot < spans.get(i)) {
          return steps.get(i);
        }
      }
      throw new IllegalArgumentException("slot " + slot + " is past the cache's " + slots);
    }
  }

  /** int32 {@code tokens [batch, chunk]} in, int32 {@code next [batch]} out. */
  record Program(MeshTensor tokens, MeshTensor next) {}
}
