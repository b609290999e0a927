package dev.neomesh.models.gpt;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.List;

/**
 * Token and position embeddings. {@code wte [vocab, embd]} ~ N(0, 0.02) is gathered by a one-hot
 * einsum (so a split vocab costs one allreduce). Positions are learned ({@code wpe [embed_sequence,
 * embd]} ~ N(0, 0.01)), axial ({@code wpe[i*a2+j] = (W1[i] + W2[j]) / 2}) or none (rotary, applied
 * inside attention). As GPT-Neo, dropout hits the token and the position embeddings separately.
 */
final class Embeddings {
  private Embeddings() {}

  static MeshTensor wte(ModelBuilder b) {
    return b.normal("gpt2/wte", Shape.of(b.vocab, b.embd), 0.02);
  }

  /** {@code (wte[tokens] + wpe[positions]) · embeddings_scale} (the scale Cerebras' μP configs set; 1 by default). */
  static MeshTensor embed(ModelBuilder b, MeshTensor tokens) {
    MeshOps m = b.m;
    MeshTensor h = b.dropout(m.gather(wte(b), tokens, "vocab"), b.cfg.embedDropout(), "gpt2/embed_dropout/wte");
    MeshTensor pos = positions(b);
    if (pos != null) {
      h = m.add(h, b.dropout(pos, b.cfg.embedDropout(), "gpt2/embed_dropout/wpe"));
    }
    double scale = b.mup.embeddingsScale();
    return scale == 1.0 ? h : m.mul(h, scale);
  }

  /**
   * int32 positions of the tokens: {@code [sequence]} 0, 1, ... for a whole sequence, {@code [batch,
   * sequence]} when decoding (each row's tokens stand after its left padding).
   */
  static MeshTensor positionIds(ModelBuilder b) {
    return b.decoding == null ? b.m.range(b.sequence, DType.INT32) : b.decoding.positions(b);
  }

  /** {@code [sequence, embd]} ({@code [batch, sequence, embd]} when decoding), or null under rotary embeddings. */
  private static MeshTensor positions(ModelBuilder b) {
    MeshOps m = b.m;
    if (b.cfg.rotaryEmb()) {
      return null;
    }
    List<Integer> axial = b.cfg.axialPosEmb();
    if (!axial.isEmpty()) {
      Dim d1 = new Dim("axial_dim_0", axial.get(0));
      Dim d2 = new Dim("axial_dim_1", axial.get(1));
      MeshTensor w1 = b.normal("gpt2/axial_wpe_1", Shape.of(d1, b.embd), 0.01);
      MeshTensor w2 = b.normal("gpt2/axial_wpe_2", Shape.of(d2, b.embd), 0.01);
      MeshTensor pos = positionIds(b);
      MeshTensor a2 = m.scalar(axial.get(1), DType.INT32);
      MeshTensor e = m.add(m.gather(w1, m.floorDiv(pos, a2), d1.name()), m.gather(w2, m.floorMod(pos, a2), d2.name()));
      return m.mul(e, 0.5);
    }
    Dim embedSequence = new Dim("embed_sequence", b.cfg.nCtx());
    MeshTensor wpe = b.normal("gpt2/wpe", Shape.of(embedSequence, b.embd), b.nanoGptInit() ? 0.02 : 0.01);
    if (b.decoding != null) {
      return m.gather(wpe, positionIds(b), embedSequence.name());
    }
    if (b.sequence.size() != embedSequence.size()) {
      wpe = m.slice(wpe, embedSequence.name(), 0, b.sequence.size());
    }
    return m.rename(wpe, embedSequence.name(), b.sequence.name());
  }

  /**
   * Rotary position embedding on {@code x [batch, sequence, heads, kv]} at positions {@link #positionIds}:
   * {@code x*cos + rotate_half(x)*sin} with frequencies {@code 10000^(-2i/d_head)} duplicated over the
   * two halves of the head. rotate_half is an einsum with a fixed signed permutation, so it works
   * whatever the layout splits (no slicing of {@code kv}).
   */
  static MeshTensor rotary(ModelBuilder b, MeshTensor x) {
    MeshOps m = b.m;
    int half = b.kv.size() / 2;
    MeshTensor j = m.cast(m.floorMod(m.range(b.kv, DType.INT32), m.scalar(half, DType.INT32)), DType.FLOAT32);
    MeshTensor freq = m.exp(m.mul(j, -2.0 * Math.log(10000.0) / b.kv.size()));
    MeshTensor angle = m.mul(m.cast(positionIds(b), DType.FLOAT32), freq);
    MeshTensor cos = m.cast(m.cos(angle), x.dtype());
    MeshTensor sin = m.cast(m.sin(angle), x.dtype());
    Dim kvIn = new Dim("kv_rotary", b.kv.size());
    MeshTensor i = m.range(kvIn, DType.INT32);
    MeshTensor o = m.range(b.kv, DType.INT32);
    MeshTensor h = m.scalar(half, DType.INT32);
    // out_o = -x_{o+half} for o < half and x_{o-half} for o >= half
    MeshTensor perm = m.sub(m.cast(m.equal(i, m.sub(o, h)), x.dtype()), m.cast(m.equal(i, m.add(o, h)), x.dtype()));
    MeshTensor rotated = m.einsum(List.of(m.rename(x, b.kv.name(), kvIn.name()), perm), x.shape());
    return m.add(m.mul(x, cos), m.mul(rotated, sin));
  }
}
