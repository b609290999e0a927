package dev.neomesh.mesh.cluster;

import dev.neomesh.mesh.NeomeshException;
import java.util.Arrays;
import java.util.List;
import org.tensorflow.proto.ClusterDef;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.JobDef;
import org.tensorflow.proto.ServerDef;

/**
 * A cluster of TensorFlow gRPC servers: one job {@code worker} with one task per address, in
 * order. Task 0 also acts as the master of neomesh's session ({@link #target}); TensorFlow's own
 * distributed runtime moves the bytes between tasks. What devices each task has is the task's own
 * choice ({@link TaskDevices}); {@link ClusterDevices} reads them from the running cluster.
 */
public record ClusterSpec(List<String> addresses) {
  public static final String JOB = "worker";

  public ClusterSpec {
    addresses = List.copyOf(addresses);
    if (addresses.isEmpty()) {
      throw new NeomeshException("A cluster needs at least one worker address, e.g. \"localhost:2222,localhost:2223\"");
    }
    for (String a : addresses) {
      if (!a.matches("[^:\\s]+:\\d{1,5}")) {
        throw new NeomeshException("Cluster address \"" + a + "\" is not host:port, e.g. \"localhost:2222\"");
      }
    }
    if (addresses.stream().distinct().count() != addresses.size()) {
      throw new NeomeshException("Cluster addresses " + addresses + " name one address twice: each task needs its own "
          + "host:port");
    }
  }

  /** {@code "localhost:2222,localhost:2223"} (commas or spaces between addresses). */
  public static ClusterSpec parse(String addresses) {
    return new ClusterSpec(Arrays.stream(addresses.split("[,\\s]+")).filter(s -> !s.isEmpty()).toList());
  }

  public int tasks() {
    return addresses.size();
  }

  public String address(int task) {
    return addresses.get(task);
  }

  /** The server definition of task {@code index}, whose devices {@code taskConfig} makes. */
  public ServerDef serverDef(int index, ConfigProto taskConfig) {
    JobDef.Builder job = JobDef.newBuilder().setName(JOB);
    for (int i = 0; i < addresses.size(); i++) {
      job.putTasks(i, addresses.get(i));
    }
    return ServerDef.newBuilder().setCluster(ClusterDef.newBuilder().addJob(job)).setJobName(JOB)
        .setTaskIndex(index).setProtocol("grpc").setDefaultSessionConfig(taskConfig).build();
  }

  /** The session target: the gRPC address of task 0, which acts as master. */
  public String target() {
    return "grpc://" + addresses.get(0);
  }

  /** {@code /job:worker/task:i} as TensorFlow writes it in device names and errors. */
  public static String taskName(int task) {
    return "/job:" + JOB + "/replica:0/task:" + task;
  }

  @Override
  public String toString() {
    return String.join(",", addresses);
  }
}
