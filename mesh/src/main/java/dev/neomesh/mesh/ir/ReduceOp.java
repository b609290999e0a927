package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.Lowering;
import dev.neomesh.mesh.lower.MeshImpl;
import dev.neomesh.mesh.lower.SliceAlign;
import dev.neomesh.mesh.lower.Tf;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/**
 * Sum, max or min over the dims missing from the output shape: a local reduction, then an
 * allreduce over the mesh axes of the reduced dims that are split (kept lazy for sums).
 */
public final class ReduceOp extends Op {
  /** The reductions. */
  public enum Kind { SUM, MAX, MIN }

  private final Kind kind;

  ReduceOp(MeshGraph g, Kind kind, MeshTensor x, Shape output) {
    super(g, "reduce_" + kind.name().toLowerCase(), List.of(x));
    if (!x.shape().dims().containsAll(output.dims())) {
      throw new IllegalArgumentException("reduce output " + output + " is not a subset of " + x.shape());
    }
    this.kind = kind;
    addOutput(output, x.dtype());
  }

  public Kind kind() {
    return kind;
  }

  @Override
  public void lower(Lowering l) {
    MeshTensor x = inputs().get(0);
    Shape in = x.shape();
    Shape out = output().shape();
    TensorLayout layout = l.layout(x);
    int[] reducedDims = IntStream.range(0, in.rank()).filter(i -> !out.contains(in.get(i).name())).toArray();
    Shape kept = new Shape(in.dims().stream().filter(d -> out.contains(d.name())).toList());
    int[] perm = SliceAlign.permutation(kept, out);
    boolean lazyInput = kind == Kind.SUM && l.pendingSumAxes(x).length > 0;
    LaidOutTensor src = lazyInput ? l.getPartial(x) : l.get(x);
    LaidOutTensor local = l.impl().slicewise((tf, p, s) -> Tf.transpose(tf, reduce(tf, s.get(0), reducedDims), perm),
        List.of(src));
    List<Integer> axes = new ArrayList<>();
    for (int i : reducedDims) {
      if (layout.meshAxisOf(i) >= 0) {
        axes.add(layout.meshAxisOf(i));
      }
    }
    if (lazyInput) {
      Arrays.stream(l.pendingSumAxes(x)).forEach(axes::add);
    }
    int[] axisArray = axes.stream().mapToInt(Integer::intValue).toArray();
    if (kind == Kind.SUM) {
      l.setPartialSum(output(), local, axisArray);
    } else {
      MeshImpl.Reduction r = kind == Kind.MAX ? MeshImpl.Reduction.MAX : MeshImpl.Reduction.MIN;
      l.set(output(), l.impl().allreduce(local, axisArray, r, l.sliceBytes(output())));
    }
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private Operand<?> reduce(Ops tf, Operand x, int[] dims) {
    if (dims.length == 0) {
      return x;
    }
    Operand<?> axes = tf.constant(dims);
    return switch (kind) {
      case SUM -> tf.reduceSum(x, (Operand) axes);
      case MAX -> tf.reduceMax(x, (Operand) axes);
      case MIN -> tf.reduceMin(x, (Operand) axes);
    };
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    MeshOps m = new MeshOps(graph());
    MeshTensor x = inputs().get(0);
    MeshTensor dy = dys.get(0);
    MeshTensor broadcastDy = m.broadcastTo(dy, x.shape());
    if (kind == Kind.SUM) {
      return List.of(broadcastDy);
    }
    MeshTensor mask = m.cast(m.equal(x, output()), x.dtype());
    return List.of(m.mul(broadcastDy, mask));
  }
}
