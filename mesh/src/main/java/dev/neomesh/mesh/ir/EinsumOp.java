package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.comm.CommPlan;
import dev.neomesh.mesh.comm.PlanContext;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.LocalEinsum;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.SliceAlign;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.tensorflow.Operand;

/**
 * Einstein summation over named dims: matmul, multiply, broadcast, transpose and
 * gather-by-one-hot are all this op. Dims absent from the output are summed; output dims absent
 * from every input are broadcast. Lowered as a local einsum on slices followed by a lazy SUM
 * allreduce over the mesh axes of the summed dims that are split ({@link OneHotContraction}
 * replaces the local einsum of an embedding lookup and its gradient).
 */
public final class EinsumOp extends Op {
  private final Shape union;
  /** Positions in {@link #union} of the dims the output lacks: the summed dims. */
  private final int[] summed;

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
    this.union = union;
    Shape u = union;
    this.summed = IntStream.range(0, u.rank()).filter(i -> !output.contains(u.get(i).name())).toArray();
    addOutput(output, dtype);
  }

  /** The union of the input shapes: the shape the lowering lays out to find the summed mesh axes. */
  public Shape union() {
    return union;
  }

  /** Every input whole; the output a pending SUM over the mesh axes of the summed dims that are split. */
  @Override
  public CommPlan plan(PlanContext c) {
    return CommPlan.builder(c).resolveAll(inputs()).pendingSum(summedAxes(c)).build();
  }

  @Override
  public void lower(LoweringContext l) {
    if (OneHotContraction.tryLower(this, l)) {
      return; // an embedding lookup or its table gradient: a gather or a segment sum
    }
    Shape out = output().shape();
    Shape computed = new Shape(out.dims().stream().filter(d -> union.contains(d.name())).toList());
    Shape outSlice = l.layout(output()).sliceShape();
    Shape computedSlice = new Shape(outSlice.dims().stream().filter(d -> union.contains(d.name())).toList());
    List<Shape> inSlices = inputs().stream().map(t -> l.layout(t).sliceShape()).toList();
    boolean broadcast = computed.rank() != out.rank();
    LaidOutTensor result = l.slicewise((tf, p, slices) -> {
      Operand<?> y = LocalEinsum.contract(tf, slices, inSlices, computedSlice);
      if (broadcast) {
        y = SliceAlign.expandTo(tf, y, computedSlice, outSlice, outSlice);
        y = broadcast(tf, y, outSlice.sizes());
      }
      return y;
    }, inputs().toArray(MeshTensor[]::new));
    l.set(output(), result);
  }

  /** The mesh axes of the summed dims (in the union, not in the output) that the layout splits. */
  private int[] summedAxes(PlanContext c) {
    TensorLayout unionLayout = c.layout(() -> "the inputs of " + name(), union);
    int[] axes = new int[summed.length];
    int n = 0;
    for (int i : summed) {
      int a = unionLayout.meshAxisOf(i);
      if (a >= 0) {
        axes[n++] = a;
      }
    }
    return n == axes.length ? axes : java.util.Arrays.copyOf(axes, n);
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

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
