package dev.neomesh.models.gpt;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Where the tokens of one decoding run stand, and the state the runs share: the weights (made
 * once, read by the prefill and the step program alike) and the caches. A row's tokens fill cache
 * slots from 0, after {@code pad} slots of left padding, so every row's latest token is at the
 * same slot and one write per layer serves the batch; the token at slot s stands at position
 * {@code s - pad} (learned, axial or rotary), and the padding is never attended to.
 *
 * <ul>
 * <li>global attention: keys and values {@code [batch, heads, memory_length (n_ctx), kv]}; slot j is
 *     visible to the query at slot i when {@code pad <= j <= i}; a step reads the first slots only
 *     (its program's span, {@link ModelBuilder#span}).
 * <li>local attention: a ring of {@code local_memory_length = radius + chunk} slots, so a chunk's
 *     writes never evict a key its own first query still needs; entry e holds slot
 *     {@code last - (last - e) mod ring} (last: the run's latest slot), visible when in
 *     {@code (i - radius, i]} and not padding. A step reads its window, not n_ctx.
 * <li>linear attention: the running sums of {@code exp(k) v^T} and {@code exp(k)}, O(1) per token.
 * </ul>
 */
final class Decoding {
  final MeshTensor start;
  final MeshTensor pad;
  final Dim memory;
  final int chunk;
  final Map<String, MeshTensor> weights = new LinkedHashMap<>();
  final Map<String, MeshTensor> caches = new LinkedHashMap<>();

  Decoding(MeshTensor start, MeshTensor pad, int nCtx, int chunk) {
    this.start = start;
    this.pad = pad;
    this.memory = new Dim("memory_length", nCtx);
    this.chunk = chunk;
  }

  /** A state variable (zeros), made once per name and shared by the programs. */
  MeshTensor cache(MeshOps m, String name, Shape shape, DType dtype) {
    return caches.computeIfAbsent(name, n -> m.variable(n, m.zeros(shape, dtype), false));
  }

  /** int32 {@code [sequence]}: the slot of each of the run's tokens. */
  MeshTensor slots(ModelBuilder b) {
    return b.m.add(b.m.range(b.sequence, DType.INT32), start);
  }

  /** int32 {@code [batch, sequence]}: each token's position (0 for padding). */
  MeshTensor positions(ModelBuilder b) {
    return b.m.maximum(b.m.sub(slots(b), pad), b.m.scalar(0, DType.INT32));
  }

  /** The ring of a local attention layer: its window plus one chunk. */
  Dim ring(int radius) {
    return new Dim("local_memory_length", radius + chunk);
  }

  /** float32 {@code [batch, sequence, memory]}: 1 where a query may see a global cache slot (of the first memory.size()). */
  MeshTensor globalVisible(ModelBuilder b, Dim memory) {
    MeshOps m = b.m;
    MeshTensor j = m.range(memory, DType.INT32);
    return m.cast(m.logicalAnd(m.lessEqual(j, slots(b)), m.greaterEqual(j, pad)), DType.FLOAT32);
  }

  /** float32 {@code [batch, sequence, local_memory_length]}: 1 where a query may see a ring entry. */
  MeshTensor ringVisible(ModelBuilder b, Dim ring, int radius) {
    MeshOps m = b.m;
    MeshTensor last = m.add(start, m.scalar(b.sequence.size() - 1, DType.INT32));
    MeshTensor e = m.range(ring, DType.INT32);
    MeshTensor slot = m.sub(last, m.floorMod(m.sub(last, e), m.scalar(ring.size(), DType.INT32)));
    MeshTensor i = slots(b);
    MeshTensor ok = m.logicalAnd(m.lessEqual(slot, i), m.greater(slot, m.sub(i, m.scalar(radius, DType.INT32))));
    ok = m.logicalAnd(ok, m.logicalAnd(m.greaterEqual(slot, pad), m.greaterEqual(slot, m.scalar(0, DType.INT32))));
    return m.cast(ok, DType.FLOAT32);
  }

  /** float32 {@code [batch, sequence]}: 1 for the run's tokens that are not padding. */
  MeshTensor real(ModelBuilder b) {
    return b.m.cast(b.m.greaterEqual(slots(b), pad), DType.FLOAT32);
  }
}
