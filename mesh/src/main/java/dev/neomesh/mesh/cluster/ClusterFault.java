package dev.neomesh.mesh.cluster;

import dev.neomesh.mesh.NeomeshException;

/**
 * A session run on a cluster failed because one of its tasks is gone (its process ended, or its
 * machine does not answer): the message names the task and its address, and how to go on.
 */
public final class ClusterFault extends NeomeshException {
  private final ClusterHealth.Unreachable task;

  public ClusterFault(ClusterHealth.Unreachable task, String tensorFlowReason, Throwable cause) {
    super(task.describe() + " stopped answering (" + task.reason() + "; TensorFlow: " + tensorFlowReason
        + "). Restart that worker with the same --cluster and --task " + task.task()
        + " and run the same command again", cause);
    this.task = task;
  }

  public ClusterHealth.Unreachable task() {
    return task;
  }
}
