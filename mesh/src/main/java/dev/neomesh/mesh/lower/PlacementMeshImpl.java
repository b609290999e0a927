package dev.neomesh.mesh.lower;

import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.comm.Comm;
import dev.neomesh.mesh.comm.Reduction;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.op.JitScopes;
import org.tensorflow.op.Ops;

/**
 * One TensorFlow graph for the whole mesh, each op pinned to its device; TensorFlow inserts the
 * sends and receives between devices (in-process for virtual CPUs and GPUs, gRPC for cluster
 * tasks). Collectives are written as real algorithms over those transfers: a chunked ring
 * allreduce for large tensors, a reduce-then-broadcast chain for small ones, direct allconcat and
 * alltoall, and neighbour copies for shifts. What each collective moves was decided by the op's
 * plan ({@link Comm}); {@link #work} counts what these algorithms cost, for the planner.
 */
public final class PlacementMeshImpl implements MeshImpl {
  private final MeshShape shape;
  private final Ops[] scopes;

  public PlacementMeshImpl(Graph graph, MeshShape shape, Devices devices) {
    this(graph, shape, devices, LoweringOptions.Jit.NONE);
  }

  /** As {@link #PlacementMeshImpl(Graph, MeshShape, Devices)}, each device's ops marked for XLA as {@code jit} says. */
  public PlacementMeshImpl(Graph graph, MeshShape shape, Devices devices, LoweringOptions.Jit jit) {
    if (devices.size() != shape.size()) {
      throw new dev.neomesh.mesh.LayoutException("The mesh " + shape + " has " + shape.size() + " devices but "
          + devices.size() + " were given: pass exactly " + shape.size() + " devices (or change mesh_shape)");
    }
    this.shape = shape;
    Ops root = Ops.create(graph);
    this.scopes = new Ops[shape.size()];
    for (int p = 0; p < scopes.length; p++) {
      scopes[p] = root.withDevice(devices.specs().get(p));
      if (jit != LoweringOptions.Jit.NONE) { // one XLA scope per device: no cluster spans two devices
        scopes[p] = JitScopes.compiled(scopes[p], "neomesh_device_" + p, jit::compiles);
      }
    }
  }

  @Override
  public MeshShape shape() {
    return shape;
  }

  @Override
  public Ops tf(int pnum) {
    return scopes[pnum];
  }

  @Override
  public LaidOutTensor slicewise(SliceFn fn, List<LaidOutTensor> inputs) {
    List<Operand<?>> out = new ArrayList<>(size());
    for (int p = 0; p < size(); p++) {
      List<Operand<?>> slices = new ArrayList<>(inputs.size());
      for (LaidOutTensor in : inputs) {
        slices.add(in.slice(p));
      }
      out.add(fn.apply(scopes[p], p, slices));
    }
    return LaidOutTensor.of(out);
  }

  @Override
  public LaidOutTensor run(Comm step, LaidOutTensor x) {
    if (step instanceof Comm.AllReduce r) {
      return allreduce(x, r);
    } else if (step instanceof Comm.AllConcat c) {
      return allconcat(x, c.axis(), c.dim());
    } else if (step instanceof Comm.AllToAll a) {
      return alltoall(x, a.axis(), a.splitDim(), a.concatDim());
    } else if (step instanceof Comm.AllSplit s) {
      return allsplit(x, s.axis(), s.dim());
    } else if (step instanceof Comm.Shift s) {
      return shift(x, s);
    } else if (step instanceof Comm.ReduceScatter r) {
      return reduceScatter(x, r.axis(), r.dim());
    }
    throw new IllegalArgumentException("unknown step " + step);
  }

  /**
   * What one planned collective costs each device of its group, on average over the group, as
   * these algorithms lower it for a slice of S bytes: TensorFlow ops, cross-device transfers
   * (Send/Recv pairs), bytes transferred and elements added or copied. Counted from the code below,
   * per group of n:
   * <ul>
   *   <li>pair allreduce (n = 2, any size): one combine per member, receiving the other's slice
   *       (1 op and 1 transfer per device, S bytes, S elements added);
   *   <li>chain allreduce: n-1 combines and n-1 identities, each receiving from another device
   *       (2(n-1) ops and transfers, 2(n-1) S bytes, (n-1) S elements added);
   *   <li>ring allreduce: per member a reshape, a split, a concat and a reshape, per chunk n-1
   *       combines and n-1 identities (4n + 2n(n-1) ops, 2n(n-1) transfers of S/n, (n-1) S added and
   *       n S copied by the concats);
   *   <li>allconcat: n concats of n parts, n(n-1) of them received (n^2 S copied);
   *   <li>alltoall: n splits and n concats, n(n-1) pieces of S/n received (2 n S copied);
   *   <li>shift: one identity per member, received from its neighbour;
   *   <li>reduce-scatter: per member a split and n-1 additions of the parts the others send it
   *       (n ops, n-1 transfers of S/n, (n-1)/n S added).
   * </ul>
   */
  public record Work(double ops, double transfers, double bytes, double elements) {
    public static final Work NONE = new Work(0, 0, 0, 0);
  }

  /** The {@link Work} of a step that {@link Comm#communicates()} (none otherwise). */
  public static Work work(Comm step) {
    int n = step.groupSize();
    if (!step.communicates() || n <= 1) {
      return Work.NONE;
    }
    double s = step.bytesPerDevice();
    double e = step.elementsPerDevice();
    return switch (step.kind()) {
      case ALLREDUCE -> n == 2 ? new Work(1, 1, s, e)
          : ((Comm.AllReduce) step).ring()
          ? new Work(2.0 * (n + 1), 2.0 * (n - 1), 2.0 * (n - 1) / n * s, (n - 1.0) / n * e + e)
          : new Work(2.0 * (n - 1) / n, 2.0 * (n - 1) / n, 2.0 * (n - 1) / n * s, (n - 1.0) / n * e);
      case ALLCONCAT -> new Work(1, n - 1, (n - 1) * s, n * e);
      case ALLTOALL -> new Work(2, n - 1, (n - 1.0) / n * s, 2 * e);
      case SHIFT -> new Work(1, 1, s, 0);
      case REDUCESCATTER -> new Work(n, n - 1, (n - 1.0) / n * s, (n - 1.0) / n * e);
    };
  }

  private LaidOutTensor allreduce(LaidOutTensor x, Comm.AllReduce step) {
    Operand<?>[] out = new Operand<?>[size()];
    for (int[] group : shape.groups(step.axes())) {
      List<Operand<?>> reduced = group.length == 2 ? pairAllreduce(x, group, step.reduction())
          : step.ring() ? ringAllreduce(x, group, step.reduction())
          : chainAllreduce(x, group, step.reduction());
      for (int k = 0; k < group.length; k++) {
        out[group[k]] = reduced.get(k);
      }
    }
    return LaidOutTensor.of(Arrays.asList(out));
  }

  private Operand<?> combine(int pnum, Operand<?> a, Operand<?> b, Reduction r) {
    Ops tf = scopes[pnum];
    return switch (r) {
      case SUM -> Tf.add(tf, a, b);
      case MAX -> Tf.maximum(tf, a, b);
      case MIN -> Tf.minimum(tf, a, b);
    };
  }

  /**
   * A group of two swaps slices and each combines both: the same bytes as a ring (each sends its
   * whole slice once), in one round of transfers instead of two, which halves the latency a
   * cross-task allreduce waits for. Addition, max and min commute exactly, so both members hold the
   * same bits.
   */
  private List<Operand<?>> pairAllreduce(LaidOutTensor x, int[] group, Reduction r) {
    Operand<?> a = x.slice(group[0]);
    Operand<?> b = x.slice(group[1]);
    return List.of(combine(group[0], a, b, r), combine(group[1], b, a, r));
  }

  /** Reduce along the group onto its first device, then copy the result back to each member. */
  private List<Operand<?>> chainAllreduce(LaidOutTensor x, int[] group, Reduction r) {
    int n = group.length;
    Operand<?> acc = x.slice(group[n - 1]);
    for (int k = n - 2; k >= 0; k--) {
      acc = combine(group[k], acc, x.slice(group[k]), r);
    }
    List<Operand<?>> out = new ArrayList<>(n);
    out.add(acc);
    for (int k = 1; k < n; k++) {
      out.add(Tf.identity(scopes[group[k]], acc));
    }
    return out;
  }

  /**
   * Ring allreduce: each slice is cut into n chunks; chunk c is reduced along the ring ending on
   * member c (reduce-scatter), then passed on around the ring (allgather). Each device sends and
   * receives 2(n-1)/n of its slice, the bandwidth optimum.
   */
  private List<Operand<?>> ringAllreduce(LaidOutTensor x, int[] group, Reduction r) {
    int n = group.length;
    long[] sliceShape = x.slice(group[0]).shape().asArray();
    List<List<Operand<?>>> chunks = new ArrayList<>(n);
    for (int member : group) {
      Ops tf = scopes[member];
      chunks.add(Tf.split(tf, Tf.reshape(tf, x.slice(member), new long[] {-1}), 0, n));
    }
    Operand<?>[][] gathered = new Operand<?>[n][n];
    for (int c = 0; c < n; c++) {
      int start = (c + 1) % n;
      Operand<?> acc = chunks.get(start).get(c);
      for (int k = 2; k <= n; k++) {
        int m = (c + k) % n;
        acc = combine(group[m], acc, chunks.get(m).get(c), r);
      }
      gathered[c][c] = acc;
      for (int k = 1; k < n; k++) {
        int m = (c + k) % n;
        gathered[m][c] = Tf.identity(scopes[group[m]], gathered[(m - 1 + n) % n][c]);
      }
    }
    List<Operand<?>> out = new ArrayList<>(n);
    for (int m = 0; m < n; m++) {
      Ops tf = scopes[group[m]];
      out.add(Tf.reshape(tf, Tf.concat(tf, Arrays.asList(gathered[m]), 0), sliceShape));
    }
    return out;
  }

  private LaidOutTensor allconcat(LaidOutTensor x, int axis, int dim) {
    if (shape.axisSize(axis) == 1) {
      return x;
    }
    Operand<?>[] out = new Operand<?>[size()];
    for (int[] group : shape.groups(axis)) {
      List<Operand<?>> parts = Arrays.stream(group).mapToObj(x::slice).toList();
      for (int member : group) {
        out[member] = Tf.concat(scopes[member], parts, dim);
      }
    }
    return LaidOutTensor.of(Arrays.asList(out));
  }

  private LaidOutTensor alltoall(LaidOutTensor x, int axis, int splitDim, int concatDim) {
    int n = shape.axisSize(axis);
    if (n == 1) {
      return x;
    }
    Operand<?>[] out = new Operand<?>[size()];
    for (int[] group : shape.groups(axis)) {
      List<List<Operand<?>>> pieces = new ArrayList<>(n);
      for (int member : group) {
        pieces.add(Tf.split(scopes[member], x.slice(member), splitDim, n));
      }
      for (int i = 0; i < n; i++) {
        List<Operand<?>> mine = new ArrayList<>(n);
        for (int j = 0; j < n; j++) {
          mine.add(pieces.get(j).get(i));
        }
        out[group[i]] = Tf.concat(scopes[group[i]], mine, concatDim);
      }
    }
    return LaidOutTensor.of(Arrays.asList(out));
  }

  /**
   * Each member cuts its partial slice into n parts along {@code dim}; member i adds the i-th part
   * of every member, received directly, in a fixed order (so every layout adds in the same order).
   */
  private LaidOutTensor reduceScatter(LaidOutTensor x, int axis, int dim) {
    int n = shape.axisSize(axis);
    if (n == 1) {
      return x;
    }
    Operand<?>[] out = new Operand<?>[size()];
    for (int[] group : shape.groups(axis)) {
      List<List<Operand<?>>> parts = new ArrayList<>(n);
      for (int member : group) {
        parts.add(Tf.split(scopes[member], x.slice(member), dim, n));
      }
      for (int i = 0; i < n; i++) {
        // the member's own part first: the sum takes over its first input's buffer, and a part
        // received from another device is, between virtual CPUs, that device's own buffer (started
        // from member 0's parts, every shard of the group stayed allocated on device 0)
        Operand<?> acc = parts.get(i).get(i);
        for (int j = 0; j < n; j++) {
          if (j != i) {
            acc = combine(group[i], acc, parts.get(j).get(i), Reduction.SUM);
          }
        }
        out[group[i]] = acc;
      }
    }
    return LaidOutTensor.of(Arrays.asList(out));
  }

  private LaidOutTensor allsplit(LaidOutTensor x, int axis, int dim) {
    int n = shape.axisSize(axis);
    if (n == 1) {
      return x;
    }
    List<Operand<?>> out = new ArrayList<>(size());
    for (int p = 0; p < size(); p++) {
      long[] full = x.slice(p).shape().asArray();
      long[] begin = new long[full.length];
      long[] len = full.clone();
      len[dim] = full[dim] / n;
      begin[dim] = shape.coordinates(p)[axis] * len[dim];
      out.add(Tf.slice(scopes[p], x.slice(p), begin, len));
    }
    return LaidOutTensor.of(out);
  }

  private LaidOutTensor shift(LaidOutTensor x, Comm.Shift step) {
    if (step.identity()) {
      return x;
    }
    if (step.allZeros()) { // every source is off the mesh: zeros, nothing moves
      return slicewise((tf, p, s) -> Tf.zerosLike(tf, s.get(0)), List.of(x));
    }
    int axis = step.axis();
    int offset = step.offset();
    boolean wrap = step.wrap();
    int n = shape.axisSize(axis);
    List<Operand<?>> out = new ArrayList<>(size());
    for (int p = 0; p < size(); p++) {
      int[] c = shape.coordinates(p);
      int src = c[axis] - offset;
      if (wrap) {
        src = Math.floorMod(src, n);
      }
      if (src < 0 || src >= n) {
        out.add(Tf.zerosLike(scopes[p], x.slice(p)));
      } else {
        int[] sc = c.clone();
        sc[axis] = src;
        out.add(Tf.identity(scopes[p], x.slice(shape.pnum(sc))));
      }
    }
    return LaidOutTensor.of(out);
  }
}
