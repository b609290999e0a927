package dev.neomesh.mesh.cluster;

import dev.neomesh.mesh.NeomeshException;

/**
 * A session run on a cluster failed because one of its tasks is gone (its process ended, or its
 * machine does not answer): the message names the task and its address, and how to go on.
 */
public final class ClusterFault extends NeomeshException {
  private final ClusterHealth.Unreachable task;

  /** TensorFlow's own error ({@code cause}, shown with --verbose) is an RPC trail; the message names the task. */
  public ClusterFault(ClusterHealth.Unreachable task, Throwable cause) {
    super(task.describe() + " stopped answering (" + task.reason() + "). Restart that worker (the same --cluster and "
        + "--task " + task.task() + "; --cluster local:N starts new workers itself) and run the same command again", cause);
    this.task = task;
  }

  public ClusterHealth.Unreachable task() {
    return task;
  }
}
