package dev.neomesh.mesh.lower;

import dev.neomesh.mesh.ir.DType;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/**
 * Untyped helpers over TensorFlow Java's typed op builders. The compiler moves values of every
 * dtype through the same code, so it works on {@code Operand<?>} and casts once here rather than
 * at every call site.
 */
@SuppressWarnings({"unchecked", "rawtypes"})
public final class Tf {
  private Tf() {}

  public static Operand<?> constant(Ops tf, double value, DType dtype) {
    Operand<?> c = switch (dtype) {
      case FLOAT32 -> tf.constant((float) value);
      case FLOAT64 -> tf.constant(value);
      case BFLOAT16 -> tf.dtypes.cast(tf.constant((float) value), dtype.tfType());
      case INT32 -> tf.constant((int) value);
      case INT64 -> tf.constant((long) value);
      case BOOL -> tf.constant(value != 0);
    };
    return c;
  }

  public static Operand<?> fill(Ops tf, long[] shape, double value, DType dtype) {
    return tf.fill(tf.constant(shape), (Operand) constant(tf, value, dtype));
  }

  public static Operand<?> reshape(Ops tf, Operand<?> x, long[] shape) {
    return tf.reshape((Operand) x, tf.constant(shape));
  }

  public static Operand<?> transpose(Ops tf, Operand<?> x, int[] perm) {
    boolean identity = true;
    for (int i = 0; i < perm.length; i++) {
      identity &= perm[i] == i;
    }
    return identity ? x : tf.linalg.transpose((Operand) x, tf.constant(perm));
  }

  public static Operand<?> concat(Ops tf, List<Operand<?>> xs, int axis) {
    if (xs.size() == 1) {
      return tf.identity((Operand) xs.get(0));
    }
    return tf.concat((Iterable) xs, tf.constant(axis));
  }

  /** Splits {@code x} into {@code n} equal parts along {@code axis}. */
  public static List<Operand<?>> split(Ops tf, Operand<?> x, int axis, int n) {
    if (n == 1) {
      return List.of(x);
    }
    return new ArrayList<>((List) tf.split(tf.constant(axis), (Operand) x, (long) n).output());
  }

  /** Splits the vector {@code x} into consecutive parts of {@code sizes} elements. */
  public static List<Operand<?>> splitSizes(Ops tf, Operand<?> x, long[] sizes) {
    if (sizes.length == 1) {
      return List.of(x);
    }
    return new ArrayList<>((List) tf.splitV((Operand) x, tf.constant(sizes), tf.constant(0), (long) sizes.length)
        .output());
  }

  /** The part of {@code x} starting at {@code begin} with {@code size} elements per dim. */
  public static Operand<?> slice(Ops tf, Operand<?> x, long[] begin, long[] size) {
    return tf.slice((Operand) x, tf.constant(begin), tf.constant(size));
  }

  public static Operand<?> cast(Ops tf, Operand<?> x, DType to) {
    return tf.dtypes.cast((Operand) x, to.tfType());
  }

  public static Operand<?> add(Ops tf, Operand<?> a, Operand<?> b) {
    return tf.math.add((Operand) a, (Operand) b);
  }

  public static Operand<?> maximum(Ops tf, Operand<?> a, Operand<?> b) {
    return tf.math.maximum((Operand) a, (Operand) b);
  }

  public static Operand<?> minimum(Ops tf, Operand<?> a, Operand<?> b) {
    return tf.math.minimum((Operand) a, (Operand) b);
  }

  public static Operand<?> identity(Ops tf, Operand<?> x) {
    return tf.identity((Operand) x);
  }

  public static Operand<?> zerosLike(Ops tf, Operand<?> x) {
    return tf.zerosLike((Operand) x);
  }

  /** The useful line of a TensorFlow error ("DATA_LOSS: file is too short to be an sstable"), not its node trail. */
  public static String errorReason(String s) {
    if (s == null) {
      return "";
    }
    String fallback = null;
    for (String line : s.split("\n")) {
      String t = line.trim();
      java.util.regex.Matcher m = java.util.regex.Pattern.compile("^\\(\\d+\\) (.+)$").matcher(t);
      if (m.matches()) {
        return m.group(1);
      }
      if (fallback == null && !t.isEmpty() && !t.startsWith("[[") && !t.matches("\\d+ root error\\(s\\) found\\.?")) {
        fallback = t;
      }
    }
    return fallback != null ? fallback : s.trim();
  }
}
