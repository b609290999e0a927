package dev.neomesh.mesh.lower;

import dev.neomesh.mesh.ir.AfterOp;
import dev.neomesh.mesh.ir.ImportOp;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.ir.Op;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
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
   * Virtual CPUs with one inter-op thread of the session's own ({@link Devices#withThreads}):
   * TensorFlow then runs a step's ops one at a time in a fixed order, so the peak it records does not
   * depend on how two threads interleaved independent ops. The session's own, because without {@code use_per_session_threads} every session
   * of a process shares one inter-op pool sized by the process's first session: after a session with
   * TensorFlow's default (one thread per core), a later one asking for one thread got two (measured:
   * 16 independent matmuls took 147 ms a run on an "inter-op 1" session made second, 276 ms made
   * first), as every test after the first in a module's JVM did before stop 30.
   */
  public static Devices oneOpAtATime(int devices) {
    return Devices.virtualCpus(devices).withThreads(0, 1);
  }

  /** Per device of a FULL_TRACE run's metadata, in its order. */
  public static List<Device> of(RunMetadata md) {
    return of(md, node -> true);
  }

  /**
   * Per device, in the metadata's order, the peak and end of the allocations made by the nodes that
   * {@code nodes} accepts (by node name). TensorFlow's tracking allocator records a buffer's free
   * with the node that allocated it, so this is the memory those nodes' outputs and temporaries
   * held, whoever read them.
   */
  public static List<Device> of(RunMetadata md, Predicate<String> nodes) {
    List<Device> out = new ArrayList<>();
    byDevice(md).forEach((name, stats) -> {
      long live = 0;
      long peak = 0;
      for (Record a : records(stats, nodes)) {
        live += a.bytes();
        peak = Math.max(peak, live);
      }
      out.add(new Device(name, peak, live));
    });
    return out;
  }

  /**
   * The median of per-device peaks (the mean of the middle two for an even count): on virtual CPUs the
   * device TensorFlow's executor runs ahead holds the gradient parts it sends until the others read
   * them, so the largest device's peak overstates what devices running side by side would hold.
   */
  public static long median(long[] peaks) {
    long[] sorted = peaks.clone();
    java.util.Arrays.sort(sorted);
    return (sorted[(sorted.length - 1) / 2] + sorted[sorted.length / 2]) / 2;
  }

  /**
   * The activations' own peak of one traced step, per device in the metadata's order: the allocations
   * of the TensorFlow ops that {@link #activationOps} of {@code program} lowered to ({@code opOf}:
   * {@link MeshRuntime#meshOpsOfNodes}). With activations stored it is reached at the end of the
   * forward; under recompute it is the blocks' inputs and one block's recomputed activations, inside
   * the backward.
   */
  public static List<Device> activations(RunMetadata md, Map<String, Op> opOf, MeshGraph program, MeshTensor loss) {
    Set<Op> forward = activationOps(program, loss);
    return of(md, node -> forward.contains(opOf.get(node)));
  }

  /**
   * The ops whose buffers are activations: those of the forward pass (up to {@code loss}) and of the
   * copies recompute builds for the backward ({@link MeshGraph#isRecomputedCopy}), of those that
   * depend on an imported tensor (the batch): a weight's read, cast or ZeRO gather is not one.
   */
  public static Set<Op> activationOps(MeshGraph program, MeshTensor loss) {
    int last = program.ops().indexOf(loss.op());
    Set<MeshTensor> data = Collections.newSetFromMap(new IdentityHashMap<>());
    Set<Op> out = Collections.newSetFromMap(new IdentityHashMap<>());
    for (int i = 0; i < program.ops().size(); i++) {
      Op op = program.ops().get(i);
      // a gate passes its first input on; its triggers only order it
      List<MeshTensor> reads = op instanceof AfterOp ? op.inputs().subList(0, 1) : op.inputs();
      if (op instanceof ImportOp || reads.stream().anyMatch(data::contains)) {
        data.addAll(op.outputs());
        if (i <= last || program.isRecomputedCopy(i)) {
          out.add(op);
        }
      }
    }
    return out;
  }

  /** One allocation (bytes above 0) or free (below) by a node, at a time in microseconds. */
  public record Record(String node, long micros, long bytes) {}

  /**
   * The allocations of device {@code device} (an index into {@link #of}'s devices) still live at
   * its peak, as records (the bytes each node's allocations then held), largest first: what the
   * peak is made of.
   */
  public static List<Record> liveAtPeak(RunMetadata md, int device) {
    List<Record> recs = records(new ArrayList<>(byDevice(md).values()).get(device), n -> true);
    long live = 0;
    long peak = 0;
    int at = -1;
    for (int k = 0; k < recs.size(); k++) {
      live += recs.get(k).bytes();
      if (live > peak) {
        peak = live;
        at = k;
      }
    }
    java.util.Map<String, long[]> byNode = new java.util.LinkedHashMap<>();
    for (int k = 0; k <= at; k++) {
      Record r = recs.get(k);
      long[] b = byNode.computeIfAbsent(r.node(), n -> new long[] {0, r.micros()});
      b[0] += r.bytes();
    }
    List<Record> out = new ArrayList<>();
    byNode.forEach((n, b) -> {
      if (b[0] != 0) {
        out.add(new Record(n, b[1], b[0]));
      }
    });
    out.sort(Comparator.comparingLong(Record::bytes).reversed());
    return out;
  }

  /**
   * The metadata's step stats by device, in the order devices first appear: a cluster's metadata lists
   * each worker device more than once (one entry with its nodes' records, others without), a
   * process's once.
   */
  private static Map<String, List<DeviceStepStats>> byDevice(RunMetadata md) {
    Map<String, List<DeviceStepStats>> out = new java.util.LinkedHashMap<>();
    for (DeviceStepStats d : md.getStepStats().getDevStatsList()) {
      out.computeIfAbsent(d.getDevice(), k -> new ArrayList<>()).add(d);
    }
    return out;
  }

  /** A device's allocation records by the accepted nodes, in time order, allocations before frees at equal times. */
  private static List<Record> records(List<DeviceStepStats> stats, Predicate<String> nodes) {
    List<Record> recs = new ArrayList<>();
    for (DeviceStepStats d : stats) {
      for (NodeExecStats node : d.getNodeStatsList()) {
        if (!nodes.test(node.getNodeName())) {
          continue;
        }
        for (AllocatorMemoryUsed m : node.getMemoryList()) {
          m.getAllocationRecordsList().forEach(a -> recs.add(new Record(node.getNodeName(), a.getAllocMicros(),
              a.getAllocBytes())));
        }
      }
    }
    // at equal times, allocations before frees: the conservative (higher) peak
    recs.sort(Comparator.comparingLong(Record::micros).thenComparingLong(a -> -a.bytes()));
    return recs;
  }
}
