package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
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
import org.tensorflow.op.core.Gather;
import org.tensorflow.op.nn.TopK;

/**
 * The k largest values along a dim and their indices (int32), in a new dim {@code kDim} at the
 * same position; ties go to the lower index, as TensorFlow's TopK breaks them. A dim split over a
 * mesh axis of n devices is reduced to candidates when that moves fewer bytes ({@code
 * candidateAxis}): each device takes the top k of its slice (indices made global), the n k
 * candidates are gathered over the axis (allconcat of the values and of the indices: k per row and
 * device instead of the slice length D/n), and a top k of the candidates picks the result, its
 * indices gathered from the candidates'. The top k of the whole dim is among the candidates, since
 * fewer than k elements of its own slice precede any of its members; and concatenated in device
 * order the candidates of equal value stand in the order of their global indices, so the tie-break
 * is the single device's. Otherwise (k near or above the slice length) the whole slices are gathered.
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

  private int k() {
    return output().shape().get(inputs().get(0).shape().indexOf(dim)).size();
  }

  /**
   * The mesh axis over which the input's slices are reduced to k candidates each before they are
   * gathered: the axis splitting the dim, when it has more than one device and k values and k int32
   * indices per row are fewer bytes than the slice's row (so k is below the slice length: below half
   * of it for float32, two thirds for float64). -1 when the whole slices are gathered or nothing is.
   */
  private static int candidateAxis(TensorLayout xLayout, MeshShape mesh, int i, int k, DType dtype) {
    int axis = xLayout.meshAxisOf(i);
    boolean split = axis >= 0 && mesh.axisSize(axis) > 1;
    long sliceLength = xLayout.sliceShape().get(i).size();
    return split && (long) k * (dtype.bytes() + DType.INT32.bytes()) < sliceLength * dtype.bytes() ? axis : -1;
  }

  /**
   * The input whole. A split dim is gathered over its axis: as k candidates per device (two
   * allconcats, of the values and of the int32 indices, each of the slice's elements times k over
   * the slice length) where that is fewer bytes, else as the whole slices (one allconcat). When
   * the layout splits the k dim of the outputs, each device keeps its part of the k results
   * (allsplit, local).
   */
  @Override
  public CommPlan plan(PlanContext c) {
    MeshTensor x = inputs().get(0);
    CommPlan.Builder b = CommPlan.builder(c).resolve(x);
    int i = x.shape().indexOf(dim);
    TensorLayout xLayout = c.layout(x);
    int axis = xLayout.meshAxisOf(i);
    int k = k();
    if (candidateAxis(xLayout, c.mesh(), i, k, x.dtype()) >= 0) {
      // the candidates are kept with the dim last (as TopK works on it), so they join on that dim
      int last = x.shape().rank() - 1;
      long candidates = c.sliceElements(x) / xLayout.sliceShape().get(i).size() * k;
      b.allconcat(axis, last, candidates * x.dtype().bytes(), candidates);
      b.allconcat(axis, last, candidates * DType.INT32.bytes(), candidates);
    } else if (axis >= 0 && c.mesh().axisSize(axis) > 1) {
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
    int k = k();
    TensorLayout xLayout = l.layout(x);
    List<Comm> concats = new ArrayList<>();
    Comm split = null;
    for (Comm step : l.plan().steps()) {
      if (step instanceof Comm.AllSplit) {
        split = step;
      } else {
        concats.add(step);
      }
    }
    int rank = x.shape().rank();
    int[] toLast = IntStream.concat(IntStream.range(0, rank).filter(d -> d != i), IntStream.of(i)).toArray();
    int[] back = new int[rank];
    for (int d = 0; d < rank; d++) {
      back[toLast[d]] = d;
    }
    LaidOutTensor v = l.get(x);
    List<Operand<?>> values = new ArrayList<>();
    List<Operand<?>> indices = new ArrayList<>();
    if (candidateAxis(xLayout, l.mesh(), i, k, x.dtype()) >= 0) {
      // each device's top k of its slice, the indices offset to positions in the whole dim
      List<Operand<?>> localValues = new ArrayList<>();
      List<Operand<?>> localIndices = new ArrayList<>();
      for (int p = 0; p < l.mesh().size(); p++) {
        Ops tf = l.tf(p);
        TopK<?, ?> top = topK(tf, Tf.transpose(tf, v.slice(p), toLast), k);
        localValues.add(top.values());
        localIndices.add(Tf.add(tf, top.indices(), tf.constant((int) xLayout.sliceBegin(p)[i])));
      }
      // n k candidates per row on every device of the axis, in device order
      LaidOutTensor candidateValues = l.run(concats.get(0), LaidOutTensor.of(localValues));
      LaidOutTensor candidateIndices = l.run(concats.get(1), LaidOutTensor.of(localIndices));
      for (int p = 0; p < l.mesh().size(); p++) {
        Ops tf = l.tf(p);
        TopK<?, ?> top = topK(tf, candidateValues.slice(p), k);
        Operand<?> picked = gatherLast(tf, candidateIndices.slice(p), top.indices(), rank);
        values.add(Tf.transpose(tf, top.values(), back));
        indices.add(Tf.transpose(tf, picked, back));
      }
    } else {
      for (Comm step : concats) {
        v = l.run(step, v);
      }
      for (int p = 0; p < l.mesh().size(); p++) {
        Ops tf = l.tf(p);
        TopK<?, ?> top = topK(tf, Tf.transpose(tf, v.slice(p), toLast), k);
        values.add(Tf.transpose(tf, top.values(), back));
        indices.add(Tf.transpose(tf, top.indices(), back));
      }
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

  /** {@code params[..., positions[..., j]]} along the last dim, every leading dim a batch dim. */
  @SuppressWarnings({"unchecked", "rawtypes"})
  private static Operand<?> gatherLast(Ops tf, Operand params, Operand positions, int rank) {
    return tf.gather(params, positions, tf.constant(rank - 1), Gather.batchDims((long) (rank - 1)));
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
