package dev.neomesh.models.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Test;
import org.tensorflow.RemoteSessions;
import org.tensorflow.proto.ConfigProto;

/**
 * {@code --gpu_ids} in GPT-Neo's form. With a visible GPU (a build with {@code -Pgpu} on a CUDA
 * machine) the mesh runs on it and trains like virtual CPUs; without one, the run stops with one
 * message saying why and how to get a GPU build.
 */
class GpuCliTest {
  @TempDir
  static Path root;

  @BeforeAll
  static void makeRoot() throws java.io.IOException {
    ClusterCliTest.writeRepository(root);
  }

  private static MainTest.Run main(String... args) {
    return MainTest.mainAt(root, "", args);
  }
  private static List<String> gpus() {
    return RemoteSessions.listDevices("", ConfigProto.getDefaultInstance()).stream()
        .filter(d -> d.contains("/device:GPU:")).toList();
  }

  @Test
  void gpuIdsWithoutAGpuStopWithAClearMessage() {
    assumeFalse(!gpus().isEmpty(), "a GPU is visible: gpuIdsTrainLikeVirtualCpus covers this machine");
    MainTest.Run r = main("--model", "small", "--gpu_ids", "device:GPU:0", "device:GPU:1", "--no_progress");
    assertEquals(1, r.status(), r.out());
    assertTrue(r.err().startsWith("neomesh: --gpu_ids names device:GPU:0 but TensorFlow sees no GPU on this machine"),
        r.err());
    assertFalse(r.err().contains("\tat "), r.err());
  }

  @Test
  void gpuIdsTrainLikeVirtualCpus() {
    List<String> gpus = gpus();
    assumeTrue(!gpus.isEmpty(), "no GPU visible (this build uses TensorFlow's CPU native library, or no CUDA driver): "
        + "build with -Pgpu on a CUDA machine to run this test");
    MainTest.Run cpu = main("--model", "small", "--set", "mesh_shape=x:1", "--set", "model_path=runs/gpu_ref",
        "--set", "predict_steps=0", "--set", "eval_steps=0", "--no_progress");
    MainTest.Run gpu = main("--model", "small", "--set", "mesh_shape=x:1", "--set", "model_path=runs/gpu",
        "--set", "predict_steps=0", "--set", "eval_steps=0", "--gpu_ids", "device:GPU:0", "--no_progress");
    assertEquals(0, cpu.status(), cpu.err());
    assertEquals(0, gpu.status(), gpu.err());
    String cpuLoss = cpu.out().replaceAll("(?s).*final loss (\\d+\\.\\d\\d).*", "$1");
    String gpuLoss = gpu.out().replaceAll("(?s).*final loss (\\d+\\.\\d\\d).*", "$1");
    assertEquals(cpuLoss, gpuLoss, gpu.out());
  }
}
