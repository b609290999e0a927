package dev.neomesh.mesh.cluster;

import dev.neomesh.mesh.NeomeshException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.tensorflow.RemoteSessions;
import org.tensorflow.Server;
import org.tensorflow.proto.ConfigProto;

/**
 * Runs one task of a cluster:
 * {@code scripts/cluster worker --cluster h:p,h:p --task i [--cpus n | --gpus 0,1] [--threads t]}.
 * Prints one line beginning {@code ready} with the task's devices once it serves, then serves
 * until SIGTERM or SIGINT, which end it with status 0 (a TensorFlow gRPC server cannot be stopped
 * from inside, so the process ends; a run using it stops with a message naming this task).
 * {@code --parent_pid P} (used by {@code --cluster local:N}) also ends it when process P is gone,
 * so a launcher killed with SIGKILL leaves no workers behind.
 */
public final class Worker {
  /** The first word of the line a worker prints when it serves. */
  public static final String READY = "ready";

  private Worker() {}

  /** Starts task {@code index} of {@code spec} in this process with {@code devices} and returns the running server. */
  public static Server start(ClusterSpec spec, int index, TaskDevices devices) {
    Server server = new Server(spec.serverDef(index, devices.config()));
    server.start();
    return server;
  }

  /** The devices task {@code index} serves, as a session on it alone lists them. */
  public static List<String> devicesOf(ClusterSpec spec, int index) {
    ConfigProto own = ConfigProto.newBuilder().addDeviceFilters("/job:" + ClusterSpec.JOB + "/task:" + index).build();
    return RemoteSessions.listDevices("grpc://" + spec.address(index), own);
  }

  public static void main(String[] args) {
    String cluster = null;
    int task = -1;
    int cpus = 1;
    List<Integer> gpus = List.of();
    int threads = 0;
    long parent = -1;
    if (args.length % 2 != 0) {
      usage("flag " + args[args.length - 1] + " needs a value");
    }
    try {
      for (int i = 0; i < args.length; i += 2) {
        String v = args[i + 1];
        switch (args[i]) {
          case "--cluster" -> cluster = v;
          case "--task" -> task = Integer.parseInt(v);
          case "--cpus" -> cpus = Integer.parseInt(v);
          case "--gpus" -> gpus = Arrays.stream(v.split("[,\\s]+")).filter(s -> !s.isEmpty())
              .map(s -> Integer.parseInt(s.replaceFirst("^(device:)?GPU:", ""))).toList();
          case "--threads" -> threads = Integer.parseInt(v);
          case "--parent_pid" -> parent = Long.parseLong(v);
          default -> usage("unknown flag " + args[i]);
        }
      }
    } catch (NumberFormatException e) {
      usage("not a number: " + e.getMessage());
    }
    if (cluster == null || task < 0) {
      usage("--cluster and --task are required");
    }
    try {
      ClusterSpec spec = ClusterSpec.parse(cluster);
      if (task >= spec.tasks()) {
        usage("--task " + task + " is outside the cluster's " + spec.tasks() + " tasks (0.." + (spec.tasks() - 1) + ")");
      }
      final int index = task;
      Server server;
      try {
        server = start(spec, task, new TaskDevices(cpus, gpus, threads));
      } catch (RuntimeException e) {
        throw new NeomeshException("task " + task + " cannot serve at " + spec.address(task) + ": "
            + dev.neomesh.mesh.lower.Tf.errorReason(String.valueOf(e.getMessage()))
            + " (is another process using that port? pick a free one)", e);
      }
      List<String> devices = devicesOf(spec, task);
      if (!gpus.isEmpty() && devices.stream().noneMatch(d -> d.contains("GPU:"))) {
        throw new NeomeshException("task " + task + " was given --gpus " + gpus + " but TensorFlow sees no GPU here ("
            + devices + "): the CPU build of TensorFlow's native library is in use, or no CUDA driver is visible; "
            + "build with 'mvn -Pgpu -DskipTests install' on a machine with CUDA (docs/TRAINING.md), or drop --gpus");
      }
      sun.misc.Signal.handle(new sun.misc.Signal("TERM"), s -> stop(index, "SIGTERM"));
      sun.misc.Signal.handle(new sun.misc.Signal("INT"), s -> stop(index, "SIGINT"));
      if (parent > 0) {
        watchParent(index, parent);
      }
      System.out.println(READY + ": neomesh worker task " + task + " of " + spec.tasks() + " serving at "
          + spec.address(task) + " with devices " + String.join(", ", devices));
      System.out.flush();
      server.join();
    } catch (NeomeshException e) {
      System.err.println("neomesh: " + e.getMessage());
      System.exit(1);
    }
  }

  private static void stop(int task, String why) {
    System.out.println("neomesh worker task " + task + ": stopping on " + why);
    System.out.flush();
    Runtime.getRuntime().halt(0); // nothing to flush: the server holds no state worth keeping
  }

  private static void watchParent(int task, long pid) {
    Thread t = new Thread(() -> {
      while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
        try {
          Thread.sleep(500);
        } catch (InterruptedException e) {
          return;
        }
      }
      stop(task, "the end of its launcher (process " + pid + ")");
    }, "neomesh-parent-watch");
    t.setDaemon(true);
    t.start();
  }

  private static void usage(String problem) {
    System.err.println("neomesh worker: " + problem + "\nusage: scripts/cluster worker --cluster host:port[,host:port...]"
        + " --task INDEX [--cpus N | --gpus 0,1] [--threads N]");
    System.exit(2);
  }
}
