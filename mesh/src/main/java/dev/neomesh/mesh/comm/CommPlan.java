package dev.neomesh.mesh.comm;

import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.ArrayList;
import java.util.List;

/**
 * What one op communicates on one layout, decided once from its operands' layouts and pending
 * sums (the op's {@code plan}): the inputs whose pending SUM allreduces it carries out first
 * ({@link #resolved}), its own steps in order ({@link #steps}), and the mesh axes over which its
 * output is left a pending sum ({@link #pendingSum}). The lowering carries a plan out step by step;
 * the cost model adds plans up. A pending sum is paid by the first consumer that needs the whole
 * value, so {@code a@b + c@d} reduces once.
 */
public record CommPlan(List<Resolved> resolved, List<Comm> steps, int[] pendingSum) {
  private static final int[] NO_AXES = new int[0];

  /** No communication, every input complete already, the output complete. */
  public static final CommPlan NONE = new CommPlan(List.of(), List.of(), NO_AXES);

  /** A pending sum of {@code tensor} carried out before the op reads it. */
  public record Resolved(MeshTensor tensor, Comm.AllReduce allreduce) {}

  public CommPlan {
    resolved = List.copyOf(resolved);
    steps = List.copyOf(steps);
  }

  /** Every step that moves data, in the order the lowering runs them (resolved inputs first). */
  public List<Comm> communication() {
    List<Comm> out = new ArrayList<>(resolved.size() + steps.size());
    resolved.forEach(r -> out.add(r.allreduce()));
    steps.stream().filter(Comm::communicates).forEach(out::add);
    return out;
  }

  /** The plan of an op that reads every input whole and communicates nothing else. */
  public static CommPlan resolving(PlanContext c, List<MeshTensor> inputs) {
    Builder b = null;
    for (int i = 0; i < inputs.size(); i++) { // no iterator: the cost model asks this of every op of every layout
      MeshTensor t = inputs.get(i);
      if (c.pendingSum(t).length > 0) {
        b = b == null ? new Builder(c) : b;
        b.resolve(t);
      }
    }
    return b == null ? NONE : b.build();
  }

  public static Builder builder(PlanContext c) {
    return new Builder(c);
  }

  /** The allreduce that completes {@code t}'s pending sum over {@code axes}. */
  public static Comm.AllReduce resolution(PlanContext c, MeshTensor t, int[] axes) {
    return Comm.AllReduce.of(c.mesh(), axes, Reduction.SUM, c.sliceBytes(t), c.sliceElements(t));
  }

  /** {@code axes} without size-1 axes, ascending, without repeats: the axes a collective really spans. */
  public static int[] activeAxes(MeshShape mesh, int[] axes) {
    int mask = 0;
    for (int a : axes) {
      if (mesh.axisSize(a) > 1) {
        mask |= 1 << a;
      }
    }
    if (mask == 0) {
      return NO_AXES;
    }
    int[] out = new int[Integer.bitCount(mask)];
    for (int a = 0, k = 0; k < out.length; a++) {
      if ((mask & (1 << a)) != 0) {
        out[k++] = a;
      }
    }
    return out;
  }


  static int groupSize(MeshShape mesh, int[] axes) {
    int n = 1;
    for (int a : axes) {
      n *= mesh.axisSize(a);
    }
    return n;
  }

  /** Builds a plan: resolutions of inputs, steps and the output's pending sum, in the order they happen. */
  public static final class Builder {
    private final PlanContext c;
    private final List<Resolved> resolved = new ArrayList<>();
    private final List<Comm> steps = new ArrayList<>();
    private int[] pendingSum = NO_AXES;

    private Builder(PlanContext c) {
      this.c = c;
    }

    /** The op needs {@code t} whole: carry out its pending sum first (once, however often it is an input). */
    public Builder resolve(MeshTensor t) {
      int[] axes = c.pendingSum(t);
      if (axes.length == 0) {
        return this;
      }
      for (Resolved r : resolved) {
        if (r.tensor() == t) {
          return this;
        }
      }
      resolved.add(new Resolved(t, resolution(c, t, axes)));
      return this;
    }

    public Builder resolveAll(List<MeshTensor> ts) {
      for (int i = 0; i < ts.size(); i++) {
        resolve(ts.get(i));
      }
      return this;
    }

    /** An allreduce over {@code axes} (size-1 axes dropped; nothing when none is left). */
    public Builder allreduce(int[] axes, Reduction r, long bytes, long elements) {
      int[] active = activeAxes(c.mesh(), axes);
      if (active.length > 0) {
        steps.add(Comm.AllReduce.of(c.mesh(), active, r, bytes, elements));
      }
      return this;
    }

    public Builder allconcat(int axis, int dim, long bytes, long elements) {
      steps.add(new Comm.AllConcat(axis, dim, bytes, elements, c.mesh().axisSize(axis)));
      return this;
    }

    public Builder alltoall(int axis, int splitDim, int concatDim, long bytes, long elements) {
      steps.add(new Comm.AllToAll(axis, splitDim, concatDim, bytes, elements, c.mesh().axisSize(axis)));
      return this;
    }

    public Builder allsplit(int axis, int dim) {
      steps.add(new Comm.AllSplit(axis, dim, c.mesh().axisSize(axis)));
      return this;
    }

    public Builder reduceScatter(int axis, int dim, long bytes, long elements) {
      steps.add(new Comm.ReduceScatter(axis, dim, bytes, elements, c.mesh().axisSize(axis)));
      return this;
    }

    public Builder shift(int axis, int offset, boolean wrap, long bytes, long elements) {
      steps.add(new Comm.Shift(axis, offset, wrap, bytes, elements, c.mesh().axisSize(axis)));
      return this;
    }

    /** The output stays a partial sum over {@code axes} (size-1 axes dropped). */
    public Builder pendingSum(int[] axes) {
      pendingSum = activeAxes(c.mesh(), axes);
      return this;
    }

    public CommPlan build() {
      return resolved.isEmpty() && steps.isEmpty() && pendingSum.length == 0 ? NONE
          : new CommPlan(resolved, steps, pendingSum);
    }
  }
}
