package dev.neomesh.models.train;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.List;

/**
 * How the next token is drawn from the logits, as mesh ops, so that one id per row (not the
 * vocabulary's logits) leaves the devices each step: greedy ({@code temperature == 0}) or a draw
 * from {@code softmax(logits / temperature)} restricted to the {@code topK} largest logits (0: all)
 * and then to the smallest set of them whose probability reaches {@code topP} (nucleus; 1: all).
 *
 * <p>The draw is Gumbel-max, {@code argmax(z + g)} with {@code g = -log(-log(u))}: u is a
 * layout-invariant uniform keyed by the graph's seed, the row and the vocabulary entry, and the
 * run's random step (the generation step), so a sample depends on (seed, row, step) and on nothing
 * of the mesh or layout.
 */
public record Sampling(double temperature, int topK, double topP) {
  public static final Sampling GREEDY = new Sampling(0, 0, 1);

  public Sampling {
    if (!(temperature >= 0) || Double.isInfinite(temperature)) {
      throw new IllegalArgumentException("--temperature must be 0 (greedy) or positive, got " + temperature);
    }
    if (topK < 0) {
      throw new IllegalArgumentException("--top_k must be 0 (off) or positive, got " + topK);
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new IllegalArgumentException("--top_p must be in (0, 1] (1: off), got " + topP);
    }
  }

  public boolean greedy() {
    return temperature == 0;
  }

  /** Masked logits are set to this: below any real logit, and exp() of it is 0. */
  static final double MASKED = -1e30;

  /**
   * int32 {@code [batch]}: the next id of each row from float32 {@code logits [batch, vocab]}.
   * {@code key} names the random draw.
   */
  public MeshTensor next(MeshOps m, MeshTensor logits, Dim vocab, String key) {
    if (topK > vocab.size()) {
      throw new IllegalArgumentException("--top_k " + topK + " is larger than the vocabulary (" + vocab.size()
          + "): pass at most " + vocab.size() + ", or 0 for no limit");
    }
    if (greedy()) {
      return argmax(m, logits, vocab);
    }
    MeshTensor z = m.mul(logits, 1.0 / temperature);
    if (topK > 0 || topP < 1) {
      Dim kept = new Dim("sampling_candidates", topK > 0 ? topK : vocab.size());
      MeshTensor best = m.topK(z, vocab.name(), kept).get(0); // descending
      MeshTensor threshold = m.reduceMin(best, MeshOps.without(best, kept.name()));
      if (topP < 1) {
        // keep a candidate while the probability of those above it is below topP (the first always)
        MeshTensor above = m.cumsumUnsplit(m.softmax(best, kept.name()), kept.name(), true);
        MeshTensor inNucleus = m.less(above, topP);
        threshold = m.reduceMin(m.where(inNucleus, best, m.add(m.zeros(best.shape(), DType.FLOAT32), -MASKED)),
            MeshOps.without(best, kept.name()));
      }
      z = m.where(m.greaterEqual(z, threshold), z, m.add(m.zeros(z.shape(), DType.FLOAT32), MASKED));
    }
    MeshTensor u = m.randomUniformPerStep(z.shape(), DType.FLOAT32, key, 1e-20, 1.0);
    MeshTensor gumbel = m.neg(m.log(m.neg(m.log(u))));
    return argmax(m, m.add(z, gumbel), vocab);
  }

  /** int32 {@code [batch]}: the index of each row's largest value (ties: the lowest index). */
  static MeshTensor argmax(MeshOps m, MeshTensor x, Dim vocab) {
    Dim one = new Dim("sampling_best", 1);
    List<MeshTensor> top = m.topK(x, vocab.name(), one);
    return m.reduceSum(top.get(1), one.name());
  }
}
