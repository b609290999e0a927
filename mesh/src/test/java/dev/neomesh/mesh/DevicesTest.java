package dev.neomesh.mesh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.lower.Devices;
import org.junit.jupiter.api.Test;
import org.tensorflow.proto.ConfigProto;

/** The thread settings {@link Devices#virtualCpus} chooses, and how explicit settings replace them. */
class DevicesTest {
  private static final int CORES = Runtime.getRuntime().availableProcessors();

  @Test
  void oneDeviceKeepsTensorFlowsDefaultThreads() {
    ConfigProto c = Devices.virtualCpus(1).config();
    assertEquals(0, c.getIntraOpParallelismThreads());
    assertEquals(0, c.getInterOpParallelismThreads());
    assertFalse(c.getUsePerSessionThreads(), "TensorFlow's process-wide pool");
    assertEquals("TensorFlow's default threads", Devices.virtualCpus(1).threadsDescription());
  }

  @Test
  void severalDevicesRunTheirOpsSideBySideOnTheCores() {
    for (int n : new int[] {2, 4, 8}) {
      ConfigProto c = Devices.virtualCpus(n).config();
      assertEquals(Math.max(1, CORES / n), c.getIntraOpParallelismThreads(), n + " devices on " + CORES + " cores");
      assertEquals(CORES, c.getInterOpParallelismThreads(), n + " devices on " + CORES + " cores");
      assertTrue(c.getUsePerSessionThreads(), "a pool of the session's own, whatever sessions came first");
      assertEquals(n, c.getDeviceCountOrThrow("CPU"));
    }
    assertEquals("intra-op threads " + Math.max(1, CORES / 2) + ", inter-op " + CORES,
        Devices.virtualCpus(2).threadsDescription());
  }

  @Test
  void clusterTasksOfSeveralCpuDevicesGetTheSameThreads() {
    ConfigProto one = dev.neomesh.mesh.cluster.TaskDevices.cpus(1).config();
    assertEquals(0, one.getIntraOpParallelismThreads());
    assertEquals(0, one.getInterOpParallelismThreads());
    ConfigProto two = dev.neomesh.mesh.cluster.TaskDevices.cpus(2).config();
    assertEquals(Math.max(1, CORES / 2), two.getIntraOpParallelismThreads());
    assertEquals(CORES, two.getInterOpParallelismThreads());
    ConfigProto given = new dev.neomesh.mesh.cluster.TaskDevices(2, java.util.List.of(), 3).config();
    assertEquals(3, given.getIntraOpParallelismThreads(), "--threads wins");
    assertEquals(4, given.getInterOpParallelismThreads());
  }

  @Test
  void explicitThreadsReplaceTheDefaultOnlyWhereGiven() {
    ConfigProto both = Devices.virtualCpus(2).withThreads(3, 5).config();
    assertEquals(3, both.getIntraOpParallelismThreads());
    assertEquals(5, both.getInterOpParallelismThreads());
    ConfigProto intraOnly = Devices.virtualCpus(2).withThreadsWhereGiven(3, 0).config();
    assertEquals(3, intraOnly.getIntraOpParallelismThreads());
    assertEquals(CORES, intraOnly.getInterOpParallelismThreads(), "the inter-op default stays");
    ConfigProto interOnly = Devices.virtualCpus(1).withThreadsWhereGiven(0, 2).config();
    assertEquals(0, interOnly.getIntraOpParallelismThreads(), "TensorFlow's default stays");
    assertEquals(2, interOnly.getInterOpParallelismThreads());
    assertFalse(Devices.virtualCpus(2).withThreads(1, 0).config().getUsePerSessionThreads(),
        "inter-op 0 is TensorFlow's process-wide pool");
  }
}
