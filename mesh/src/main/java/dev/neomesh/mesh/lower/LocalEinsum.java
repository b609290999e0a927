package dev.neomesh.mesh.lower;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/**
 * One device's part of an einsum, on named slices. TensorFlow's {@code Einsum} kernel is a batch
 * matmul: right for a real contraction, but an elementwise product (the gradient of a multiply,
 * a broadcast) becomes millions of 1x1 matmuls. So: operands are combined pairwise; a pair that
 * shares a summed dim is one {@code MatMul} with transpose flags when its dims are in matrix order,
 * else an {@code Einsum} (first the operand that leads the output, which saves a transpose); any
 * other pair, and a pair with the same dims on both sides (a dot product per row, as in the layer
 * norm's gradient: no matrix in it, so {@code Einsum} would run one 1xK by Kx1 matmul per row), is
 * a broadcast multiply and a sum; dims that only one side has and the result does not keep are
 * summed away first.
 */
@SuppressWarnings({"unchecked", "rawtypes"})
public final class LocalEinsum {
  private LocalEinsum() {}

  /** Contracts {@code slices} (of named shapes {@code shapes}) into {@code out}, whose dims all occur in them. */
  public static Operand<?> contract(Ops tf, List<Operand<?>> slices, List<Shape> shapes, Shape out) {
    Operand<?> acc = slices.get(0);
    Shape accShape = shapes.get(0);
    if (slices.size() == 1) {
      return reduceTo(tf, acc, accShape, out);
    }
    for (int i = 1; i < slices.size(); i++) {
      Shape target = out;
      if (i < slices.size() - 1) {
        Set<String> later = new LinkedHashSet<>(out.names());
        for (int j = i + 1; j < shapes.size(); j++) {
          later.addAll(shapes.get(j).names());
        }
        List<Dim> keep = new ArrayList<>();
        for (Dim d : accShape.union(shapes.get(i)).dims()) {
          if (later.contains(d.name())) {
            keep.add(d);
          }
        }
        target = new Shape(keep);
      }
      acc = pair(tf, acc, accShape, slices.get(i), shapes.get(i), target);
      accShape = target;
    }
    return acc;
  }

  private static Operand<?> pair(Ops tf, Operand<?> x, Shape a, Operand<?> y, Shape b, Shape target) {
    // sum away what only one side has and the target does not keep
    Shape a2 = new Shape(a.dims().stream().filter(d -> target.contains(d.name()) || b.contains(d.name())).toList());
    Shape b2 = new Shape(b.dims().stream().filter(d -> target.contains(d.name()) || a.contains(d.name())).toList());
    x = reduceTo(tf, x, a, a2);
    y = reduceTo(tf, y, b, b2);
    boolean contracts = a2.dims().stream().anyMatch(d -> b2.contains(d.name()) && !target.contains(d.name()));
    boolean sameDims = a2.sameDims(b2);
    if (contracts && !sameDims) {
      Operand<?> mm = asMatMul(tf, x, a2, y, b2, target);
      if (mm == null) {
        mm = asMatMul(tf, y, b2, x, a2, target);
      }
      return mm != null ? mm : einsum(tf, x, a2, y, b2, target);
    }
    // a dot product per row keeps the operands' order (the sum then transposes only the small result)
    Shape u = sameDims ? a2 : target.union(a2).union(b2);
    Operand<?> product = tf.math.mul((Operand) SliceAlign.expandTo(tf, x, a2, u, u),
        (Operand) SliceAlign.expandTo(tf, y, b2, u, u));
    return reduceTo(tf, product, u, target);
  }

  /**
   * A contraction with no batch dims whose operands are, without any transpose, matrices
   * {@code [M,K]} or {@code [K,M]} and {@code [K,N]} or {@code [N,K]}, with the target {@code [M,N]}
   * (the forward, input-gradient and weight-gradient products of a dense layer): one
   * {@code MatMul} with transpose flags, about 1.6x faster than {@code Einsum} for the weight
   * gradient. Returns null when the layout of the dims does not allow it.
   */
  private static Operand<?> asMatMul(Ops tf, Operand<?> x, Shape a, Operand<?> y, Shape b, Shape target) {
    List<String> m = a.names().stream().filter(n -> !b.contains(n)).toList();
    List<String> k = a.names().stream().filter(n -> b.contains(n)).toList();
    List<String> n = b.names().stream().filter(d -> !a.contains(d)).toList();
    if (m.isEmpty() || n.isEmpty() || k.stream().anyMatch(target::contains)
        || !target.names().equals(concat(m, n))) {
      return null;
    }
    Boolean transA = blockOrder(a.names(), m, k);
    Boolean transB = blockOrder(b.names(), k, n);
    if (transA == null || transB == null) {
      return null;
    }
    long mSize = size(a, m);
    long kSize = size(a, k);
    long nSize = size(b, n);
    Operand<?> x2 = Tf.reshape(tf, x, transA ? new long[] {kSize, mSize} : new long[] {mSize, kSize});
    Operand<?> y2 = Tf.reshape(tf, y, transB ? new long[] {nSize, kSize} : new long[] {kSize, nSize});
    Operand<?> product = tf.linalg.matMul((Operand) x2, (Operand) y2,
        org.tensorflow.op.linalg.MatMul.transposeA(transA), org.tensorflow.op.linalg.MatMul.transposeB(transB));
    return Tf.reshape(tf, product, target.sizes());
  }

  /** False if {@code names} is {@code first} then {@code second} exactly, true if the reverse, else null. */
  private static Boolean blockOrder(List<String> names, List<String> first, List<String> second) {
    if (names.equals(concat(first, second))) {
      return false;
    }
    return names.equals(concat(second, first)) ? true : null;
  }

  private static List<String> concat(List<String> a, List<String> b) {
    List<String> out = new ArrayList<>(a);
    out.addAll(b);
    return out;
  }

  private static long size(Shape s, List<String> names) {
    long n = 1;
    for (String d : names) {
      n *= s.dim(d).size();
    }
    return n;
  }

  private static Operand<?> einsum(Ops tf, Operand<?> x, Shape a, Operand<?> y, Shape b, Shape target) {
    Map<String, Character> letters = new HashMap<>();
    for (Dim d : a.union(b).dims()) {
      letters.put(d.name(), (char) ('a' + letters.size()));
    }
    String ta = term(a, letters);
    String tb = term(b, letters);
    String to = term(target, letters);
    if (!to.isEmpty() && ta.indexOf(to.charAt(0)) < 0 && tb.indexOf(to.charAt(0)) >= 0) {
      // TensorFlow lays the result out as (first operand's free dims, second's) and then
      // transposes; leading with the operand that leads the output saves that transpose.
      return tf.linalg.einsum((List) List.of(y, x), tb + "," + ta + "->" + to);
    }
    return tf.linalg.einsum((List) List.of(x, y), ta + "," + tb + "->" + to);
  }

  private static String term(Shape s, Map<String, Character> letters) {
    StringBuilder sb = new StringBuilder();
    s.names().forEach(n -> sb.append(letters.get(n)));
    return sb.toString();
  }

  /** Sums {@code x} (shape {@code from}) over the dims {@code to} lacks and orders the rest as {@code to}. */
  static Operand<?> reduceTo(Ops tf, Operand<?> x, Shape from, Shape to) {
    int[] summed = IntStream.range(0, from.rank()).filter(i -> !to.contains(from.get(i).name())).toArray();
    if (summed.length > 0) {
      x = tf.reduceSum((Operand) x, tf.constant(summed));
    }
    Shape kept = new Shape(from.dims().stream().filter(d -> to.contains(d.name())).toList());
    return Tf.transpose(tf, x, SliceAlign.permutation(kept, to));
  }
}
