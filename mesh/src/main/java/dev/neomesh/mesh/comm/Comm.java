package dev.neomesh.mesh.comm;

import dev.neomesh.mesh.MeshShape;
import java.util.Arrays;

/**
 * One step of an op's {@link CommPlan}: a collective (or a local re-cut) with everything a lowering
 * needs to carry it out and a cost model needs to price it, derived from layouts alone. The
 * lowering runs exactly these steps ({@code PlacementMeshImpl.run}) and records a counter for each
 * one that {@link #communicates()}; the planner's cost model sums the same steps, so the two cannot
 * disagree about what an op sends.
 */
public sealed interface Comm permits Comm.AllReduce, Comm.OnOneAxis {
  /** The counter kind of this step; meaningful only when it {@link #communicates()}. */
  Collective kind();

  /** The mesh axes the step works over, ascending. */
  int[] axes();

  /** Bytes of each participating device's input slice (what the counters add up). */
  long bytesPerDevice();

  /** Elements of each participating device's input slice. */
  long elementsPerDevice();

  /** Devices in each group that take part together (the product of the axes' sizes). */
  int groupSize();

  /** Whether any data moves between devices (a counter line, a cost). */
  boolean communicates();

  /** A step along one mesh axis: its group is that axis's devices. */
  sealed interface OnOneAxis extends Comm permits AllConcat, AllToAll, AllSplit, Shift, ReduceScatter {
    int axis();

    @Override
    default int[] axes() {
      return new int[] {axis()};
    }

    @Override
    default boolean communicates() {
      return groupSize() > 1;
    }
  }

  /**
   * Reduces over the devices that differ only in {@code axes}; every member gets the result. Only
   * built over axes of size above one ({@link CommPlan#activeAxes}).
   */
  record AllReduce(int[] axes, Reduction reduction, long bytesPerDevice, long elementsPerDevice, int groupSize)
      implements Comm {
    /** Below this many elements per slice, or when not divisible into the group's chunks, the allreduce is a chain. */
    public static final long RING_MIN_ELEMENTS = 1024;

    static AllReduce of(MeshShape mesh, int[] axes, Reduction r, long bytes, long elements) {
      return new AllReduce(axes, r, bytes, elements, CommPlan.groupSize(mesh, axes));
    }

    /**
     * Whether the lowering uses the chunked ring (each device sends 2(n-1)/n of its slice) rather
     * than the reduce-then-broadcast chain (small or indivisible slices).
     */
    public boolean ring() {
      return elementsPerDevice >= RING_MIN_ELEMENTS && elementsPerDevice % groupSize == 0;
    }

    @Override
    public Collective kind() {
      return Collective.ALLREDUCE;
    }

    @Override
    public boolean communicates() {
      return true;
    }

    @Override
    public String toString() {
      return "allreduce" + reduction + Arrays.toString(axes) + " " + bytesPerDevice + " B";
    }
  }

  /** Concatenates tensor dim {@code dim} of the slices along mesh axis {@code axis}. */
  record AllConcat(int axis, int dim, long bytesPerDevice, long elementsPerDevice, int groupSize) implements OnOneAxis {
    @Override
    public Collective kind() {
      return Collective.ALLCONCAT;
    }

  }

  /** Splits tensor dim {@code splitDim} over mesh axis {@code axis} while concatenating {@code concatDim}, which it was split on. */
  record AllToAll(int axis, int splitDim, int concatDim, long bytesPerDevice, long elementsPerDevice, int groupSize)
      implements OnOneAxis {
    @Override
    public Collective kind() {
      return Collective.ALLTOALL;
    }

  }

  /**
   * Sums partial sums over mesh axis {@code axis} and leaves each device only its part along
   * tensor dim {@code dim}, which the result is split on: what an allreduce followed by an {@link
   * AllSplit} computes, for (n−1)/n of the slice sent instead of 2(n−1)/n (ZeRO's gradient
   * reduce-scatter). {@code bytesPerDevice} is the whole partial slice each device contributes.
   */
  record ReduceScatter(int axis, int dim, long bytesPerDevice, long elementsPerDevice, int groupSize)
      implements OnOneAxis {
    @Override
    public Collective kind() {
      return Collective.REDUCESCATTER;
    }
  }

  /** Keeps, on each device, its part along tensor dim {@code dim} of a value replicated over {@code axis}: local. */
  record AllSplit(int axis, int dim, int groupSize) implements OnOneAxis {
    @Override
    public Collective kind() {
      return null;
    }

    @Override
    public long bytesPerDevice() {
      return 0;
    }

    @Override
    public long elementsPerDevice() {
      return 0;
    }

    @Override
    public boolean communicates() {
      return false;
    }
  }

  /**
   * Each device receives the slice of the device {@code offset} steps before it along mesh axis
   * {@code axis}; devices with no such neighbour get zeros unless {@code wrap}. Nothing moves when
   * the offset is zero (or a whole turn, with wrap), or when every source is off the mesh.
   */
  record Shift(int axis, int offset, boolean wrap, long bytesPerDevice, long elementsPerDevice, int groupSize)
      implements OnOneAxis {
    @Override
    public Collective kind() {
      return Collective.SHIFT;
    }

    /** Every device keeps its own slice. */
    public boolean identity() {
      return offset == 0 || wrap && offset % groupSize == 0;
    }

    /** Every source is off the mesh: every device gets zeros. */
    public boolean allZeros() {
      return !wrap && Math.abs(offset) >= groupSize;
    }

    @Override
    public boolean communicates() {
      return !identity() && !allZeros();
    }
  }
}
