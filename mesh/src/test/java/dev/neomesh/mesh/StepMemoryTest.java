package dev.neomesh.mesh;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.neomesh.mesh.lower.StepMemory;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.proto.AllocationRecord;
import org.tensorflow.proto.AllocatorMemoryUsed;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.StepStats;

/** Replaying TensorFlow's allocation records per device ({@link StepMemory}). */
class StepMemoryTest {
  static NodeExecStats node(String name, long... microsAndBytes) {
    AllocatorMemoryUsed.Builder m = AllocatorMemoryUsed.newBuilder().setAllocatorName("cpu");
    for (int k = 0; k < microsAndBytes.length; k += 2) {
      m.addAllocationRecords(AllocationRecord.newBuilder().setAllocMicros(microsAndBytes[k])
          .setAllocBytes(microsAndBytes[k + 1]));
    }
    return NodeExecStats.newBuilder().setNodeName(name).addMemory(m).build();
  }

  /**
   * A cluster's step stats list a worker device twice (one entry holds its nodes' records); the
   * device is one, with all its records, so a median over devices is not pulled down by empty entries.
   */
  @Test
  void aDeviceListedTwiceIsOneDeviceWithAllItsRecords() {
    String a = "/job:worker/replica:0/task:0/device:CPU:0";
    String b = "/job:worker/replica:0/task:1/device:CPU:0";
    RunMetadata md = RunMetadata.newBuilder().setStepStats(StepStats.newBuilder()
        .addDevStats(DeviceStepStats.newBuilder().setDevice(a))
        .addDevStats(DeviceStepStats.newBuilder().setDevice(b).addNodeStats(node("y", 1, 300, 4, -300)))
        .addDevStats(DeviceStepStats.newBuilder().setDevice(a).addNodeStats(node("x", 1, 100, 3, -100)))
        .addDevStats(DeviceStepStats.newBuilder().setDevice(a).addNodeStats(node("z", 2, 50))))
        .build();
    List<StepMemory.Device> d = StepMemory.of(md);
    assertEquals(List.of(new StepMemory.Device(a, 150, 50), new StepMemory.Device(b, 300, 0)), d);
    assertEquals(List.of(new StepMemory.Record("x", 1, 100), new StepMemory.Record("z", 2, 50)),
        StepMemory.liveAtPeak(md, 0));
  }
}
