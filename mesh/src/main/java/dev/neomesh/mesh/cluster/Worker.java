package dev.neomesh.mesh.cluster;

import org.tensorflow.Server;

/**
 * Runs one task of a cluster: {@code scripts/cluster worker --cluster h:p,h:p --task i [--cpus n]}.
 * Blocks serving until the process is killed (TensorFlow servers cannot shut down cleanly, so
 * stopping a cluster means ending its worker processes).
 */
public final class Worker {
  private Worker() {}

  /** Starts task {@code index} of {@code spec} in this process and returns the running server. */
  public static Server start(ClusterSpec spec, int index) {
    Server server = new Server(spec.serverDef(index));
    server.start();
    return server;
  }

  public static void main(String[] args) {
    String cluster = null;
    int task = -1;
    int cpus = 1;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--cluster" -> cluster = args[i + 1];
        case "--task" -> task = Integer.parseInt(args[i + 1]);
        case "--cpus" -> cpus = Integer.parseInt(args[i + 1]);
        default -> usage("unknown flag " + args[i]);
      }
    }
    if (cluster == null || task < 0 || args.length % 2 != 0) {
      usage("--cluster and --task are required");
    }
    try {
      ClusterSpec spec = ClusterSpec.parse(cluster, cpus);
      if (task >= spec.tasks()) {
        usage("--task " + task + " is outside the cluster's " + spec.tasks() + " tasks");
      }
      Server server = start(spec, task);
      System.out.println("neomesh worker: task " + task + " of " + spec.tasks() + " serving at "
          + spec.addresses().get(task) + " with " + cpus + " CPU device(s)");
      server.join();
    } catch (dev.neomesh.mesh.NeomeshException e) {
      System.err.println("neomesh: " + e.getMessage());
      System.exit(1);
    }
  }

  private static void usage(String problem) {
    System.err.println("neomesh worker: " + problem + "\nusage: scripts/cluster worker --cluster host:port[,host:port...]"
        + " --task INDEX [--cpus N]");
    System.exit(2);
  }
}
