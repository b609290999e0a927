package dev.neomesh.mesh.cluster;

import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.lower.Devices;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.tensorflow.DeviceSpec;
import org.tensorflow.proto.ClusterDef;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.JobDef;
import org.tensorflow.proto.ServerDef;

/**
 * A cluster of TensorFlow gRPC servers, one job {@code worker} with one task per address, each
 * with the same number of CPU devices. The mesh's devices are the tasks' devices in order
 * ({@code /job:worker/task:0/device:CPU:0}, ...), so a mesh of {@code tasks * cpusPerTask}
 * devices spans them; TensorFlow's own distributed runtime moves the bytes.
 */
public record ClusterSpec(List<String> addresses, int cpusPerTask) {
  public ClusterSpec {
    addresses = List.copyOf(addresses);
    if (addresses.isEmpty()) {
      throw new NeomeshException("A cluster needs at least one worker address, e.g. \"localhost:2222,localhost:2223\"");
    }
    for (String a : addresses) {
      if (!a.matches("[^:\\s]+:\\d+")) {
        throw new NeomeshException("Cluster address \"" + a + "\" is not host:port, e.g. \"localhost:2222\"");
      }
    }
    if (cpusPerTask <= 0) {
      throw new NeomeshException("Each cluster task needs at least one CPU device, got " + cpusPerTask);
    }
  }

  /** {@code "localhost:2222,localhost:2223"}. */
  public static ClusterSpec parse(String addresses, int cpusPerTask) {
    return new ClusterSpec(Arrays.stream(addresses.split("[,\\s]+")).filter(s -> !s.isEmpty()).toList(),
        cpusPerTask);
  }

  public int tasks() {
    return addresses.size();
  }

  ConfigProto taskConfig() {
    return ConfigProto.newBuilder().putDeviceCount("CPU", cpusPerTask).setAllowSoftPlacement(false).build();
  }

  /** The server definition of task {@code index}. */
  public ServerDef serverDef(int index) {
    JobDef.Builder job = JobDef.newBuilder().setName("worker");
    for (int i = 0; i < addresses.size(); i++) {
      job.putTasks(i, addresses.get(i));
    }
    return ServerDef.newBuilder().setCluster(ClusterDef.newBuilder().addJob(job)).setJobName("worker")
        .setTaskIndex(index).setProtocol("grpc").setDefaultSessionConfig(taskConfig()).build();
  }

  /** All devices of the cluster in mesh order: task-major, then CPU index. */
  public Devices devices() {
    List<DeviceSpec> specs = new ArrayList<>();
    for (int t = 0; t < tasks(); t++) {
      for (int c = 0; c < cpusPerTask; c++) {
        specs.add(DeviceSpec.newBuilder().job("worker").task(t).deviceType(DeviceSpec.DeviceType.CPU).deviceIndex(c)
            .build());
      }
    }
    return new Devices(specs, taskConfig(), target());
  }

  /** The session target: the gRPC address of task 0, which acts as master. */
  public String target() {
    return "grpc://" + addresses.get(0);
  }
}
