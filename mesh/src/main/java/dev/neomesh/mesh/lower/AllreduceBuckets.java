package dev.neomesh.mesh.lower;

import dev.neomesh.mesh.comm.CommPlan;
import dev.neomesh.mesh.comm.PlanContext;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.ir.Op;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Which pending sums to carry out together, as one allreduce of their concatenated slices, the way
 * data-parallel trainers bucket gradients (PyTorch DDP, Horovod's tensor fusion). Every weight
 * gradient of a data-parallel step is a pending sum over the batch axes, resolved one by one where
 * the clipping or the optimizer first reads it; on a cluster each resolution is its own gRPC
 * transfer pair, and that fixed cost, not the bytes, dominated the step. So when an op must resolve
 * a pending sum, the ops ahead of it whose inputs are all computed already and whose plans resolve a
 * pending sum over the same axes with the same dtype join the bucket, up to a byte cap.
 *
 * <p>Moving a resolution earlier changes nothing another op sees: a tensor joins only if no op
 * between here and the op that would resolve it reads it (such an op may rely on the sum being
 * still pending, as {@code a@b + c@d} does), and a resolved value equals a pending one once summed.
 * The same bytes move; only the number of collectives falls.
 */
final class AllreduceBuckets {
  /** How many ops ahead to look for ready resolutions (the gradients' consumers are close together). */
  static final int LOOKAHEAD = 2048;

  private AllreduceBuckets() {}

  /** One fused allreduce: its resolutions share axes and dtype. */
  record Bucket(int[] axes, List<CommPlan.Resolved> members) {
    long bytes() {
      return members.stream().mapToLong(r -> r.allreduce().bytesPerDevice()).sum();
    }
  }

  /**
   * The buckets to carry out before op {@code i} lowers: its own plan's resolutions, each joined by
   * the ready resolutions of the ops ahead, in their order, that keep it within {@code capBytes}
   * (a sum bigger than the cap goes alone).
   */
  static List<Bucket> before(List<Op> ops, int i, CommPlan plan, PlanContext state, Predicate<MeshTensor> lowered,
                             long capBytes) {
    Map<String, Bucket> buckets = new LinkedHashMap<>();
    Set<MeshTensor> taken = Collections.newSetFromMap(new IdentityHashMap<>());
    for (CommPlan.Resolved r : plan.resolved()) {
      bucketOf(buckets, r).members().add(r);
      taken.add(r.tensor());
    }
    // op i reads its other inputs as they are now: they must stay pending until it has run
    Set<MeshTensor> readBefore = Collections.newSetFromMap(new IdentityHashMap<>());
    readBefore.addAll(ops.get(i).inputs());
    for (int j = i + 1; j < Math.min(ops.size(), i + 1 + LOOKAHEAD); j++) {
      Op op = ops.get(j);
      if (op.inputs().stream().allMatch(lowered)) {
        for (CommPlan.Resolved r : op.plan(state).resolved()) {
          Bucket b = buckets.get(key(r));
          if (b != null && !taken.contains(r.tensor()) && !readBefore.contains(r.tensor())
              && b.bytes() + r.allreduce().bytesPerDevice() <= capBytes) {
            b.members().add(r);
            taken.add(r.tensor());
          }
        }
      }
      readBefore.addAll(op.inputs());
    }
    return List.copyOf(buckets.values());
  }

  private static Bucket bucketOf(Map<String, Bucket> buckets, CommPlan.Resolved r) {
    return buckets.computeIfAbsent(key(r),
        k -> new Bucket(r.allreduce().axes(), new ArrayList<>()));
  }

  private static String key(CommPlan.Resolved r) {
    return Arrays.toString(r.allreduce().axes()) + r.tensor().dtype();
  }
}
