package dev.neomesh.models.cli;

import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.cluster.ClusterDevices;
import dev.neomesh.mesh.cluster.ClusterSpec;
import dev.neomesh.mesh.cluster.LocalCluster;
import dev.neomesh.mesh.lower.Devices;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.tensorflow.DeviceSpec;
import org.tensorflow.RemoteSessions;

/**
 * The devices a command's mesh runs on, from its flags: this process's virtual CPUs (no flag),
 * explicit device names ({@code --devices}), local GPUs ({@code --gpu_ids}, checked to exist), or
 * the tasks of a cluster ({@code --cluster host:port,...}, read from the running cluster;
 * {@code --cluster local:N} first starts N worker processes here, stopped by {@link #close}).
 */
final class RunDevices implements AutoCloseable {
  private final Devices devices;
  private final LocalCluster local;

  private RunDevices(Devices devices, LocalCluster local) {
    this.devices = devices;
    this.local = local;
  }

  /** The flags' values, checked for the combinations that cannot work. */
  record Flags(String cluster, Integer cpusPerTask, List<String> gpuIds, String devices, Integer threads,
               Integer interOpThreads) {
    Flags {
      gpuIds = gpuIds == null ? List.of() : gpuIds.stream().flatMap(g -> Arrays.stream(g.split("[,\\s]+")))
          .filter(g -> !g.isEmpty()).toList();
      int given = (cluster != null ? 1 : 0) + (!gpuIds.isEmpty() ? 1 : 0) + (devices != null ? 1 : 0);
      if (given > 1) {
        throw new NeomeshException("give one of --cluster, --gpu_ids and --devices: each says on its own where the "
            + "mesh runs (a cluster's workers expose their GPUs with 'scripts/cluster worker --gpus')");
      }
      if (cpusPerTask != null && (cluster == null || LocalCluster.localTasks(cluster) < 0)) {
        throw new NeomeshException("--cpus_per_task pins the workers that --cluster local:N starts: add --cluster "
            + "local:N, or drop --cpus_per_task (pin remote workers with taskset when you start them)");
      }
      String defaultThreads = " (leave it out for the default: the cores for one device, one thread per op on more; "
          + "docs/TRAINING.md, \"Threads\")";
      atLeastOne("--threads", threads, defaultThreads);
      atLeastOne("--inter_op_threads", interOpThreads, defaultThreads);
      if (cluster != null && (threads != null || interOpThreads != null)) {
        throw new NeomeshException("--threads and --inter_op_threads set this process's TensorFlow threads, but with "
            + "--cluster the workers run the ops: give each worker its threads ('scripts/cluster worker --threads N'; "
            + "--cluster local:N workers take --cpus_per_task), and drop them here");
      }
      atLeastOne("--cpus_per_task", cpusPerTask, "");
    }

    /** Refuses a {@code flag} given with a value below 1; {@code hint} follows the message. */
    private static void atLeastOne(String flag, Integer value, String hint) {
      if (value != null && value < 1) {
        throw new NeomeshException(flag + " must be at least 1, got " + value + hint);
      }
    }

    /** True when the mesh runs on this process's own virtual CPUs. */
    boolean virtual() {
      return cluster == null && gpuIds.isEmpty() && devices == null;
    }
  }

  /** Resolves {@code flags} for {@code mesh}, starting local workers on {@code jvm} when asked (notes to {@code out}). */
  static RunDevices open(Flags flags, MeshShape mesh, dev.neomesh.mesh.cluster.WorkerJvm jvm, PrintStream out) {
    RunDevices placed = place(flags, mesh, jvm, out);
    if (flags.threads() == null && flags.interOpThreads() == null) {
      return placed;
    }
    Devices d = placed.devices != null ? placed.devices : Devices.virtualCpus(mesh.size());
    return new RunDevices(d.withThreadsWhereGiven(flags.threads() == null ? 0 : flags.threads(),
        flags.interOpThreads() == null ? 0 : flags.interOpThreads()), placed.local);
  }

  private static RunDevices place(Flags flags, MeshShape mesh, dev.neomesh.mesh.cluster.WorkerJvm jvm,
      PrintStream out) {
    if (flags.cluster() != null) {
      int n = LocalCluster.localTasks(flags.cluster());
      if (n < 0) {
        return new RunDevices(ClusterDevices.connect(ClusterSpec.parse(flags.cluster())), null);
      }
      if (mesh.size() % n != 0) {
        throw new NeomeshException("mesh_shape \"" + mesh + "\" has " + mesh.size() + " devices, which do not split "
            + "evenly over --cluster local:" + n + "'s " + n + " workers: use a number of workers that divides "
            + mesh.size() + ", or another mesh_shape");
      }
      out.printf("starting %d local workers with %d device(s) each%s ...%n", n, mesh.size() / n,
          flags.cpusPerTask() != null ? ", " + flags.cpusPerTask() + " pinned core(s) each" : "");
      LocalCluster local = LocalCluster.start(jvm, n, mesh.size() / n, flags.cpusPerTask() == null ? 0 : flags.cpusPerTask());
      try {
        return new RunDevices(ClusterDevices.connect(local.spec()), local);
      } catch (RuntimeException e) {
        local.close();
        throw e;
      }
    }
    if (!flags.gpuIds().isEmpty()) {
      return new RunDevices(gpus(flags.gpuIds()), null);
    }
    if (flags.devices() != null) {
      List<String> names = Arrays.stream(flags.devices().split(",")).map(String::trim).filter(x -> !x.isEmpty()).toList();
      if (names.stream().anyMatch(n -> n.contains("/job:") && !n.contains("/job:localhost"))) {
        throw new NeomeshException("--devices " + flags.devices() + " names devices of other tasks, which a session of "
            + "this process cannot reach: run on a cluster with --cluster host:port,... instead");
      }
      return new RunDevices(parse(names), null);
    }
    return new RunDevices(null, null);
  }

  private static Devices parse(List<String> names) {
    try {
      return Devices.parse(names);
    } catch (IllegalArgumentException e) {
      throw new NeomeshException(e.getMessage(), e);
    }
  }

  /** {@code --gpu_ids}: GPT-Neo's {@code device:GPU:0} names (or bare ids), each checked to be visible. */
  static Devices gpus(List<String> ids) {
    List<String> names = new ArrayList<>();
    for (String id : ids) {
      names.add(id.matches("\\d+") ? "device:GPU:" + id : id);
    }
    Devices d = parse(names);
    for (DeviceSpec s : d.specs()) {
      if (s.deviceType() != DeviceSpec.DeviceType.GPU) {
        throw new NeomeshException("--gpu_ids " + String.join(",", ids) + " names " + s + ", which is not a GPU: "
            + "give GPUs as device:GPU:0 device:GPU:1 (or 0,1), or use --devices for other devices");
      }
    }
    List<String> visible = RemoteSessions.listDevices("", d.config()).stream()
        .filter(n -> n.contains("/device:GPU:")).map(n -> n.substring(n.indexOf("device:GPU:"))).toList();
    for (DeviceSpec s : d.specs()) {
      String want = "device:GPU:" + s.deviceIndex();
      if (!visible.contains(want)) {
        throw new NeomeshException("--gpu_ids names " + want + " but TensorFlow sees " + (visible.isEmpty()
            ? "no GPU on this machine: this build uses TensorFlow's CPU native library, or no CUDA driver is visible. "
            + "Build with 'mvn -Pgpu -DskipTests install' on a machine with CUDA 12.5 and cuDNN 9 (docs/TRAINING.md), "
            + "or drop --gpu_ids to run on virtual CPU devices" : "only " + visible + ": give GPUs that exist"));
      }
    }
    return d;
  }

  /** The mesh's devices; null means this process's virtual CPUs. */
  Devices devices() {
    return devices;
  }

  @Override
  public void close() {
    if (local != null) {
      local.close();
    }
  }
}
