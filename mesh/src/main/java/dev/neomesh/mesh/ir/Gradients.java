package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Shape;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reverse-mode differentiation on the mesh graph, before lowering, so the backward pass is laid
 * out and communicates like the forward pass. Walks ops in reverse creation order; where a
 * tensor feeds several ops its gradients are summed.
 */
public final class Gradients {
  private Gradients() {}

  /** The gradients of scalar {@code y} with respect to each of {@code xs} (zeros where y does not depend on x). */
  public static List<MeshTensor> of(MeshTensor y, List<MeshTensor> xs) {
    if (y.shape().rank() != 0) {
      throw new IllegalArgumentException("gradients need a scalar, got " + y);
    }
    MeshGraph g = y.graph();
    MeshOps m = new MeshOps(g);
    Set<MeshTensor> downstream = Collections.newSetFromMap(new IdentityHashMap<>());
    downstream.addAll(xs);
    List<Op> ops = new ArrayList<>(g.ops());
    for (Op op : ops) {
      if (op.inputs().stream().anyMatch(downstream::contains)) {
        downstream.addAll(op.outputs());
      }
    }
    Map<MeshTensor, MeshTensor> grads = new IdentityHashMap<>();
    grads.put(y, m.ones(Shape.SCALAR, y.dtype()));
    int last = ops.indexOf(y.op());
    for (int i = last; i >= 0; i--) {
      Op op = ops.get(i);
      if (!op.hasGradient() || op.inputs().stream().noneMatch(downstream::contains)) {
        continue;
      }
      List<MeshTensor> dys = new ArrayList<>();
      boolean any = false;
      for (MeshTensor out : op.outputs()) {
        MeshTensor d = grads.get(out);
        dys.add(d);
        any |= d != null;
      }
      if (!any) {
        continue;
      }
      if (dys.get(0) == null && op.outputs().size() == 1) {
        continue;
      }
      List<MeshTensor> dxs = op.gradient(dys);
      for (int k = 0; k < op.inputs().size(); k++) {
        MeshTensor x = op.inputs().get(k);
        MeshTensor dx = dxs.get(k);
        if (dx == null || !downstream.contains(x) || !x.dtype().isFloating()) {
          continue;
        }
        if (!dx.shape().equals(x.shape())) {
          dx = m.sumTo(dx, x.shape());
        }
        MeshTensor prev = grads.get(x);
        grads.put(x, prev == null ? dx : m.add(prev, dx));
      }
    }
    List<MeshTensor> result = new ArrayList<>();
    for (MeshTensor x : xs) {
      MeshTensor d = grads.get(x);
      result.add(d != null ? d : m.zeros(x.shape(), x.dtype()));
    }
    return result;
  }
}
