package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.Tf;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TInt64;

/**
 * Layout-invariant random numbers: element {@code i} (its row-major index in the full tensor) of
 * a random op with key {@code k} under graph seed {@code s} is a pure function of (s, k, i). Each
 * device computes the global indices of its own slice and hashes them, so the same seed gives the
 * same weights and dropout masks on every mesh and layout, which Mesh-TensorFlow (seeded per
 * slice) cannot promise.
 *
 * <p>The hash is a 32-bit integer finaliser (Mueller's, constants below 2^31 so int64 products
 * cannot overflow) applied twice; 24 bits of it make a uniform in (0,1), and normals come from
 * the inverse normal CDF ({@code Ndtri}), which a truncated normal restricts to +-2 sigma.
 */
public final class RandomOp extends Op {
  /** The distributions. */
  public enum Kind { UNIFORM, NORMAL, TRUNCATED_NORMAL }

  static final long MASK32 = 0xffffffffL;
  static final long MIX = 0x45d9f3bL;
  static final double PHI_MINUS_2 = 0.022750131948179195;

  private final Kind kind;
  private final String key;
  private final double a;
  private final double b;

  /**
   * For UNIFORM, {@code a,b} are min and max; for the normals, mean and standard deviation.
   * {@code step}, if not null, is an int64 scalar mixed into the key (per-step randomness).
   */
  RandomOp(MeshGraph g, Kind kind, Shape shape, DType dtype, String key, double a, double b, MeshTensor step) {
    super(g, "random_" + kind.name().toLowerCase(), step == null ? List.of() : List.of(step));
    if (step != null && (step.dtype() != DType.INT64 || step.shape().rank() != 0)) {
      throw new IllegalArgumentException("a random step must be an int64 scalar, got " + step);
    }
    if (!dtype.isFloating()) {
      throw new IllegalArgumentException("random values must be floating point, not " + dtype);
    }
    this.kind = kind;
    this.key = key == null ? name() : key;
    this.a = a;
    this.b = b;
    addOutput(shape, dtype);
  }

  public String key() {
    return key;
  }

  @Override
  public boolean hasGradient() {
    return false;
  }

  static long mix32(long x) {
    x = ((x >>> 16) ^ x) * MIX & MASK32;
    x = ((x >>> 16) ^ x) * MIX & MASK32;
    return (x >>> 16) ^ x;
  }

  /** The two 32-bit keys of (seed, key), computed on the host. */
  static long[] keys(long seed, String key) {
    long k = 0x9e3779b9L;
    for (byte c : key.getBytes(StandardCharsets.UTF_8)) {
      k = mix32((k ^ (c & 0xff)) & MASK32);
    }
    long s = mix32((seed & MASK32) ^ mix32((seed >>> 32) & MASK32));
    return new long[] {mix32(k ^ s), mix32((k + 0x632be5abL) & MASK32 ^ s)};
  }

  /** The uniform in (0,1) of element {@code index}: the reference the TensorFlow lowering must match. */
  public static double uniform01(long seed, String key, long index) {
    return uniform01(seed, key, index, 0);
  }

  /** As {@link #uniform01(long, String, long)} for an op that mixes in a random step. */
  public static double uniform01(long seed, String key, long index, long step) {
    long[] k = keys(seed, key);
    long h = mix32((index & MASK32) ^ k[0] ^ mix32(step & MASK32));
    h = mix32(h ^ (index >>> 32) ^ k[1]);
    return ((h >>> 8) + 0.5) / (1 << 24);
  }

  @Override
  public void lower(LoweringContext l) {
    TensorLayout layout = l.layout(output());
    Shape full = output().shape();
    long[] strides = full.strides();
    long[] slice = layout.sliceShape().sizes();
    long[] k = keys(graph().seed(), key);
    List<Operand<?>> out = new ArrayList<>();
    LaidOutTensor step = inputs().isEmpty() ? null : l.get(inputs().get(0));
    for (int p = 0; p < l.mesh().size(); p++) {
      Ops tf = l.tf(p);
      Operand<TInt64> index = globalIndex(tf, layout.sliceBegin(p), slice, strides);
      Operand<TInt64> k0 = tf.constant(k[0]);
      if (step != null) {
        @SuppressWarnings("unchecked")
        Operand<TInt64> s = (Operand<TInt64>) step.slice(p);
        k0 = tf.bitwise.bitwiseXor(k0, mix32(tf, tf.bitwise.bitwiseAnd(s, tf.constant(MASK32))));
      }
      out.add(Tf.cast(tf, distribution(tf, uniform(tf, index, k0, k[1])), output().dtype()));
    }
    l.set(output(), LaidOutTensor.of(out));
  }

  /** Row-major index in the full tensor of each element of one device's slice. */
  private static Operand<TInt64> globalIndex(Ops tf, long[] begin, long[] slice, long[] strides) {
    Operand<TInt64> index = tf.constant(0L);
    for (int d = 0; d < slice.length; d++) {
      Operand<TInt64> r = tf.math.mul(tf.range(tf.constant(begin[d]), tf.constant(begin[d] + slice[d]), tf.constant(1L)),
          tf.constant(strides[d]));
      long[] shape = new long[slice.length];
      java.util.Arrays.fill(shape, 1);
      shape[d] = slice[d];
      index = tf.math.add(index, tf.reshape(r, tf.constant(shape)));
    }
    if (slice.length > 0) {
      index = tf.broadcastTo(index, tf.constant(slice));
    }
    return index;
  }

  private static Operand<TInt64> mix32(Ops tf, Operand<TInt64> x) {
    Operand<TInt64> m = tf.constant(MIX);
    Operand<TInt64> mask = tf.constant(MASK32);
    Operand<TInt64> sixteen = tf.constant(16L);
    x = tf.bitwise.bitwiseAnd(tf.math.mul(tf.bitwise.bitwiseXor(tf.bitwise.rightShift(x, sixteen), x), m), mask);
    x = tf.bitwise.bitwiseAnd(tf.math.mul(tf.bitwise.bitwiseXor(tf.bitwise.rightShift(x, sixteen), x), m), mask);
    return tf.bitwise.bitwiseXor(tf.bitwise.rightShift(x, sixteen), x);
  }

  private static Operand<org.tensorflow.types.TFloat64> uniform(Ops tf, Operand<TInt64> index, Operand<TInt64> k0,
                                                                long k1) {
    Operand<TInt64> lo = tf.bitwise.bitwiseAnd(index, tf.constant(MASK32));
    Operand<TInt64> hi = tf.bitwise.rightShift(index, tf.constant(32L));
    Operand<TInt64> h = mix32(tf, tf.bitwise.bitwiseXor(lo, k0));
    h = mix32(tf, tf.bitwise.bitwiseXor(tf.bitwise.bitwiseXor(h, hi), tf.constant(k1)));
    Operand<org.tensorflow.types.TFloat64> bits = tf.dtypes.cast(tf.bitwise.rightShift(h, tf.constant(8L)),
        org.tensorflow.types.TFloat64.class);
    return tf.math.mul(tf.math.add(bits, tf.constant(0.5)), tf.constant(1.0 / (1 << 24)));
  }

  private Operand<?> distribution(Ops tf, Operand<org.tensorflow.types.TFloat64> u) {
    return switch (kind) {
      case UNIFORM -> tf.math.add(tf.math.mul(u, tf.constant(b - a)), tf.constant(a));
      case NORMAL -> tf.math.add(tf.math.mul(tf.math.ndtri(u), tf.constant(b)), tf.constant(a));
      case TRUNCATED_NORMAL -> {
        Operand<org.tensorflow.types.TFloat64> p = tf.math.add(tf.math.mul(u, tf.constant(1 - 2 * PHI_MINUS_2)),
            tf.constant(PHI_MINUS_2));
        yield tf.math.add(tf.math.mul(tf.math.ndtri(p), tf.constant(b)), tf.constant(a));
      }
    };
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
