package dev.neomesh.models.train;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * ZeRO stages 1 to 3 (Rajbhandari et al. 2019) written on named dims, so that no layout rule and
 * no device appear here. Each parameter gets a <em>sharded view</em>: the same tensor with every dim
 * renamed {@code zero_<dim>}. Each {@code zero_<dim>} follows {@code <dim>}'s split, and one of
 * them, the first in order of the parameter bytes it covers whose dim no rule splits, also takes the
 * mesh axis {@code batch} is split on (layout followers, {@link dev.neomesh.mesh.LayoutRules#withFollowers}).
 * The optimizer then runs on the views: its slots are variables of the view's shape, so each
 * data-parallel replica keeps 1/n of them (stage 1), and the new parameter is gathered back to the
 * parameter's own layout by the inverse rename (an allconcat over the batch axis).
 *
 * <p>Stage 1 reads the gradients whole (the allreduce of data parallelism) and keeps its part;
 * stage 2 renames the gradient while it is still a pending sum over the batch axis, which the
 * compiler carries out as a reduce-scatter: each device receives and adds only its part.
 * Stage 3 keeps the parameters themselves as views ({@link #stores}): the model reads each
 * through {@link #gather} where it uses it, an allconcat just in time whose result dies after its
 * last use, and the gradient of that gather is the reduce-scatter of stage 2, so the optimizer runs
 * on the stored views with nothing to gather back. Under {@code recompute_grad} each block gathers
 * again for its backward pass; without it the forward's gathered weights are kept for the backward
 * (FSDP without resharding after the forward).
 * Parameters of no dim on the batch axis (small ones, or all of them when no rule splits batch)
 * stay replicated, with their slots.
 */
public final class ZeroSharding {
  static final String PREFIX = "zero_";

  private ZeroSharding() {}

  /** Whether stage {@code zeroStage} stores the parameters as sharded views (stage 3). */
  public static boolean stores(int zeroStage) {
    return zeroStage >= 3;
  }

  /**
   * Declares the views' layout followers for {@code params} (parameters, or under stage 3 their
   * stored views) on {@code m}'s graph.
   */
  static void declare(MeshOps m, List<MeshTensor> params) {
    Map<String, Dim> dims = new LinkedHashMap<>();
    Map<String, Long> bytes = new LinkedHashMap<>();
    for (MeshTensor p : params) {
      for (Dim view : p.shape().dims()) {
        Dim d = view.name().startsWith(PREFIX) ? new Dim(view.name().substring(PREFIX.length()), view.size()) : view;
        dims.putIfAbsent(d.name(), d);
        bytes.merge(d.name(), p.shape().size() * p.dtype().bytes(), Long::sum);
      }
    }
    for (Dim d : dims.values()) {
      m.graph().followLayout(view(d), d.name());
    }
    List<Dim> byBytes = new ArrayList<>(dims.values());
    byBytes.sort(Comparator.comparingLong((Dim d) -> -bytes.get(d.name())).thenComparing(Dim::name));
    for (Dim d : byBytes) {
      m.graph().followLayout(view(d), "batch");
    }
  }

  /** The sharded view of parameter (or gradient) {@code t}: every dim renamed {@code zero_<dim>}. */
  public static MeshTensor shard(MeshOps m, MeshTensor t) {
    return t.shape().rank() == 0 ? t : m.reshape(t, viewShape(t.shape()));
  }

  /** A sharded view back in the shape {@code full} of its parameter. */
  public static MeshTensor gather(MeshOps m, MeshTensor view, Shape full) {
    return full.rank() == 0 ? view : m.reshape(view, full);
  }

  static Shape viewShape(Shape s) {
    return new Shape(s.dims().stream().map(ZeroSharding::view).toList());
  }

  private static Dim view(Dim d) {
    return new Dim(PREFIX + d.name(), d.size());
  }
}
