package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.comm.Comm;
import dev.neomesh.mesh.comm.CommPlan;
import dev.neomesh.mesh.comm.PlanContext;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.Tf;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.nn.TopK;

/**
 * The k largest values along a dim and their indices (int32), in a new dim {@code kDim} at the
 * same position. A split dim is first gathered over its mesh axis (allconcat), since the top k
 * of the whole dim may sit on any device.
 */
public final class TopKOp extends Op {
  private final String dim;

  TopKOp(MeshGraph g, MeshTensor x, String dim, Dim kDim) {
    super(g, "top_k", List.of(x));
    if (kDim.size() > x.shape().dim(dim).size()) {
      throw new IllegalArgumentException("top_k with k=" + kDim.size() + " of dim " + x.shape().dim(dim));
    }
    this.dim = dim;
    Shape out = new Shape(x.shape().dims().stream().map(d -> d.name().equals(dim) ? kDim : d).toList());
    addOutput(out, x.dtype());
    addOutput(out, DType.INT32);
  }

  public String dim() {
    return dim;
  }

  /**
   * The input whole; a split dim gathered over its axis (allconcat); when the layout splits the k
   * dim of the outputs, each device keeps its part of the k results (allsplit, local).
   */
  @Override
  public CommPlan plan(PlanContext c) {
    MeshTensor x = inputs().get(0);
    CommPlan.Builder b = CommPlan.builder(c).resolve(x);
    int i = x.shape().indexOf(dim);
    int axis = c.layout(x).meshAxisOf(i);
    if (axis >= 0 && c.mesh().axisSize(axis) > 1) {
      b.allconcat(axis, i, c.sliceBytes(x), c.sliceElements(x));
    }
    int kAxis = c.layout(output()).meshAxisOf(i);
    if (kAxis >= 0) {
      b.allsplit(kAxis, i);
    }
    return b.build();
  }

  @Override
  public void lower(LoweringContext l) {
    MeshTensor x = inputs().get(0);
    int i = x.shape().indexOf(dim);
    LaidOutTensor v = l.get(x);
    Comm split = null;
    for (Comm step : l.plan().steps()) {
      if (step instanceof Comm.AllSplit) {
        split = step;
      } else {
        v = l.run(step, v);
      }
    }
    int rank = x.shape().rank();
    int[] toLast = IntStream.concat(IntStream.range(0, rank).filter(d -> d != i), IntStream.of(i)).toArray();
    int[] back = new int[rank];
    for (int d = 0; d < rank; d++) {
      back[toLast[d]] = d;
    }
    int k = output().shape().get(i).size();
    List<Operand<?>> values = new ArrayList<>();
    List<Operand<?>> indices = new ArrayList<>();
    for (int p = 0; p < l.mesh().size(); p++) {
      Ops tf = l.tf(p);
      TopK<?, ?> top = topK(tf, Tf.transpose(tf, v.slice(p), toLast), k);
      values.add(Tf.transpose(tf, top.values(), back));
      indices.add(Tf.transpose(tf, top.indices(), back));
    }
    // every device computed the whole k dim; keep its own part if the layout splits the k dim
    LaidOutTensor topValues = LaidOutTensor.of(values);
    LaidOutTensor topIndices = LaidOutTensor.of(indices);
    l.set(outputs().get(0), split == null ? topValues : l.run(split, topValues));
    l.set(outputs().get(1), split == null ? topIndices : l.run(split, topIndices));
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static TopK<?, ?> topK(Ops tf, Operand x, int k) {
    return tf.nn.topK(x, tf.constant(k), org.tensorflow.types.TInt32.class, TopK.sorted(true));
  }

  @Override
  public boolean hasGradient() {
    return inputs().get(0).dtype().isFloating();
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    MeshTensor dy = dys.get(0);
    if (dy == null) {
      return Arrays.asList((MeshTensor) null);
    }
    MeshOps m = new MeshOps(graph());
    MeshTensor x = inputs().get(0);
    MeshTensor hot = m.oneHot(outputs().get(1), x.shape().dim(dim), dy.dtype());
    return List.of(m.einsum(List.of(dy, hot), x.shape()));
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
