package dev.neomesh.models.train;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.ToDoubleFunction;

/**
 * Adafactor as Mesh-TensorFlow's {@code AdafactorOptimizer} (the one GPT-Neo uses for any
 * {@code opt_name} but adam). The second moment of a parameter with two dims of at least 128 is
 * factored over its two largest dims {@code d0, d1} into a row slot (shape without d0) and a
 * column slot (shape without d1); other parameters keep a full slot. Per step:
 * <pre>
 *   ρ = 1 − (t+1)^−0.8                                 (decay, fed from the host)
 *   vr = ρ·vr + (1−ρ)·mean_d0(g²+ε1)   vc = ρ·vc + (1−ρ)·mean_d1(g²+ε1)
 *   x  = g · rsqrt(vr / mean_d1(vr)) · rsqrt(vc)         (unfactored: g · rsqrt(v))
 *   x /= max(1, rms(x))                                  (update clipping, threshold 1)
 *   s  = lr · max(rms(w), ε2) · x;  with β1 > 0: m = β1·m + (1−β1)·s, s = m
 *   w −= s
 * </pre>
 */
public final class Adafactor implements Optimizer {
  /** Mesh-TensorFlow's {@code min_dim_size_to_factor}. */
  public static final int MIN_DIM_SIZE_TO_FACTOR = 128;

  private final double beta1;
  private final double epsilon1;
  private final double epsilon2;

  private final ToDoubleFunction<MeshTensor> lrMultiplier;

  public Adafactor(double beta1, double epsilon1, double epsilon2) {
    this(beta1, epsilon1, epsilon2, t -> 1.0);
  }

  /** The same, each parameter's learning rate times {@code lrMultiplier} of it. */
  public Adafactor(double beta1, double epsilon1, double epsilon2, ToDoubleFunction<MeshTensor> lrMultiplier) {
    this.lrMultiplier = lrMultiplier;
    this.beta1 = beta1;
    this.epsilon1 = epsilon1;
    this.epsilon2 = epsilon2;
  }

  /** The decay rate of step {@code t}: {@code 1 − (t+1)^−0.8}. */
  public static double decayRate(long t) {
    return 1 - Math.pow(t + 1.0, -0.8);
  }

  /** The two dims the second moment is factored over (largest first), or null when it is not factored. */
  public static Dim[] factoredDims(Shape shape) {
    if (shape.rank() < 2) {
      return null;
    }
    List<Dim> sorted = new ArrayList<>(shape.dims());
    sorted.sort(Comparator.comparingInt(d -> -d.size())); // stable, as Python's sorted
    if (sorted.get(1).size() < MIN_DIM_SIZE_TO_FACTOR) {
      return null;
    }
    return new Dim[] {sorted.get(0), sorted.get(1)};
  }

  private static MeshTensor rms(MeshOps m, MeshTensor x) {
    if (x.shape().rank() == 0) {
      return m.abs(x);
    }
    return m.sqrt(m.reduceMean(m.square(x), Shape.SCALAR));
  }

  @Override
  public List<Update> updates(MeshOps m, List<MeshTensor> params, List<MeshTensor> grads, MeshTensor lr,
      StepFeeds feeds) {
    MeshTensor decayFed = feeds.scalar("adafactor_decay", Adafactor::decayRate);
    List<Update> out = new ArrayList<>();
    for (int i = 0; i < params.size(); i++) {
      MeshTensor w = params.get(i);
      MeshTensor g = grads.get(i);
      String name = Optimizer.nameOf(m, w);
      int first = out.size();
      MeshTensor decay = m.cast(decayFed, w.dtype());
      MeshTensor mixing = m.sub(1.0, decay);
      MeshTensor g2 = m.add(m.square(g), epsilon1);
      Dim[] f = factoredDims(w.shape());
      MeshTensor x;
      if (f != null) {
        Shape rowShape = w.shape().minus(Shape.of(f[0]));
        Shape colShape = w.shape().minus(Shape.of(f[1]));
        MeshTensor vr = m.variable(name + "/adafactor_vr", m.zeros(rowShape, w.dtype()), false);
        MeshTensor vc = m.variable(name + "/adafactor_vc", m.zeros(colShape, w.dtype()), false);
        MeshTensor vrNew = m.add(m.mul(vr, decay), m.mul(m.reduceMean(g2, f[0].name()), mixing));
        MeshTensor vcNew = m.add(m.mul(vc, decay), m.mul(m.reduceMean(g2, f[1].name()), mixing));
        out.add(new Update(vr, vrNew));
        out.add(new Update(vc, vcNew));
        MeshTensor longTermMean = m.reduceMean(vrNew, f[1].name());
        MeshTensor rFactor = m.rsqrt(m.div(vrNew, longTermMean));
        MeshTensor cFactor = m.rsqrt(vcNew);
        x = m.mul(m.mul(g, rFactor), cFactor);
      } else {
        MeshTensor v = m.variable(name + "/adafactor_v", m.zeros(w.shape(), w.dtype()), false);
        MeshTensor vNew = m.add(m.mul(v, decay), m.mul(g2, mixing));
        out.add(new Update(v, vNew));
        x = m.mul(g, m.rsqrt(vNew));
      }
      x = m.div(x, m.maximum(rms(m, x), 1.0));
      MeshTensor rate = Optimizer.rate(m, lr, lrMultiplier.applyAsDouble(w));
      MeshTensor scale = m.mul(m.maximum(rms(m, w), epsilon2), m.cast(rate, w.dtype()));
      MeshTensor subtrahend = m.mul(x, scale);
      if (beta1 > 0) {
        MeshTensor mSlot = m.variable(name + "/adafactor_m", m.zeros(w.shape(), w.dtype()), false);
        subtrahend = m.add(m.mul(mSlot, beta1), m.mul(subtrahend, 1 - beta1));
        out.add(new Update(mSlot, subtrahend));
      }
      out.add(first, new Update(w, m.sub(w, subtrahend)));
    }
    return out;
  }
}
