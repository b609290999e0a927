package dev.neomesh.mesh.lower;

import java.util.ArrayList;
import java.util.List;
import org.tensorflow.DeviceSpec;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.RewriterConfig;

/**
 * The devices a mesh runs on, in mesh (pnum) order, and the session configuration that makes them
 * exist: {@link #virtualCpus} splits this machine's CPU into n TensorFlow devices, {@link #gpus}
 * names local GPUs, {@link #parse} takes explicit device strings (cluster tasks included).
 * {@code target} is empty for an in-process session, or the {@code grpc://host:port} of the
 * TensorFlow server that masters a cluster session (see {@code cluster.ClusterDevices}), and
 * {@code taskAddresses} the cluster's task addresses in task order, so a failure can name the task.
 */
public record Devices(List<DeviceSpec> specs, ConfigProto config, String target, List<String> taskAddresses) {
  public Devices {
    specs = List.copyOf(specs);
    taskAddresses = List.copyOf(taskAddresses);
  }

  public Devices(List<DeviceSpec> specs, ConfigProto config) {
    this(specs, config, "", List.of());
  }

  public boolean isRemote() {
    return !target.isEmpty();
  }

  /**
   * These devices with TensorFlow's graph optimizer (Grappler) off in their session configuration:
   * for programs whose ops must run as written (calibration's bounces) or that run once (test
   * harnesses, where optimizing costs more than running).
   */
  public Devices withoutGraphOptimizer() {
    ConfigProto c = config.toBuilder().setGraphOptions(config.getGraphOptions().toBuilder()
        .setRewriteOptions(RewriterConfig.newBuilder().setDisableMetaOptimizer(true))).build();
    return new Devices(specs, c, target, taskAddresses);
  }

  /**
   * These devices with TensorFlow's thread pools set: {@code intraOp} threads that one op's kernel (a
   * matmul, oneDNN's kernels included) splits its work over, and {@code interOp} threads that run
   * independent ops at once; 0 leaves TensorFlow's default (the cores this process may use, for
   * each). Virtual CPU devices share the pools: they are one process's devices. A positive
   * {@code interOp} gives the session a pool of its own ({@code use_per_session_threads}): TensorFlow
   * otherwise sizes one pool for all of a process's sessions by its first session's setting. The
   * intra-op pool is the CPU device's, made once per process: the first session's setting holds.
   */
  public Devices withThreads(int intraOp, int interOp) {
    if (intraOp < 0 || interOp < 0) {
      throw new IllegalArgumentException("thread counts must be 0 (TensorFlow's default) or positive, not "
          + intraOp + " and " + interOp);
    }
    ConfigProto c = config.toBuilder().setIntraOpParallelismThreads(intraOp).setInterOpParallelismThreads(interOp)
        .setUsePerSessionThreads(interOp > 0).build();
    return new Devices(specs, c, target, taskAddresses);
  }

  /**
   * These devices with {@code intraOp} and {@code interOp} threads where they are positive, and this
   * configuration's own setting where they are 0 (a user who sets one flag keeps the other default).
   */
  public Devices withThreadsWhereGiven(int intraOp, int interOp) {
    return withThreads(intraOp > 0 ? intraOp : config.getIntraOpParallelismThreads(),
        interOp > 0 ? interOp : config.getInterOpParallelismThreads());
  }

  /** The session's thread settings in words, as a run's first lines and the benchmarks print them. */
  public String threadsDescription() {
    int intra = config.getIntraOpParallelismThreads();
    int inter = config.getInterOpParallelismThreads();
    return intra == 0 && inter == 0 ? "TensorFlow's default threads"
        : "intra-op threads " + (intra == 0 ? "default" : intra) + ", inter-op " + (inter == 0 ? "default" : inter);
  }

  /**
   * n virtual CPU devices of this process. One device keeps TensorFlow's default threads (every
   * core for each op, and as many ops at once). Two or more are the parallelism themselves, as ranks
   * of one core each are in data-parallel CPU training: each op gets {@code max(1, cores / n)}
   * intra-op threads and the session {@code cores} inter-op threads, so the devices' ops run side by
   * side instead of each splitting over every core and waiting for the others. On this 2-core host
   * the baby GPT on x:2 {@code batch:x} steps in 36 ms against 42-51 ms with two threads of each, the
   * README's x:4 demo trains 1.5-1.8x the tokens/s, and the 10.7M GPT on x:2 beats x:1 by 6-13%
   * (docs/BENCHMARKS.md, "Threads: an op a core on several virtual devices"). {@link #withThreads} and
   * the CLI's {@code --threads} / {@code --inter_op_threads} replace it.
   */
  public static Devices virtualCpus(int n) {
    List<DeviceSpec> specs = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      specs.add(DeviceSpec.newBuilder().deviceType(DeviceSpec.DeviceType.CPU).deviceIndex(i).build());
    }
    ConfigProto.Builder config = ConfigProto.newBuilder().putDeviceCount("CPU", n).setAllowSoftPlacement(false);
    // a pool of the session's own when the default is not TensorFlow's (see withThreads)
    return new Devices(specs, withDefaultThreads(config, n).setUsePerSessionThreads(n > 1).build());
  }

  /**
   * {@code config} with {@link #virtualCpus}'s threads for {@code n} CPU devices of one process (a
   * cluster task's too, {@code cluster.TaskDevices}): unchanged for one device.
   */
  public static ConfigProto.Builder withDefaultThreads(ConfigProto.Builder config, int n) {
    int cores = Runtime.getRuntime().availableProcessors();
    return n > 1 ? config.setIntraOpParallelismThreads(Math.max(1, cores / n)).setInterOpParallelismThreads(cores)
        : config;
  }

  public static Devices gpus(int... ids) {
    List<DeviceSpec> specs = new ArrayList<>();
    for (int id : ids) {
      specs.add(DeviceSpec.newBuilder().deviceType(DeviceSpec.DeviceType.GPU).deviceIndex(id).build());
    }
    ConfigProto config = ConfigProto.newBuilder().setAllowSoftPlacement(false)
        .setGpuOptions(org.tensorflow.proto.GPUOptions.newBuilder().setAllowGrowth(true)).build();
    return new Devices(specs, config);
  }

  /** Explicit device strings such as {@code /job:worker/task:1/device:CPU:0} or {@code device:GPU:0}. */
  public static Devices parse(List<String> names) {
    List<DeviceSpec> specs = new ArrayList<>();
    int cpus = 1;
    for (String n : names) {
      DeviceSpec s = parseOne(n);
      specs.add(s);
      if (s.deviceType() == DeviceSpec.DeviceType.CPU && s.deviceIndex() != null) {
        cpus = Math.max(cpus, s.deviceIndex() + 1);
      }
    }
    ConfigProto config = ConfigProto.newBuilder().putDeviceCount("CPU", cpus).setAllowSoftPlacement(false)
        .setGpuOptions(org.tensorflow.proto.GPUOptions.newBuilder().setAllowGrowth(true)).build();
    return new Devices(specs, config);
  }

  private static DeviceSpec parseOne(String name) {
    DeviceSpec.Builder b = DeviceSpec.newBuilder();
    for (String part : name.replaceFirst("^/", "").split("/")) {
      String[] kv = part.split(":");
      switch (kv[0].toLowerCase()) {
        case "job" -> b.job(kv[1]);
        case "task" -> b.task(Integer.parseInt(kv[1]));
        case "replica" -> b.replica(Integer.parseInt(kv[1]));
        case "device" -> {
          b.deviceType(DeviceSpec.DeviceType.valueOf(kv[1].toUpperCase()));
          b.deviceIndex(Integer.parseInt(kv[2]));
        }
        case "cpu", "gpu" -> {
          b.deviceType(DeviceSpec.DeviceType.valueOf(kv[0].toUpperCase()));
          b.deviceIndex(Integer.parseInt(kv[1]));
        }
        default -> throw new IllegalArgumentException("cannot read device \"" + name
            + "\": expected e.g. device:GPU:0 or /job:worker/task:1/device:CPU:0");
      }
    }
    return b.build();
  }

  public int size() {
    return specs.size();
  }
}
