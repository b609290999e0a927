package dev.neomesh.mesh.cluster;

import dev.neomesh.mesh.NeomeshException;
import java.util.List;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.GPUOptions;

/**
 * The devices one cluster task exposes: {@code cpus} virtual CPU devices, or the local GPUs
 * {@code gpus} (CUDA ids; TensorFlow renumbers them {@code GPU:0..}), with {@code threads}
 * intra-op threads (0: the default of {@code lower.Devices#virtualCpus}: TensorFlow's for one CPU
 * device, cores / devices for more).
 */
public record TaskDevices(int cpus, List<Integer> gpus, int threads) {
  public TaskDevices {
    gpus = List.copyOf(gpus);
    if (cpus < 1) {
      throw new NeomeshException("a task needs at least one CPU device, got --cpus " + cpus);
    }
    if (threads < 0) {
      throw new NeomeshException("--threads must be 0 (TensorFlow's default) or more, got " + threads);
    }
  }

  public static TaskDevices cpus(int n) {
    return new TaskDevices(n, List.of(), 0);
  }

  /** The task's session configuration, the server's default for every session it runs. */
  public ConfigProto config() {
    ConfigProto.Builder b = ConfigProto.newBuilder().putDeviceCount("CPU", cpus).setAllowSoftPlacement(false);
    if (gpus.isEmpty()) {
      b.putDeviceCount("GPU", 0);
    } else {
      b.setGpuOptions(GPUOptions.newBuilder().setAllowGrowth(true).setVisibleDeviceList(
          String.join(",", gpus.stream().map(String::valueOf).toList())));
    }
    if (threads > 0) {
      b.setIntraOpParallelismThreads(threads).setInterOpParallelismThreads(threads + 1);
    } else if (gpus.isEmpty()) {
      dev.neomesh.mesh.lower.Devices.withDefaultThreads(b, cpus); // several devices: an op a core, side by side
    }
    return b.build();
  }
}
