package dev.neomesh.models.gpt;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Blocked local attention of a whole-sequence pass, as mtf {@code local_attention_1d}: the sequence
 * is cut into blocks of R = local_attention_radius queries, and each block attends to its own keys
 * and the previous block's (non-causal: the next block's too), a halo brought by a shift of one block
 * along the blocks dim. Scores are {@code [batch, sequence/R, heads, block_length, memory_block_length
 * (2R, non-causal 3R)]}: O(n·R) instead of the banded mask's O(n²), with the same values, because
 * every key of the window (i−R, i] (non-causal (i−R, i+R]) lies in those blocks.
 *
 * <p>The blocks dim keeps the name {@code sequence} (as mtf does), so a rule that splits sequence
 * splits the blocks: the reshape into blocks is local and the halo shift a neighbour transfer. Such
 * a rule then needs n_ctx / R divisible by its mesh axis. Which layers are blocked: {@link
 * dev.neomesh.models.config.GptConfig#localAttentionBlocked(int)}.
 */
final class LocalAttention {
  private LocalAttention() {}

  /**
   * Queries {@code [batch, sequence, queryHeads..., kv]}, keys and values {@code [batch, sequence,
   * kvHeads, kv]}; returns {@code [batch, sequence, queryHeads..., kv]}.
   */
  static MeshTensor attend(ModelBuilder b, MeshTensor q, MeshTensor k, MeshTensor v) {
    MeshOps m = b.m;
    int r = b.cfg.localAttentionRadius();
    // the blocks keep sequence's name, so a sequence rule splits them and the reshape moves nothing
    Dim blocks = new Dim(b.sequence.name(), b.sequence.size() / r);
    Dim query = new Dim("block_length", r);
    Dim key = new Dim("memory_block_length", r);
    Shape queries = ModelBuilder.shape(b.batch, blocks, query, b.queryHeads, b.kv);
    Shape keys = Shape.of(b.batch, blocks, key, b.kvHeads, b.kv);
    boolean next = !b.cfg.causal(); // the non-causal window reaches R keys past the query
    MeshTensor kw = window(m, m.reshape(k, keys), blocks, key, next);
    MeshTensor vw = window(m, m.reshape(v, keys), blocks, key, next);
    Dim win = kw.shape().dim(key.name());
    // blocks before heads, as in q and k: [batch, heads, blocks, ...] measured 3.0x less memory than
    // banded instead of 3.6x (docs/BENCHMARKS.md), presumably a transpose of every score tensor
    Shape scoreShape = ModelBuilder.shape(b.batch, blocks, b.queryHeads, query, win);
    MeshTensor scores = m.cast(m.einsum(List.of(m.reshape(q, queries), kw), scoreShape), DType.FLOAT32);
    scores = m.add(scores, m.mul(m.sub(1.0, visible(b, blocks, query, win)), Attention.MASK));
    MeshTensor w = m.softmax(scores, win.name());
    MeshTensor out = m.einsum(List.of(m.cast(w, b.act), vw), queries);
    return m.reshape(out, ModelBuilder.shape(b.batch, b.sequence, b.queryHeads, b.kv));
  }

  /**
   * Each block's keys (or values) joined along {@code key}: the previous block's (zeros before the
   * first block, masked), its own, and with {@code next} the next block's.
   */
  private static MeshTensor window(MeshOps m, MeshTensor x, Dim blocks, Dim key, boolean next) {
    List<MeshTensor> parts = new ArrayList<>();
    parts.add(m.shift(x, blocks.name(), 1, false));
    parts.add(x);
    if (next) {
      parts.add(m.shift(x, blocks.name(), -1, false));
    }
    return m.concat(parts, key.name());
  }

  /**
   * {@code [blocks, block_length, window]}: 1 where query i = block·R + a sees key j = (block−1)·R + c,
   * by the banded form's rule, and j is a position of the sequence (the halo of the first and last
   * blocks is not).
   */
  private static MeshTensor visible(ModelBuilder b, Dim blocks, Dim query, Dim win) {
    MeshOps m = b.m;
    MeshTensor r = m.scalar(query.size(), DType.INT32);
    MeshTensor start = m.mul(m.range(blocks, DType.INT32), r);
    MeshTensor i = m.add(start, m.range(query, DType.INT32));
    MeshTensor j = m.add(m.sub(start, r), m.range(win, DType.INT32));
    MeshTensor ok = m.logicalAnd(m.greater(j, m.sub(i, r)), m.greaterEqual(j, m.scalar(0, DType.INT32)));
    ok = b.cfg.causal() ? m.logicalAnd(ok, m.lessEqual(j, i))
        : m.logicalAnd(ok, m.logicalAnd(m.lessEqual(j, m.add(i, r)), m.less(j, m.scalar(b.sequence.size(), DType.INT32))));
    return m.cast(ok, DType.FLOAT32);
  }
}
