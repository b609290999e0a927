package dev.neomesh.models.gpt;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.models.config.AttentionType;
import java.util.List;

/**
 * Attention of one decoding run ({@link Decoding}): the run's keys and values are written into the
 * layer's cache, in place, at the run's slots, and its queries attend to the cache through the
 * visibility masks of {@link Decoding}, so a run of C tokens costs C writes and C rows of scores,
 * whatever came before. Each type computes what {@link Attention} computes on the whole sequence.
 */
final class CachedAttention {
  private CachedAttention() {}

  static MeshTensor attend(ModelBuilder b, MeshTensor q, MeshTensor k, MeshTensor v, String scope,
      AttentionType type) {
    MeshOps m = b.m;
    Decoding d = b.decoding;
    Dim block = new Dim("cache_block", b.sequence.size()); // unsplit, whatever the rules say of sequence
    k = m.rename(k, b.sequence.name(), block.name());
    v = m.rename(v, b.sequence.name(), block.name());
    switch (type) {
      case GLOBAL -> {
        Shape shape = Shape.of(b.batch, b.kvHeads, d.memory, b.kv); // the order the scores' batch matmul reads
        MeshTensor keys = m.writeStateBlock(d.cache(m, scope + "/k_cache", shape, b.act), k, d.memory.name(), d.start);
        MeshTensor values = m.writeStateBlock(d.cache(m, scope + "/v_cache", shape, b.act), v, d.memory.name(), d.start);
        Dim memory = d.memory;
        if (b.span < memory.size()) { // the first span slots: where every token of this program stands
          keys = m.slice(keys, memory.name(), 0, b.span);
          values = m.slice(values, memory.name(), 0, b.span);
          memory = new Dim(memory.name(), b.span);
        }
        return Attention.softmax(b, q, keys, values, memory, d.globalVisible(b, memory), scope, type);
      }
      case LOCAL -> {
        int radius = b.cfg.localAttentionRadius();
        Dim ring = d.ring(radius);
        Shape shape = Shape.of(b.batch, b.kvHeads, ring, b.kv);
        MeshTensor keys = m.writeStateRing(d.cache(m, scope + "/k_cache", shape, b.act), k, ring.name(), d.start);
        MeshTensor values = m.writeStateRing(d.cache(m, scope + "/v_cache", shape, b.act), v, ring.name(), d.start);
        return Attention.softmax(b, q, keys, values, ring, d.ringVisible(b, ring, radius), scope, type);
      }
      case LINEAR -> {
        return linear(b, q, k, v, block, scope);
      }
      default -> throw new IllegalArgumentException("no attention to cache for type " + type);
    }
  }

  /**
   * Causal linear attention with running sums: {@code S = sum_j exp(k_j) v_j^T} and
   * {@code z = sum_j exp(k_j)} over the tokens so far (a run at slot 0 starts them afresh). A query
   * of the run sees the sums before the run plus the run's tokens up to its own; the last query
   * reads the sums after the run's write, which makes the write part of the program.
   */
  private static MeshTensor linear(ModelBuilder b, MeshTensor q, MeshTensor k, MeshTensor v, Dim block, String scope) {
    MeshOps m = b.m;
    Decoding d = b.decoding;
    Dim kvOut = new Dim("kv_value", b.kv.size());
    Shape stateShape = Shape.of(b.batch, b.kvHeads, b.kv, kvOut);
    Shape normShape = Shape.of(b.batch, b.kvHeads, b.kv);
    MeshTensor state = d.cache(m, scope + "/linear_state", stateShape, DType.FLOAT32);
    MeshTensor norm = d.cache(m, scope + "/linear_norm", normShape, DType.FLOAT32);
    MeshTensor keep = m.cast(m.greater(d.start, m.scalar(0, DType.INT32)), DType.FLOAT32);
    MeshTensor statePrev = m.mul(state, keep);
    MeshTensor normPrev = m.mul(norm, keep);

    MeshTensor qs = m.softmax(m.cast(q, DType.FLOAT32), b.kv.name());
    MeshTensor real = m.rename(d.real(b), b.sequence.name(), block.name());
    MeshTensor ek = m.mul(m.exp(m.cast(k, DType.FLOAT32)), real); // padding adds nothing
    MeshTensor vf = m.rename(m.cast(v, DType.FLOAT32), b.kv.name(), kvOut.name());
    MeshTensor stateAfter = m.writeState(state, m.add(statePrev, m.einsum(List.of(ek, vf), stateShape)));
    MeshTensor normAfter = m.writeState(norm, m.add(normPrev, m.reduceSum(ek, block.name())));

    Shape outShape = ModelBuilder.shape(b.batch, b.sequence, b.queryHeads, kvOut);
    Shape denShape = ModelBuilder.shape(b.batch, b.sequence, b.queryHeads);
    // earlier queries: the sums before the run plus the run's tokens j <= i
    MeshTensor i = m.range(b.sequence, DType.INT32);
    MeshTensor j = m.range(block, DType.INT32);
    MeshTensor a = m.mul(m.einsum(List.of(qs, ek), ModelBuilder.shape(b.batch, b.queryHeads, b.sequence, block)),
        m.cast(m.lessEqual(j, i), DType.FLOAT32));
    MeshTensor num = m.add(m.einsum(List.of(a, vf), outShape), m.einsum(List.of(qs, statePrev), outShape));
    MeshTensor den = m.add(m.reduceSum(a, block.name()), m.einsum(List.of(qs, normPrev), denShape));
    // the last query: the sums after the run
    MeshTensor numLast = m.einsum(List.of(qs, stateAfter), outShape);
    MeshTensor denLast = m.einsum(List.of(qs, normAfter), denShape);
    MeshTensor isLast = m.equal(i, m.scalar(b.sequence.size() - 1, DType.INT32));
    num = m.where(isLast, numLast, num);
    den = m.where(isLast, denLast, den);
    MeshTensor out = m.div(num, m.add(den, 1e-6));
    return m.cast(m.rename(out, kvOut.name(), b.kv.name()), b.act);
  }
}
