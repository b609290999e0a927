package dev.neomesh.layout;

import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.lower.Counters;
import java.util.Map;

/**
 * The cost of one training step of a graph on a mesh under a layout, per device: memory, what the
 * lowering communicates (the same keys and numbers as {@link Counters#entries()}), FLOPs and the
 * estimated time.
 */
public record Cost(MeshShape mesh, LayoutRules rules, Memory memory, Map<String, Counters.Entry> communication,
                   long flops, Time time, Work work) {

  /**
   * Bytes per device. Parameters: trainable variables; optimizer: the non-trainable variables of the
   * graph plus the slots the options add per parameter; activations and gradients: at the step's peak
   * of live tensors, the forward's tensors still alive (activations) and the backward's (gradients
   * and their temporaries), so {@link #stepPeak} is that peak and nothing is counted twice.
   */
  public record Memory(long parameters, long gradients, long optimizer, long activations) {
    public long total() {
      return parameters + gradients + optimizer + activations;
    }

    /** The peak of the step's live tensors beyond the variables (what TensorFlow allocates during a step). */
    public long stepPeak() {
      return gradients + activations;
    }
  }

  /** Seconds per step: einsum and elementwise work, per-op overhead, collectives; total is their sum. */
  public record Time(double compute, double overhead, double communication) {
    public double total() {
      return compute + overhead + communication;
    }
  }

  /**
   * What one step asks of a worker, the quantities the time is linear in ({@link
   * MachineConstants#seconds}): einsum FLOPs, elements streamed (elementwise ops, and the adds and
   * copies of collectives), TensorFlow ops, cross-device transfers and bytes transferred within a
   * process, and those between processes (tasks of a cluster, priced at the cross-task rates);
   * already stretched by the devices that share a worker ({@code scripts/bench planner --csv}
   * writes it per layout, to study the estimate against measurement).
   */
  public record Work(double flops, double elements, double ops, double transfers, double bytes,
                     double crossTaskTransfers, double crossTaskBytes) {
    /** Work of one process: no cross-task transfers. */
    public Work(double flops, double elements, double ops, double transfers, double bytes) {
      this(flops, elements, ops, transfers, bytes, 0, 0);
    }

    public double[] toArray() {
      return new double[] {flops, elements, ops, transfers, bytes, crossTaskTransfers, crossTaskBytes};
    }
  }

  /** Bytes each device contributes to collectives in one step. */
  public long bytesCommunicated() {
    return communication.values().stream().mapToLong(Counters.Entry::bytesPerDevice).sum();
  }

  public double seconds() {
    return time.total();
  }
}
