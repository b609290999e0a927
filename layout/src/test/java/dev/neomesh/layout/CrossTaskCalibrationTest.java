package dev.neomesh.layout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.cluster.ClusterDevices;
import dev.neomesh.mesh.cluster.ClusterSpec;
import dev.neomesh.mesh.cluster.TaskDevices;
import dev.neomesh.mesh.cluster.Worker;
import dev.neomesh.mesh.lower.Devices;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Cross-task figures: measured on two in-JVM gRPC servers, and kept by the calibration file. */
class CrossTaskCalibrationTest {
  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void measuresTransfersBetweenTwoTasks() throws IOException {
    ClusterSpec spec = new ClusterSpec(List.of("localhost:" + freePort(), "localhost:" + freePort()));
    Worker.start(spec, 0, TaskDevices.cpus(2));
    Worker.start(spec, 1, TaskDevices.cpus(2));
    Devices cluster = ClusterDevices.connect(spec);
    long t0 = System.nanoTime();
    MachineConstants m = Calibration.measureCrossTask(cluster, 2, MachineConstants.DEFAULTS);
    double took = (System.nanoTime() - t0) / 1e9;
    assertTrue(Double.isFinite(m.crossTaskBytesPerSecond()) && m.crossTaskBytesPerSecond() > 0, m.toString());
    assertTrue(Double.isFinite(m.crossTaskTransferSeconds()) && m.crossTaskTransferSeconds() > 0, m.toString());
    // 1e12 is bytesPerSecond's answer when the big hop took no longer than the small one: no real transfer was timed
    assertTrue(m.crossTaskBytesPerSecond() < 1e12, "a 4 MB hop over gRPC takes longer than a 4 byte one: " + m);
    // the in-process figures are kept
    MachineConstants d = MachineConstants.DEFAULTS;
    assertEquals(d.withCrossTask(m.crossTaskBytesPerSecond(), m.crossTaskTransferSeconds(), m.source()), m);
    assertTrue(m.source().contains("grpc://"), m.source());
    // the same bounce in one process, for comparison (printed, not asserted: timings drift)
    Devices local = Devices.virtualCpus(2);
    Calibration.Link in = Calibration.Link.measure(local, local.specs().get(0), local.specs().get(1));
    System.out.printf("cross-task: %.3g B/s, %.3g us per transfer (measured in %.1f s); in-process hop: %.3g B/s,"
        + " %.3g us per small hop, %.3g us per 4 MB hop%n", m.crossTaskBytesPerSecond(), 1e6 * m.crossTaskTransferSeconds(),
        took, in.bytesPerSecond(d.elementwisePerSecond()), 1e6 * in.small(), 1e6 * in.big());
  }

  @Test
  void calibrationFileKeepsTheCrossTaskFigures(@TempDir Path dir) throws IOException {
    MachineConstants m = new MachineConstants(1e10, 2e9, 3e9, 4e-5, 1.5e8, 6e-4, 7e-6, 2, "x");
    Path file = dir.resolve("calibration.json");
    Calibration.save(m, file);
    MachineConstants back = Calibration.load(file);
    assertEquals(1.5e8, back.crossTaskBytesPerSecond());
    assertEquals(6e-4, back.crossTaskTransferSeconds());
    assertEquals(new MachineConstants(1e10, 2e9, 3e9, 4e-5, 1.5e8, 6e-4, 7e-6, 2, file.toString()), back);
    // a file written before the cross-task keys existed loads them as the defaults
    Path old = dir.resolve("old.json");
    Files.writeString(old, "{\"matmul_flops_per_second\": 1e10, \"bytes_per_second\": 3e9, \"transfer_seconds\": 4e-5}");
    MachineConstants o = Calibration.load(old);
    assertEquals(MachineConstants.DEFAULT_CROSS_TASK_BYTES_PER_SECOND, o.crossTaskBytesPerSecond());
    assertEquals(MachineConstants.DEFAULT_CROSS_TASK_TRANSFER_SECONDS, o.crossTaskTransferSeconds());
    assertEquals(3e9, o.bytesPerSecond());
    assertEquals(4e-5, o.transferSeconds());
  }
}
