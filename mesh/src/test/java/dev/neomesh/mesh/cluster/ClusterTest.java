package dev.neomesh.mesh.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.Gradients;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.Devices;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.io.IOException;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A mesh spread over two TensorFlow gRPC servers (started in this JVM on free local ports) gives
 * the same values and gradients as one device: TensorFlow's distributed runtime, not ours, moves
 * the slices between tasks.
 */
class ClusterTest {
  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static List<double[]> run(Devices devices, MeshShape mesh, String layout) {
    MeshGraph g = new MeshGraph(3);
    MeshOps m = new MeshOps(g);
    Dim batch = new Dim("batch", 8);
    Dim hidden = new Dim("hidden", 16);
    MeshTensor x = m.randomNormal(Shape.of(batch, hidden), DType.FLOAT32, "x", 0, 1);
    MeshTensor w = m.variable("w", m.randomNormal(Shape.of(hidden, new Dim("out", 4)), DType.FLOAT32, "w", 0, 1));
    MeshTensor y = m.tanh(m.matmul(x, w, Shape.of(batch, new Dim("out", 4))));
    MeshTensor loss = m.reduceSum(m.square(y), Shape.SCALAR);
    MeshTensor grad = Gradients.of(loss, List.of(w)).get(0);
    try (MeshRuntime rt = MeshRuntime.create(g, mesh, LayoutRules.parse(layout), devices)) {
      rt.initialize();
      return new ArrayList<>(rt.step().fetch(loss).fetch(grad).run());
    }
  }

  @Test
  void twoTasksEqualOneDevice() throws IOException {
    ClusterSpec spec = new ClusterSpec(List.of("localhost:" + freePort(), "localhost:" + freePort()));
    Worker.start(spec, 0, TaskDevices.cpus(2));
    Worker.start(spec, 1, TaskDevices.cpus(2));
    Devices devices = ClusterDevices.connect(spec);
    assertEquals(List.of("/job:worker/replica:0/task:0/device:CPU:0", "/job:worker/replica:0/task:0/device:CPU:1",
        "/job:worker/replica:0/task:1/device:CPU:0", "/job:worker/replica:0/task:1/device:CPU:1"),
        devices.specs().stream().map(Object::toString).toList());
    List<double[]> ref = run(Devices.virtualCpus(1), MeshShape.parse("x:1"), "");
    List<double[]> got = run(devices, MeshShape.parse("x:2,y:2"), "batch:x,hidden:y");
    assertArrayEquals(ref.get(0), got.get(0), 1e-4 * Math.abs(ref.get(0)[0]));
    assertArrayEquals(ref.get(1), got.get(1), 1e-4);
  }

  /** A worker process prints its ready line with its devices and ends with status 0 on SIGTERM. */
  @Test
  void aWorkerProcessSaysReadyAndEndsCleanlyOnSigterm() throws Exception {
    try (LocalCluster c = LocalCluster.start(new WorkerJvm(java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        System.getProperty("java.class.path")), 1, 2, 0)) {
      String log = java.nio.file.Files.readString(c.logs().resolve("task-0.log"));
      assertTrue(log.contains("ready: neomesh worker task 0 of 1 serving at " + c.spec().address(0) + " with devices "
          + "/job:worker/replica:0/task:0/device:CPU:0, /job:worker/replica:0/task:0/device:CPU:1"), log);
      Process p = c.process(0);
      p.destroy(); // SIGTERM
      assertTrue(p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS));
      assertEquals(0, p.exitValue());
      assertTrue(java.nio.file.Files.readString(c.logs().resolve("task-0.log")).contains("stopping on SIGTERM"));
    }
  }

  @Test
  void anUnreachableTaskIsNamed() throws IOException {
    long t0 = System.nanoTime();
    var e = assertThrows(NeomeshException.class, () -> ClusterDevices.connect(new ClusterSpec(List.of("localhost:"
        + freePort()))));
    assertTrue(e.getMessage().startsWith("cannot reach cluster task 0 (localhost:"), e.getMessage());
    assertTrue((System.nanoTime() - t0) / 1e9 < 30);
  }

  @Test
  void badAddressesAreNamed() {
    var e = assertThrows(NeomeshException.class, () -> ClusterSpec.parse("localhost"));
    assertEquals("Cluster address \"localhost\" is not host:port, e.g. \"localhost:2222\"", e.getMessage());
  }
}
