package dev.neomesh.mesh.cluster;

import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.lower.Devices;
import dev.neomesh.mesh.lower.Tf;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.tensorflow.DeviceSpec;
import org.tensorflow.RemoteSessions;
import org.tensorflow.proto.ConfigProto;

/**
 * The devices of a running cluster, read from the cluster itself: every task is reached (a clear
 * error naming the address when one is not, within {@link #REACH}), the master lists the tasks'
 * devices, and the mesh's devices are each task's GPUs when it has any, else its CPUs, in task
 * order ({@code /job:worker/task:0/device:CPU:0}, {@code .../CPU:1}, {@code /job:worker/task:1/...}).
 */
public final class ClusterDevices {
  /** How long the tasks may take to answer before a run gives up on them. */
  public static final Duration REACH = Duration.ofSeconds(20);

  private ClusterDevices() {}

  /** The mesh devices of {@code spec}'s running tasks. */
  public static Devices connect(ClusterSpec spec) {
    Optional<ClusterHealth.Unreachable> down = ClusterHealth.awaitAll(spec.addresses(), REACH);
    if (down.isPresent()) {
      ClusterHealth.Unreachable u = down.get();
      throw new NeomeshException("cannot reach " + u.describe() + ": " + u.reason() + " (waited " + REACH.toSeconds()
          + " s). Start it with 'scripts/cluster worker --cluster " + spec + " --task " + u.task()
          + "', or fix the address in --cluster");
    }
    ConfigProto config = ConfigProto.newBuilder().setAllowSoftPlacement(false).build();
    List<String> names = list(spec, config);
    List<DeviceSpec> specs = new ArrayList<>();
    for (int t = 0; t < spec.tasks(); t++) {
      String task = ClusterSpec.taskName(t) + "/";
      List<String> own = names.stream().filter(n -> n.startsWith(task)).toList();
      String type = own.stream().anyMatch(n -> n.contains("/device:GPU:")) ? "GPU" : "CPU";
      List<Integer> indices = own.stream().filter(n -> n.contains("/device:" + type + ":"))
          .map(n -> Integer.parseInt(n.substring(n.lastIndexOf(':') + 1))).sorted(Comparator.naturalOrder()).toList();
      if (indices.isEmpty()) {
        throw new NeomeshException("cluster task " + t + " ("
            + spec.address(t) + ") lists no CPU or GPU device (" + own + "): is it a neomesh worker of this cluster? "
            + "Start it with 'scripts/cluster worker --cluster " + spec + " --task " + t + "'");
      }
      for (int i : indices) {
        specs.add(DeviceSpec.newBuilder().job(ClusterSpec.JOB).replica(0).task(t)
            .deviceType(DeviceSpec.DeviceType.valueOf(type)).deviceIndex(i).build());
      }
    }
    return new Devices(specs, config, spec.target(), spec.addresses());
  }

  /** The master's device list, or a clear error when the tasks do not answer within {@link #REACH}. */
  private static List<String> list(ClusterSpec spec, ConfigProto config) {
    ExecutorService ex = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "neomesh-cluster-devices");
      t.setDaemon(true); // TensorFlow's master may keep waiting for a missing task: do not hold the JVM
      return t;
    });
    Future<List<String>> f = ex.submit(() -> RemoteSessions.listDevices(spec.target(), config));
    try {
      return f.get(REACH.toSeconds(), TimeUnit.SECONDS);
    } catch (TimeoutException e) {
      Optional<ClusterHealth.Unreachable> down = ClusterHealth.firstUnreachable(spec.addresses(), Duration.ofSeconds(2));
      throw new NeomeshException("the cluster " + spec + " did not list its devices within " + REACH.toSeconds() + " s"
          + down.map(u -> ": " + u.describe() + " does not answer (" + u.reason() + ")").orElse(
              ": every task accepts connections, but one is not a TensorFlow server of this cluster (check that each "
              + "worker was started with the same --cluster list and its own --task)"));
    } catch (ExecutionException e) {
      throw new NeomeshException("the cluster " + spec + " cannot list its devices: "
          + Tf.errorReason(String.valueOf(e.getCause().getMessage())) + ". Check that each worker was started with "
          + "--cluster " + spec + " and its own --task", e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new NeomeshException("interrupted while reading the cluster's devices", e);
    } finally {
      ex.shutdownNow();
    }
  }
}
