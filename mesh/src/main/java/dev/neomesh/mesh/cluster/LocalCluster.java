package dev.neomesh.mesh.cluster;

import dev.neomesh.mesh.NeomeshException;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code --cluster local:N}: N worker processes on this host, each a JVM running {@link Worker}
 * on a free local port with its share of the mesh's devices, optionally pinned to its own cores
 * ({@code taskset}). Started and waited for (each prints {@link Worker#READY}); closing stops them
 * (SIGTERM, then SIGKILL), and so do a shutdown hook (Ctrl-C, an error) and each worker's watch
 * of this process (this process killed outright). Each task's output goes to a log file, shown
 * when the task fails to start.
 */
public final class LocalCluster implements AutoCloseable {
  /** How long a worker JVM may take to load TensorFlow and serve. */
  static final Duration START = Duration.ofSeconds(90);

  private final WorkerJvm jvm;
  private final ClusterSpec spec;
  private final int devicesPerTask;
  private final int coresPerTask;
  private final List<Process> processes;
  private final Path logs;
  private final Thread hook;

  private LocalCluster(WorkerJvm jvm, ClusterSpec spec, int devicesPerTask, int coresPerTask, List<Process> processes, Path logs) {
    this.jvm = jvm;
    this.spec = spec;
    this.devicesPerTask = devicesPerTask;
    this.coresPerTask = coresPerTask;
    this.processes = processes;
    this.logs = logs;
    this.hook = new Thread(this::stopAll, "neomesh-local-cluster-stop");
    Runtime.getRuntime().addShutdownHook(hook);
  }

  /** {@code "local:N"} → N, or -1 when {@code cluster} is a list of addresses. */
  public static int localTasks(String cluster) {
    if (!cluster.startsWith("local:")) {
      return -1;
    }
    try {
      int n = Integer.parseInt(cluster.substring(6).trim());
      if (n >= 1) {
        return n;
      }
    } catch (NumberFormatException e) {
      // fall through to the message
    }
    throw new NeomeshException("--cluster " + cluster + ": expected local:N with N >= 1 worker processes, e.g. local:2");
  }

  /**
   * Starts {@code tasks} workers of {@code devicesPerTask} CPU devices each; {@code coresPerTask > 0}
   * pins task i to cores {@code [i*k, (i+1)*k)} and gives it that many threads.
   */
  public static LocalCluster start(WorkerJvm jvm, int tasks, int devicesPerTask, int coresPerTask) {
    int cores = Runtime.getRuntime().availableProcessors();
    if (coresPerTask > 0 && tasks * coresPerTask > cores) {
      throw new NeomeshException("--cpus_per_task " + coresPerTask + " for " + tasks + " tasks needs " + tasks * coresPerTask
          + " cores, but this machine has " + cores + ": lower --cpus_per_task to " + Math.max(1, cores / tasks)
          + ", or drop it to share the cores");
    }
    if (coresPerTask > 0 && !onPath("taskset")) {
      throw new NeomeshException("--cpus_per_task pins workers with taskset, which is not installed: install "
          + "util-linux, or drop --cpus_per_task");
    }
    List<String> addresses = new ArrayList<>();
    for (int i = 0; i < tasks; i++) {
      addresses.add("localhost:" + freePort(addresses));
    }
    ClusterSpec spec = new ClusterSpec(addresses);
    Path logs;
    try {
      logs = Files.createTempDirectory("neomesh-cluster-");
    } catch (IOException e) {
      throw new NeomeshException("cannot create a folder for the workers' logs: " + e.getMessage()
          + "; set java.io.tmpdir (JAVA_TOOL_OPTIONS=-Djava.io.tmpdir=DIR) to a writable folder", e);
    }
    List<Process> processes = new ArrayList<>();
    LocalCluster cluster = new LocalCluster(jvm, spec, devicesPerTask, coresPerTask, processes, logs);
    try {
      for (int t = 0; t < tasks; t++) {
        processes.add(launch(jvm, spec, t, devicesPerTask, coresPerTask, logs));
      }
      cluster.awaitReady();
      return cluster;
    } catch (RuntimeException e) {
      cluster.close();
      throw e;
    }
  }

  private static Process launch(WorkerJvm jvm, ClusterSpec spec, int task, int devices, int coresPerTask, Path logs) {
    List<String> cmd = new ArrayList<>();
    if (coresPerTask > 0) {
      cmd.addAll(List.of("taskset", "-c", task * coresPerTask + "-" + ((task + 1) * coresPerTask - 1)));
    }
    List<String> args = new ArrayList<>(List.of("--cluster", spec.toString(), "--task", String.valueOf(task), "--cpus",
        String.valueOf(devices), "--parent_pid", String.valueOf(ProcessHandle.current().pid())));
    if (coresPerTask > 0) {
      args.addAll(List.of("--threads", String.valueOf(coresPerTask)));
    }
    cmd.addAll(jvm.command(Worker.class.getName(), args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.to(log(logs, task).toFile()));
    pb.environment().putIfAbsent("TF_CPP_MIN_LOG_LEVEL", "1");
    try {
      return pb.start();
    } catch (IOException e) {
      throw new NeomeshException("cannot start worker task " + task + ": " + e.getMessage(), e);
    }
  }

  private static Path log(Path logs, int task) {
    return logs.resolve("task-" + task + ".log");
  }

  /** Starts task {@code t} again on its address (after it ended), and waits until it serves. */
  public void restart(int t) {
    processes.get(t).destroyForcibly();
    try {
      processes.get(t).waitFor();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    processes.set(t, launch(jvm, spec, t, devicesPerTask, coresPerTask, logs));
    awaitReady(t);
  }

  private void awaitReady() {
    for (int t = 0; t < processes.size(); t++) {
      awaitReady(t);
    }
  }

  private void awaitReady(int t) {
    long end = System.nanoTime() + START.toNanos();
    {
      while (!logText(t).lines().anyMatch(l -> l.startsWith(Worker.READY))) {
        if (!processes.get(t).isAlive()) {
          throw new NeomeshException("local worker task " + t + " (" + spec.address(t) + ") ended with status "
              + processes.get(t).exitValue() + " before serving; its log " + log(logs, t) + " ends:\n" + tail(t));
        }
        if (System.nanoTime() > end) {
          throw new NeomeshException("local worker task " + t + " (" + spec.address(t) + ") did not serve within "
              + START.toSeconds() + " s; its log " + log(logs, t) + " ends:\n" + tail(t));
        }
        try {
          Thread.sleep(100);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new NeomeshException("interrupted while starting the local cluster", e);
        }
      }
    }
  }

  private String logText(int task) {
    try {
      return Files.readString(log(logs, task), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }

  private String tail(int task) {
    List<String> lines = logText(task).lines().toList();
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 15), lines.size()));
  }

  public ClusterSpec spec() {
    return spec;
  }

  /** Task {@code t}'s process (tests kill one to check how a run fails). */
  public Process process(int t) {
    return processes.get(t);
  }

  /** The folder of the tasks' log files ({@code task-<i>.log}). */
  public Path logs() {
    return logs;
  }

  private void stopAll() {
    for (Process p : processes) {
      p.destroy(); // SIGTERM: the worker ends with status 0
    }
    for (Process p : processes) {
      try {
        if (!p.waitFor(5, TimeUnit.SECONDS)) {
          p.destroyForcibly();
        }
      } catch (InterruptedException e) {
        p.destroyForcibly();
      }
    }
  }

  /** Stops every worker and deletes the logs. */
  @Override
  public void close() {
    stopAll();
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException e) {
      // already shutting down: the hook is running this
    }
    try (var files = Files.list(logs)) {
      for (Path f : files.toList()) {
        Files.deleteIfExists(f);
      }
      Files.deleteIfExists(logs);
    } catch (IOException e) {
      // logs in the temporary folder: harmless to leave
    }
  }

  private static int freePort(List<String> taken) {
    for (int attempt = 0; attempt < 20; attempt++) {
      try (ServerSocket s = new ServerSocket(0)) {
        int port = s.getLocalPort();
        if (!taken.contains("localhost:" + port)) {
          return port;
        }
      } catch (IOException e) {
        throw new NeomeshException("cannot find a free local port for a worker: " + e.getMessage(), e);
      }
    }
    throw new NeomeshException("cannot find a free local port for a worker");
  }

  private static boolean onPath(String program) {
    for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
      if (Files.isExecutable(Path.of(dir, program))) {
        return true;
      }
    }
    return false;
  }
}
