package dev.neomesh.mesh.cluster;

import java.util.ArrayList;
import java.util.List;

/**
 * How to start a worker JVM: the {@code java} executable and the class path that holds
 * {@link Worker} and TensorFlow. A program's entry point knows them (its own JVM's), and passes
 * them down to whatever starts workers ({@link LocalCluster}).
 */
public record WorkerJvm(String java, String classPath) {
  /**
   * This process's own {@code java} executable and class path: for a program's entry point (its
   * {@code main}), which passes the result down; everything below it takes a {@code WorkerJvm}.
   */
  public static WorkerJvm current() {
    return new WorkerJvm(ProcessHandle.current().info().command().orElse("java"), System.getProperty("java.class.path"));
  }

  /** The command that runs {@code mainClass} with {@code args} on this JVM and class path. */
  public List<String> command(String mainClass, List<String> args) {
    List<String> cmd = new ArrayList<>(List.of(java, "-cp", classPath, mainClass));
    cmd.addAll(args);
    return cmd;
  }
}
