package dev.neomesh.mesh.lower;

import dev.neomesh.mesh.MeshShape;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/**
 * The seam between the mesh program and TensorFlow: per-device computation ({@link #slicewise})
 * and the collectives every relayout and reduction is derived from. Implementations decide how
 * devices are addressed and how bytes move; the ops never see a device.
 */
public interface MeshImpl {
  /** Reductions an allreduce can apply. */
  enum Reduction { SUM, MAX, MIN }

  /** Per-device computation: given the TensorFlow scope pinned to one device and its input slices. */
  @FunctionalInterface
  interface SliceFn {
    Operand<?> apply(Ops tf, int pnum, List<Operand<?>> slices);
  }

  MeshShape shape();

  /** TensorFlow ops pinned to device {@code pnum}. */
  Ops tf(int pnum);

  Counters counters();

  default int size() {
    return shape().size();
  }

  LaidOutTensor slicewise(SliceFn fn, List<LaidOutTensor> inputs);

  /** Reduces over the devices that differ only in {@code axes}; every participant gets the result. */
  LaidOutTensor allreduce(LaidOutTensor x, int[] axes, Reduction reduction, long sliceBytes);

  /** Concatenates along tensor dim {@code dim} the slices of the devices along mesh axis {@code axis}. */
  LaidOutTensor allconcat(LaidOutTensor x, int axis, int dim, long sliceBytes);

  /** Splits tensor dim {@code splitDim} over mesh axis {@code axis} while concatenating {@code concatDim}, which it was split on. */
  LaidOutTensor alltoall(LaidOutTensor x, int axis, int splitDim, int concatDim, long sliceBytes);

  /** Keeps, on each device, its part along tensor dim {@code dim} of a value replicated over {@code axis}; no communication. */
  LaidOutTensor allsplit(LaidOutTensor x, int axis, int dim);

  /**
   * Each device receives the slice of the device {@code offset} steps before it along mesh axis
   * {@code axis}; devices with no such neighbour get zeros unless {@code wrap}.
   */
  LaidOutTensor shift(LaidOutTensor x, int axis, int offset, boolean wrap, long sliceBytes);
}
