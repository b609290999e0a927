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
 * tensor feeds several ops its gradients are summed. A recomputed segment ({@link MeshOps#recompute})
 * is differentiated through a copy of its body built when the walk reaches it, so the copy's ops
 * come after the backward of everything later and read the segment's inputs only once the
 * gradient of its outputs exists.
 */
public final class Gradients {
  private final MeshGraph g;
  private final MeshOps m;
  /** Tensors that depend on one of the xs: only their ops are differentiated. */
  private final Set<MeshTensor> downstream = Collections.newSetFromMap(new IdentityHashMap<>());
  private final Map<MeshTensor, MeshTensor> grads = new IdentityHashMap<>();
  /**
   * The gradients the last differentiated copy of a recomputed segment gave the tensors it read from
   * outside (its parameters): the next copy waits for them, so one copy's activations are freed
   * before the next is built, as the cost model's memory has it.
   */
  private List<MeshTensor> lastCopyDone = List.of();

  private Gradients(MeshGraph g) {
    this.g = g;
    this.m = new MeshOps(g);
  }

  /** The gradients of scalar {@code y} with respect to each of {@code xs} (zeros where y does not depend on x). */
  public static List<MeshTensor> of(MeshTensor y, List<MeshTensor> xs) {
    if (y.shape().rank() != 0) {
      throw new IllegalArgumentException("gradients need a scalar, got " + y);
    }
    Gradients d = new Gradients(y.graph());
    d.downstream.addAll(xs);
    List<Op> ops = new ArrayList<>(d.g.ops());
    d.markDownstream(ops);
    d.grads.put(y, d.m.ones(Shape.SCALAR, y.dtype()));
    d.backward(ops, ops.indexOf(y.op()), true);
    List<MeshTensor> result = new ArrayList<>();
    for (MeshTensor x : xs) {
      MeshTensor dx = d.grads.get(x);
      result.add(dx != null ? dx : d.m.zeros(x.shape(), x.dtype()));
    }
    return result;
  }

  private void markDownstream(List<Op> ops) {
    for (Op op : ops) {
      if (op.inputs().stream().anyMatch(downstream::contains)) {
        downstream.addAll(op.outputs());
      }
    }
  }

  /**
   * Differentiates {@code ops[0..last]} in reverse; {@code segments}: whether ops ending a recomputed
   * segment (indexes of the whole graph, so only for the graph's own op list) are recomputed.
   */
  private void backward(List<Op> ops, int last, boolean segments) {
    for (int i = last; i >= 0; i--) {
      MeshGraph.Recompute r = segments ? g.recomputeEndingAt(i) : null;
      if (r != null) {
        backwardRecomputed(r, ops);
        i = r.first();
        continue;
      }
      Op op = ops.get(i);
      if (!op.hasGradient() || op.inputs().stream().noneMatch(downstream::contains)) {
        continue;
      }
      List<MeshTensor> dys = new ArrayList<>();
      boolean any = false;
      for (MeshTensor out : op.outputs()) {
        MeshTensor dy = grads.get(out);
        dys.add(dy);
        any |= dy != null;
      }
      if (!any || (dys.get(0) == null && op.outputs().size() == 1)) {
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
  }

  /**
   * The segment's backward: its body built again from its inputs gated on the first output
   * gradient ({@link AfterOp}), the gradients of its outputs moved onto the copy's, and the copy
   * differentiated (its gates pass the gradients on to the real inputs).
   */
  private void backwardRecomputed(MeshGraph.Recompute r, List<Op> ops) {
    for (int i = r.first(); i <= r.last(); i++) {
      if (ops.get(i) instanceof VariableOp) {
        continue; // made by the body's first build (a parameter, not an activation): later blocks may share it
      }
      for (MeshTensor t : ops.get(i).outputs()) {
        if (grads.containsKey(t) && !r.outputs().contains(t)) {
          throw new IllegalStateException("recomputed segment ending at " + ops.get(r.last()) + ": " + t
              + " is read outside it; return it as one of the segment's outputs");
        }
      }
    }
    MeshTensor trigger = null;
    for (MeshTensor out : r.outputs()) {
      if (trigger == null && isInside(out, r, ops)) {
        trigger = grads.get(out);
      }
    }
    if (trigger == null) {
      return; // nothing the loss depends on leaves the segment
    }
    int copyFrom = g.ops().size();
    List<MeshTensor> triggers = new ArrayList<>(List.of(trigger));
    triggers.addAll(lastCopyDone);
    List<MeshTensor> gated = new ArrayList<>();
    for (MeshTensor x : r.inputs()) {
      gated.add(m.after(x, triggers));
    }
    List<MeshTensor> copy;
    g.setRecomputing(triggers);
    try {
      copy = r.body().apply(gated);
    } finally {
      g.setRecomputing(null);
    }
    if (copy.size() != r.outputs().size()) {
      throw new IllegalStateException("a recomputed body returned " + copy.size() + " outputs, first " + r.outputs().size());
    }
    List<Op> copyOps = new ArrayList<>(g.ops().subList(copyFrom, g.ops().size()));
    markDownstream(copyOps);
    for (int k = 0; k < copy.size(); k++) {
      MeshTensor out = r.outputs().get(k);
      MeshTensor dy = isInside(out, r, ops) ? grads.remove(out) : null;
      if (dy != null) {
        MeshTensor c = copy.get(k);
        if (!c.shape().equals(out.shape()) || c.dtype() != out.dtype()) {
          throw new IllegalStateException("a recomputed body built " + c + " where it first built " + out);
        }
        MeshTensor prev = grads.get(c);
        grads.put(c, prev == null ? dy : m.add(prev, dy));
      }
    }
    backward(copyOps, copyOps.size() - 1, false);
    Set<MeshTensor> inside = Collections.newSetFromMap(new IdentityHashMap<>());
    copyOps.forEach(op -> inside.addAll(op.outputs()));
    Set<MeshTensor> done = Collections.newSetFromMap(new IdentityHashMap<>());
    for (Op op : copyOps) {
      for (MeshTensor x : op.inputs()) {
        MeshTensor dx = inside.contains(x) || r.inputs().contains(x) ? null : grads.get(x);
        if (dx != null) {
          done.add(dx);
        }
      }
    }
    lastCopyDone = new ArrayList<>(done);
  }

  /** Whether {@code t} is made by one of the segment's ops (not one of its inputs passed through). */
  private static boolean isInside(MeshTensor t, MeshGraph.Recompute r, List<Op> ops) {
    int i = ops.indexOf(t.op());
    return i >= r.first() && i <= r.last();
  }
}
