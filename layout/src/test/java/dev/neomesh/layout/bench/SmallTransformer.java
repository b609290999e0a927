package dev.neomesh.layout.bench;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.Gradients;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Small programs the planner is checked on, written with {@code MeshOps} on GPT-Neo's dim names:
 * an MLP, and a transformer language model (embeddings over {@code vocab}, causal attention over
 * {@code batch/sequence/memory_length/heads/kv/embd}, an MLP over {@code intermediate_expanded},
 * tied output logits), each with its loss, gradients ({@code Gradients.of}) and an Adam update
 * whose two slots per weight are variables of the graph.
 */
public final class SmallTransformer {
  private SmallTransformer() {}

  /** A built program: its graph, the host-fed inputs, the loss and the trainable weights. */
  public record Program(MeshGraph graph, List<MeshTensor> inputs, MeshTensor loss, List<MeshTensor> weights) {}

  /** The transformer's sizes. */
  public record Sizes(int batch, int sequence, int embd, int heads, int kv, int intermediate, int vocab, int layers) {
    public static final Sizes TINY = new Sizes(8, 8, 8, 4, 4, 16, 16, 1);
  }

  public static Program mlp(int batch, int io, int hidden, int out, DType dtype, boolean train) {
    MeshGraph g = new MeshGraph(3);
    MeshOps m = new MeshOps(g);
    Dim b = new Dim("batch", batch);
    Dim i = new Dim("io", io);
    Dim h = new Dim("hidden", hidden);
    Dim o = new Dim("out", out);
    MeshTensor x = m.importTensor("x", Shape.of(b, i), dtype);
    MeshTensor y = m.importTensor("y", Shape.of(b, o), dtype);
    MeshTensor w1 = m.variable("w1", m.randomNormal(Shape.of(i, h), dtype, "w1", 0, 1 / Math.sqrt(io)));
    MeshTensor w2 = m.variable("w2", m.randomNormal(Shape.of(h, o), dtype, "w2", 0, 1 / Math.sqrt(hidden)));
    MeshTensor pred = m.matmul(m.relu(m.matmul(x, w1, Shape.of(b, h))), w2, Shape.of(b, o));
    MeshTensor loss = m.reduceSum(m.mul(m.square(m.sub(pred, y)), 1.0 / (batch * out)), Shape.SCALAR);
    List<MeshTensor> weights = List.of(w1, w2);
    if (train) {
      adam(m, loss, weights, 1e-3);
    }
    return new Program(g, List.of(x, y), loss, weights);
  }

  public static Program transformer(Sizes s, DType dtype, boolean train) {
    MeshGraph g = new MeshGraph(5);
    MeshOps m = new MeshOps(g);
    Dim batch = new Dim("batch", s.batch());
    Dim seq = new Dim("sequence", s.sequence());
    Dim mem = new Dim("memory_length", s.sequence());
    Dim embd = new Dim("embd", s.embd());
    Dim heads = new Dim("heads", s.heads());
    Dim kv = new Dim("kv", s.kv());
    Dim inter = new Dim("intermediate_expanded", s.intermediate());
    Dim vocab = new Dim("vocab", s.vocab());
    MeshTensor tokens = m.importTensor("tokens", Shape.of(batch, seq), DType.INT32);
    MeshTensor labels = m.importTensor("labels", Shape.of(batch, seq), DType.INT32);
    List<MeshTensor> weights = new ArrayList<>();
    MeshTensor wte = weight(m, weights, "wte", Shape.of(vocab, embd), dtype, 0.02);
    MeshTensor wpe = weight(m, weights, "wpe", Shape.of(seq, embd), dtype, 0.01);
    MeshTensor h = m.add(m.gather(wte, tokens, "vocab"), wpe);
    MeshTensor causal = m.cast(m.lessEqual(m.range(mem, DType.INT32), m.range(seq, DType.INT32)), dtype);
    MeshTensor maskBias = m.mul(m.sub(1.0, causal), -1e9);
    for (int l = 0; l < s.layers(); l++) {
      String p = "h" + l + "/";
      MeshTensor x = layerNorm(m, weights, p + "ln_1", h, embd, dtype);
      MeshTensor wq = weight(m, weights, p + "q", Shape.of(embd, heads, kv), dtype, 0.02);
      MeshTensor wk = weight(m, weights, p + "k", Shape.of(embd, heads, kv), dtype, 0.02);
      MeshTensor wv = weight(m, weights, p + "v", Shape.of(embd, heads, kv), dtype, 0.02);
      MeshTensor wo = weight(m, weights, p + "o", Shape.of(heads, kv, embd), dtype, 0.02);
      MeshTensor q = m.einsum(List.of(x, wq), Shape.of(batch, seq, heads, kv));
      MeshTensor k = m.rename(m.einsum(List.of(x, wk), Shape.of(batch, seq, heads, kv)), "sequence", "memory_length");
      MeshTensor v = m.rename(m.einsum(List.of(x, wv), Shape.of(batch, seq, heads, kv)), "sequence", "memory_length");
      MeshTensor scores = m.mul(m.einsum(List.of(q, k), Shape.of(batch, heads, seq, mem)), 1 / Math.sqrt(s.kv()));
      MeshTensor probs = m.softmax(m.add(scores, maskBias), "memory_length");
      MeshTensor ctx = m.einsum(List.of(probs, v), Shape.of(batch, seq, heads, kv));
      h = m.add(h, m.einsum(List.of(ctx, wo), Shape.of(batch, seq, embd)));
      MeshTensor y = layerNorm(m, weights, p + "ln_2", h, embd, dtype);
      MeshTensor w1 = weight(m, weights, p + "mlp_in", Shape.of(embd, inter), dtype, 0.02);
      MeshTensor w2 = weight(m, weights, p + "mlp_out", Shape.of(inter, embd), dtype, 0.02);
      MeshTensor hid = m.gelu(m.einsum(List.of(y, w1), Shape.of(batch, seq, inter)));
      h = m.add(h, m.einsum(List.of(hid, w2), Shape.of(batch, seq, embd)));
    }
    h = layerNorm(m, weights, "ln_f", h, embd, dtype);
    MeshTensor logits = m.einsum(List.of(h, wte), Shape.of(batch, seq, vocab));
    MeshTensor logp = m.logSoftmax(logits, "vocab");
    MeshTensor nll = m.neg(m.einsum(List.of(logp, m.oneHot(labels, vocab, dtype)), Shape.of(batch, seq)));
    MeshTensor loss = m.reduceSum(m.mul(nll, 1.0 / (s.batch() * s.sequence())), Shape.SCALAR);
    if (train) {
      adam(m, loss, weights, 1e-3);
    }
    return new Program(g, List.of(tokens, labels), loss, weights);
  }

  private static MeshTensor weight(MeshOps m, List<MeshTensor> weights, String name, Shape shape, DType dtype,
                                   double stddev) {
    MeshTensor w = m.variable(name, m.randomNormal(shape, dtype, name, 0, stddev));
    weights.add(w);
    return w;
  }

  private static MeshTensor layerNorm(MeshOps m, List<MeshTensor> weights, String name, MeshTensor x, Dim dim,
                                      DType dtype) {
    MeshTensor gain = m.variable(name + "/g", m.ones(Shape.of(dim), dtype));
    weights.add(gain);
    MeshTensor centred = m.sub(x, m.reduceMean(x, dim.name()));
    MeshTensor var = m.reduceMean(m.square(centred), dim.name());
    return m.mul(m.mul(centred, m.rsqrt(m.add(var, 1e-5))), gain);
  }

  /** Adam on the mesh graph: slots {@code m, v} are non-trainable variables; every weight and slot is assigned. */
  public static void adam(MeshOps m, MeshTensor loss, List<MeshTensor> weights, double lr) {
    List<MeshTensor> grads = Gradients.of(loss, weights);
    for (int i = 0; i < weights.size(); i++) {
      MeshTensor w = weights.get(i);
      MeshTensor gr = grads.get(i);
      String name = m.variableOp(w).name();
      MeshTensor mSlot = m.variable(name + "/adam_m", m.zeros(w.shape(), w.dtype()), false);
      MeshTensor vSlot = m.variable(name + "/adam_v", m.zeros(w.shape(), w.dtype()), false);
      // the slots and the weight are read once the gradient exists, as the trainer's Adam does: else
      // TensorFlow computes 0.9·m and 0.999·v at the step's start and holds them through the step
      MeshTensor m1 = m.add(m.mul(m.after(mSlot, gr), 0.9), m.mul(gr, 0.1));
      MeshTensor v1 = m.add(m.mul(m.after(vSlot, gr), 0.999), m.mul(m.square(gr), 0.001));
      m.assign(mSlot, m1);
      m.assign(vSlot, v1);
      m.assign(w, m.sub(m.after(w, gr), m.mul(m.div(m1, m.add(m.sqrt(v1), 1e-8)), lr)));
    }
  }
}
