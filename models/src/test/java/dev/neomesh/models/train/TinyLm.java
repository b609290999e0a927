package dev.neomesh.models.train;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.List;

/**
 * A stand-in language model for trainer tests: token embedding, a tanh hidden layer with a bias,
 * optional dropout, output projection, cross entropy. Small enough to train in a second.
 */
final class TinyLm implements LanguageModel {
  final int vocab;
  final int embd;
  final double dropout;

  TinyLm(int vocab, int embd, double dropout) {
    this.vocab = vocab;
    this.embd = embd;
    this.dropout = dropout;
  }

  @Override
  public Outputs build(MeshOps m, MeshTensor tokens, MeshTensor labels, boolean train) {
    Dim v = new Dim("vocab", vocab);
    Dim e = new Dim("embd", embd);
    Dim h = new Dim("hidden", embd);
    Dim batch = tokens.shape().dim("batch");
    Dim seq = tokens.shape().dim("sequence");
    MeshTensor wte = m.variable("tiny/wte", m.randomNormal(Shape.of(v, e), DType.FLOAT32, "tiny/wte", 0, 0.5));
    MeshTensor w1 = m.variable("tiny/w1", m.randomNormal(Shape.of(e, h), DType.FLOAT32, "tiny/w1", 0, 0.3));
    MeshTensor b1 = m.variable("tiny/bias", m.zeros(Shape.of(h), DType.FLOAT32));
    MeshTensor wo = m.variable("tiny/wo", m.randomNormal(Shape.of(h, v), DType.FLOAT32, "tiny/wo", 0, 0.3));
    MeshTensor x = m.gather(wte, tokens, "vocab");
    MeshTensor hid = m.tanh(m.add(m.matmul(x, w1, Shape.of(batch, seq, h)), b1));
    if (train) {
      hid = m.dropout(hid, dropout, "tiny/dropout");
    }
    MeshTensor logits = m.matmul(hid, wo, Shape.of(batch, seq, v));
    MeshTensor lse = m.logSumExp(logits, "vocab");
    MeshTensor target = m.reduceSum(m.mul(logits, m.oneHot(labels, v, DType.FLOAT32)), "vocab");
    double n = 1.0 / (batch.size() * seq.size());
    MeshTensor loss = m.reduceSum(m.mul(m.sub(lse, target), n), Shape.SCALAR);
    return new Outputs(loss, logits, List.of(wte, w1, b1, wo), LanguageModel.decayUnlessNormOrBias(m));
  }
}
