package dev.neomesh.mesh.lower;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.tensorflow.proto.AllocatorMemoryUsed;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.RunMetadata;

/**
 * Memory of one step by TensorFlow's own records: a run with FULL_TRACE carries, per device and node,
 * the allocation records of TensorFlow's tracking allocator (bytes allocated and freed, with times).
 * Replaying them per device gives the peak of that device's live allocations during the step, and
 * what is still allocated at its end (e.g. the new values the step assigned to the variables). Run
 * the step on {@link #oneOpAtATime} devices for a peak that does not depend on how ops interleaved.
 */
public final class StepMemory {
  private StepMemory() {}

  /** One device: peak bytes live during the step, and bytes still live at its end. */
  public record Device(String device, long peak, long endLive) {}

  /**
   * Virtual CPUs with one inter-op thread: TensorFlow then runs a step's ops one at a time in a fixed
   * order, so the peak it records does not depend on how two threads interleaved independent ops.
   */
  public static Devices oneOpAtATime(int devices) {
    Devices cpus = Devices.virtualCpus(devices);
    return new Devices(cpus.specs(), cpus.config().toBuilder().setInterOpParallelismThreads(1).build());
  }

  /** Per device of a FULL_TRACE run's metadata, in its order. */
  public static List<Device> of(RunMetadata md) {
    List<Device> out = new ArrayList<>();
    for (DeviceStepStats d : md.getStepStats().getDevStatsList()) {
      List<long[]> recs = new ArrayList<>();
      for (NodeExecStats node : d.getNodeStatsList()) {
        for (AllocatorMemoryUsed m : node.getMemoryList()) {
          m.getAllocationRecordsList().forEach(a -> recs.add(new long[] {a.getAllocMicros(), a.getAllocBytes()}));
        }
      }
      // at equal times, allocations before frees: the conservative (higher) peak
      recs.sort(Comparator.comparingLong((long[] a) -> a[0]).thenComparingLong(a -> -a[1]));
      long live = 0;
      long peak = 0;
      for (long[] a : recs) {
        live += a[1];
        peak = Math.max(peak, live);
      }
      out.add(new Device(d.getDevice(), peak, live));
    }
    return out;
  }
}
