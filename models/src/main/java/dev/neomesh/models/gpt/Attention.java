package dev.neomesh.models.gpt;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.models.config.AttentionType;
import java.util.List;

/**
 * Multi-head attention as GPT-Neo (mtf {@code attention_params_simple}): q, k, v {@code [embd, heads,
 * kv]} and o {@code [heads, kv, embd]} without bias, plus an output bias {@code o_b}. q is initialised
 * N(0, n_embd^-1/2 * d_head^-1/2) and k, v, o N(0, n_embd^-1/2): the 1/sqrt(d_head) of the scores is
 * in the q init, not in the forward pass. Under {@code scale_qk_dot_by_d} (μP) q is initialised like k
 * and multiplied by attention_logits_alpha/d_head after its projection; under init_style nanogpt by
 * 1/sqrt(d_head) ({@link Mup#queryScale}), so every form below sees the same scaled q. Keys and values rename {@code sequence} to
 * {@code memory_length}, so scores are {@code [batch, heads, sequence, memory_length]} (float32).
 *
 * <ul>
 * <li>global: causal bias -1e10 for key j > query i (none when not causal, e.g. MLM), then softmax and
 *     attn_dropout.
 * <li>local: the causal window (i-R, i] (non-causal: (i-R, i+R], as mtf {@code local_attention_1d}:
 *     {@code -R < j-i <= R}). Blocked ({@link LocalAttention}), O(n·R), where {@code
 *     localAttentionBlocked(n)}; else the same as global plus keys at or before i - R masked: a banded
 *     mask over the full sequence, O(n^2).
 * <li>linear: causal {@code out_i = sum_{j<=i} (q_i.k_j) v_j / (sum_{j<=i} q_i.k_j + 1e-6)} with q
 *     softmaxed over kv and k = exp(k); non-causal {@code softmax_kv(q) . sum_j softmax_j(k) v_j}.
 *     Both in the quadratic (masked scores) form, which equals the cumulative form of GPT-Neo.
 * <li>sparse_topk K (global layers): each query keeps its K largest scores, the rest masked before
 *     the softmax ({@link #keepTopK}).
 * <li>residual_attn (RealFormer, all layers global): each layer's raw scores are the sum of its own
 *     and the previous layer's, passed on; the causal mask is added after, per layer.
 * <li>num_mem_kv: learned memory keys/values {@code [mem_kv, heads, kv]} ~ N(0, d_head^-1/2), visible
 *     to every query, joined to the scores by one softmax over memory_length and mem_kv together (no
 *     concat, so memory_length may be split and keeps its size n_ctx).
 * </ul>
 */
final class Attention {
  private Attention() {}

  static final double MASK = -1e10;

  static MeshTensor forward(ModelBuilder b, MeshTensor x, String scope, AttentionType type) {
    MeshOps m = b.m;
    double e = b.embd.size();
    double d = b.kv.size();
    Shape proj = Shape.of(b.embd, b.heads, b.kv);
    Shape qShape = Shape.of(b.batch, b.sequence, b.heads, b.kv);
    Shape kvProj = Shape.of(b.embd, b.kvHeads, b.kv);
    Shape kvShape = Shape.of(b.batch, b.sequence, b.kvHeads, b.kv);
    boolean nano = b.nanoGptInit();
    double kvStd = nano ? 0.02 : Math.pow(e, -0.5);
    double qStd = b.mup.foldsScoreScale(nano) ? kvStd * Math.pow(d, -0.5) : kvStd;
    // hidden weights (Mup): nanoGPT's 0.02 is a constant std, GPT-Neo's n_embd^-1/2 already falls with the fan-in
    MeshTensor q = m.einsum(List.of(x, b.hidden(scope + "/q", proj, Mup.FanIn.WIDTH, qStd, nano)), qShape);
    MeshTensor k = m.einsum(List.of(x, b.hidden(scope + "/k", kvProj, Mup.FanIn.WIDTH, kvStd, nano)), kvShape);
    MeshTensor v = m.einsum(List.of(x, b.hidden(scope + "/v", kvProj, Mup.FanIn.WIDTH, kvStd, nano)), kvShape);
    if (b.cfg.rotaryEmb()) {
      q = Embeddings.rotary(b, q);
      k = Embeddings.rotary(b, k);
    }
    // the scores' scale at run time (nanoGPT's 1/sqrt(d_head), scale_qk_dot_by_d's alpha/d_head) on q, so that every
    // attention form below, the decoding cache's included, scores q.k alike
    double scale = b.mup.queryScale(nano, b.kv.size());
    if (scale != 1.0) {
      q = m.mul(q, scale);
    }
    if (b.groupedQueries()) { // heads -> [kv_heads, heads_per_kv]: local when both follow the heads rule
      q = m.reshape(q, ModelBuilder.shape(b.batch, b.sequence, b.queryHeads, b.kv));
    }
    MeshTensor out;
    if (b.decoding != null) {
      out = CachedAttention.attend(b, q, k, v, scope, type);
    } else if (type == AttentionType.LOCAL && b.cfg.localAttentionBlocked(b.sequence.size())) {
      out = LocalAttention.attend(b, q, k, v);
    } else {
      k = m.rename(k, b.sequence.name(), b.memory.name());
      v = m.rename(v, b.sequence.name(), b.memory.name());
      out = type == AttentionType.LINEAR ? linear(b, q, k, v) : softmax(b, q, k, v, b.memory, visible(b, type), scope, type);
    }
    if (b.groupedQueries()) {
      out = m.reshape(out, qShape);
    }
    MeshTensor o = b.hidden(scope + "/o", Shape.of(b.heads, b.kv, b.embd), Mup.FanIn.WIDTH,
        nano ? b.nanoGptResidualStd() : Math.pow(e, -0.5), nano);
    MeshTensor y = m.einsum(List.of(out, o), b.stream());
    y = m.add(y, b.filled(scope + "/compute_output_bias/o_b", Shape.of(b.embd), 0.0));
    return b.dropout(y, b.cfg.resDropout(), scope + "/res_dropout");
  }

  /** {@code [sequence, memory_length]}: 1 where query i may see key j. */
  static MeshTensor visible(ModelBuilder b, AttentionType type) {
    MeshOps m = b.m;
    MeshTensor i = m.range(b.sequence, DType.INT32);
    MeshTensor j = m.range(b.memory, DType.INT32);
    MeshTensor ok = b.cfg.causal() ? m.lessEqual(j, i) : null;
    if (type == AttentionType.LOCAL) {
      MeshTensor r = m.scalar(b.cfg.localAttentionRadius(), DType.INT32);
      MeshTensor window = b.cfg.causal() ? m.greater(j, m.sub(i, r))
          : m.logicalAnd(m.greater(j, m.sub(i, r)), m.lessEqual(j, m.add(i, r)));
      ok = ok == null ? window : m.logicalAnd(ok, window);
    }
    return ok == null ? null : m.cast(ok, DType.FLOAT32);
  }

  /**
   * Softmax attention of queries {@code q [batch, sequence, queryHeads..., kv]} over keys and values
   * {@code [batch, memory, kvHeads, kv]} (see {@link ModelBuilder#queryHeads}), where {@code visible} (float32 1/0 over the sequence and
   * memory dims, null: all) says which keys each query sees.
   */
  static MeshTensor softmax(ModelBuilder b, MeshTensor q, MeshTensor k, MeshTensor v, Dim memory, MeshTensor visible,
      String scope, AttentionType type) {
    MeshOps m = b.m;
    Shape scoreShape = ModelBuilder.shape(b.batch, b.queryHeads, b.sequence, memory);
    MeshTensor scores = m.cast(m.einsum(List.of(q, k), scoreShape), DType.FLOAT32);
    if (b.cfg.residualAttn()) { // RealFormer: the previous layer's raw scores join this layer's, before its mask
      scores = b.residualScores == null ? scores : m.add(scores, b.residualScores);
      b.residualScores = scores;
    }
    if (visible != null) {
      scores = m.add(scores, m.mul(m.sub(1.0, visible), MASK));
    }
    if (type == AttentionType.GLOBAL && b.cfg.sparseTopk() > 0 && b.cfg.sparseTopk() < memory.size()) {
      scores = keepTopK(b, scores, memory, b.cfg.sparseTopk());
    }
    int memKv = type == AttentionType.GLOBAL ? b.cfg.numMemKv() : 0;
    if (memKv == 0) {
      MeshTensor w = m.softmax(scores, memory.name());
      if (type == AttentionType.GLOBAL) {
        w = b.dropout(w, b.cfg.attnDropout(), scope + "/attn_dropout");
      }
      return m.einsum(List.of(m.cast(w, b.act), v), ModelBuilder.shape(b.batch, b.sequence, b.queryHeads, b.kv));
    }
    Dim mem = new Dim("mem_kv", memKv);
    Shape memShape = Shape.of(mem, b.kvHeads, b.kv);
    double std = Math.pow(b.kv.size(), -0.5);
    MeshTensor memK = b.normal(scope + "/mem_k", memShape, std);
    MeshTensor memV = b.normal(scope + "/mem_v", memShape, std);
    MeshTensor memScores = m.cast(m.einsum(List.of(q, memK), ModelBuilder.shape(b.batch, b.queryHeads, b.sequence, mem)),
        DType.FLOAT32);
    MeshTensor max = m.stopGradient(m.maximum(m.reduceMax(scores, memory.name()), m.reduceMax(memScores, mem.name())));
    MeshTensor sum = m.add(m.reduceSum(m.exp(m.sub(scores, max)), memory.name()),
        m.reduceSum(m.exp(m.sub(memScores, max)), mem.name()));
    MeshTensor lse = m.add(m.log(sum), max);
    MeshTensor w = b.dropout(m.exp(m.sub(scores, lse)), b.cfg.attnDropout(), scope + "/attn_dropout");
    MeshTensor wMem = b.dropout(m.exp(m.sub(memScores, lse)), b.cfg.attnDropout(), scope + "/attn_dropout_mem");
    Shape out = ModelBuilder.shape(b.batch, b.sequence, b.queryHeads, b.kv);
    return m.add(m.einsum(List.of(m.cast(w, b.act), v), out), m.einsum(List.of(m.cast(wMem, b.act), memV), out));
  }

  /**
   * Explicit sparse attention (Zhao et al. 2019): each query keeps its {@code k} largest scores
   * (ties at the k-th kept) and the rest are masked before the softmax. The threshold is a
   * selection, not a function to differentiate, so the gradient reaches the kept scores only.
   * Masked keys rank last, so a query that sees fewer than k keys keeps all it sees.
   */
  static MeshTensor keepTopK(ModelBuilder b, MeshTensor scores, Dim memory, int k) {
    MeshOps m = b.m;
    Dim kDim = new Dim("sparse_topk", k);
    MeshTensor top = m.topK(m.stopGradient(scores), memory.name(), kDim).get(0);
    MeshTensor kth = m.reduceMin(top, MeshOps.without(top, kDim.name()));
    MeshTensor dropped = m.cast(m.less(m.stopGradient(scores), kth), DType.FLOAT32);
    return m.add(scores, m.mul(dropped, MASK));
  }

  private static MeshTensor linear(ModelBuilder b, MeshTensor q, MeshTensor k, MeshTensor v) {
    MeshOps m = b.m;
    Shape scoreShape = ModelBuilder.shape(b.batch, b.queryHeads, b.sequence, b.memory);
    Shape out = ModelBuilder.shape(b.batch, b.sequence, b.queryHeads, b.kv);
    MeshTensor qs = m.softmax(m.cast(q, DType.FLOAT32), b.kv.name());
    MeshTensor kf = m.cast(k, DType.FLOAT32);
    if (!b.cfg.causal()) {
      MeshTensor ks = m.softmax(kf, b.memory.name());
      MeshTensor a = m.einsum(List.of(qs, ks), scoreShape);
      return m.einsum(List.of(m.cast(a, b.act), v), out);
    }
    MeshTensor a = m.mul(m.einsum(List.of(qs, m.exp(kf)), scoreShape), visible(b, AttentionType.LINEAR));
    MeshTensor norm = m.reciprocal(m.add(m.reduceSum(a, b.memory.name()), 1e-6));
    return m.einsum(List.of(m.cast(m.mul(a, norm), b.act), v), out);
  }
}
