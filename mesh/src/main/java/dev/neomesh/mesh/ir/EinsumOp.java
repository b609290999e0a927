package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.Lowering;
import dev.neomesh.mesh.lower.SliceAlign;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;

/**
 * Einstein summation over named dims: matmul, multiply, broadcast, transpose and
 * gather-by-one-hot are all this op. Dims absent from the output are summed; output dims absent
 * from every input are broadcast. Lowered as a local einsum on slices followed by a lazy SUM
 * allreduce over the mesh axes of the summed dims that are split.
 */
public final class EinsumOp extends Op {
  EinsumOp(MeshGraph g, List<MeshTensor> xs, Shape output) {
    super(g, "einsum", xs);
    DType dtype = xs.get(0).dtype();
    Shape union = Shape.SCALAR;
    for (MeshTensor x : xs) {
      if (x.dtype() != dtype) {
        throw new IllegalArgumentException("einsum inputs differ in dtype: " + xs);
      }
      union = union.union(x.shape());
    }
    for (Dim d : output.dims()) {
      int i = union.indexOf(d.name());
      if (i >= 0 && union.get(i).size() != d.size()) {
        throw new IllegalArgumentException("einsum output dim " + d + " differs from input dim " + union.get(i));
      }
    }
    addOutput(output, dtype);
  }

  private Shape union() {
    Shape u = Shape.SCALAR;
    for (MeshTensor x : inputs()) {
      u = u.union(x.shape());
    }
    return u;
  }

  @Override
  public void lower(Lowering l) {
    Shape union = union();
    TensorLayout unionLayout = l.layout("the inputs of " + name(), union);
    Shape out = output().shape();
    Shape computed = new Shape(out.dims().stream().filter(d -> union.contains(d.name())).toList());
    Map<String, Character> letters = new HashMap<>();
    for (Dim d : union.dims()) {
      letters.put(d.name(), (char) ('a' + letters.size()));
    }
    StringBuilder eq = new StringBuilder();
    for (int i = 0; i < inputs().size(); i++) {
      eq.append(i > 0 ? "," : ""); // by index: a scalar operand has an empty term
      inputs().get(i).shape().names().forEach(n -> eq.append(letters.get(n)));
    }
    eq.append("->");
    computed.names().forEach(n -> eq.append(letters.get(n)));
    String equation = eq.toString();
    Shape outSlice = l.layout(output()).sliceShape();
    Shape computedSlice = new Shape(outSlice.dims().stream().filter(d -> union.contains(d.name())).toList());
    boolean broadcast = computed.rank() != out.rank();
    List<MeshTensor> ins = inputs();
    LaidOutTensor result = l.slicewise((tf, p, slices) -> {
      Operand<?> y = localEinsum(tf, slices, equation);
      if (broadcast) {
        y = SliceAlign.expandTo(tf, y, computed, out, outSlice);
        y = broadcast(tf, y, outSlice.sizes());
      }
      return y;
    }, ins.toArray(MeshTensor[]::new));
    List<Integer> reduced = new ArrayList<>();
    for (int i = 0; i < union.rank(); i++) {
      if (!out.contains(union.get(i).name()) && unionLayout.meshAxisOf(i) >= 0) {
        reduced.add(unionLayout.meshAxisOf(i));
      }
    }
    l.setPartialSum(output(), result, reduced.stream().mapToInt(Integer::intValue).toArray());
  }

  /**
   * TensorFlow's Einsum takes one or two operands, so more are contracted pairwise, left to right;
   * each intermediate keeps the dims that the output or a later operand still needs.
   */
  @SuppressWarnings({"unchecked", "rawtypes"})
  private static Operand<?> localEinsum(org.tensorflow.op.Ops tf, List<Operand<?>> slices, String equation) {
    String[] sides = equation.split("->", -1);
    String[] terms = sides[0].split(",", -1);
    if (terms.length == 2 && !sides[1].isEmpty() && terms[0].indexOf(sides[1].charAt(0)) < 0
        && terms[1].indexOf(sides[1].charAt(0)) >= 0) {
      // TensorFlow's kernel lays the result out as (first operand's free dims, second's) and then
      // transposes; putting first the operand that leads the output saves that transpose (the
      // weight gradient of a matmul, ab,ac->cb, is ~30% faster as ac,ab->cb).
      return tf.linalg.einsum((List) List.of(slices.get(1), slices.get(0)),
          terms[1] + "," + terms[0] + "->" + sides[1]);
    }
    if (terms.length <= 2) {
      return tf.linalg.einsum((List) slices, equation);
    }
    Operand<?> acc = slices.get(0);
    String accTerm = terms[0];
    for (int i = 1; i < terms.length; i++) {
      StringBuilder later = new StringBuilder(sides[1]);
      for (int j = i + 1; j < terms.length; j++) {
        later.append(terms[j]);
      }
      StringBuilder keep = new StringBuilder();
      for (char ch : (accTerm + terms[i]).toCharArray()) {
        if (later.indexOf(String.valueOf(ch)) >= 0 && keep.indexOf(String.valueOf(ch)) < 0) {
          keep.append(ch);
        }
      }
      String out = i == terms.length - 1 ? sides[1] : keep.toString();
      acc = tf.linalg.einsum((List) List.of(acc, slices.get(i)), accTerm + "," + terms[i] + "->" + out);
      accTerm = out;
    }
    return acc;
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static Operand<?> broadcast(org.tensorflow.op.Ops tf, Operand<?> y, long[] shape) {
    return tf.broadcastTo((Operand) y, tf.constant(shape));
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    MeshTensor dy = dys.get(0);
    MeshOps m = new MeshOps(graph());
    List<MeshTensor> grads = new ArrayList<>();
    for (int i = 0; i < inputs().size(); i++) {
      List<MeshTensor> operands = new ArrayList<>();
      operands.add(dy);
      for (int j = 0; j < inputs().size(); j++) {
        if (j != i) {
          operands.add(inputs().get(j));
        }
      }
      grads.add(m.einsum(operands, inputs().get(i).shape()));
    }
    return grads;
  }
}
