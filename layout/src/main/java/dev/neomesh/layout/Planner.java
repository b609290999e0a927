package dev.neomesh.layout;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.NeomeshException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Chooses a layout (and optionally a mesh shape) for a graph: the lowest estimated step time whose
 * memory per device fits the budget. Exact branch-and-bound over assignments of the graph's
 * splittable dim names to mesh axes: each name on at most one axis; an axis only for names whose
 * every size it divides; never two names that share a tensor (or an einsum's input union) on one
 * axis; never a dim that a slice, pad or concat works along. So every leaf is a layout the
 * {@link LayoutValidator} accepts. A branch is cut when its compute-plus-overhead time, with every
 * undecided name split as far as it still could be, cannot beat the best candidates kept.
 */
public final class Planner {
  private Planner() {}

  /** How many of the best candidates a plan keeps (and reports). */
  public static final int KEEP = 10;

  /** The outcome: the best candidates (best first), whether the mesh shape was searched, and search statistics. */
  public record Plan(List<Cost> candidates, long budgetBytes, boolean meshSearched, long leaves, long pruned,
                     double searchSeconds) {
    public Cost best() {
      return candidates.get(0);
    }

    public LayoutRules layout() {
      return best().rules();
    }

    public MeshShape meshShape() {
      return best().mesh();
    }
  }

  /** No layout fits the budget; {@link #closest} is the candidate of least memory (the message describes it). */
  public static final class NoLayoutFits extends NeomeshException {
    private final transient Cost closest;

    NoLayoutFits(String message, Cost closest) {
      super(message);
      this.closest = closest;
    }

    public Cost closest() {
      return closest;
    }
  }

  public static Plan autoLayout(CostModel model, MeshShape mesh, long budgetBytes) {
    return search(model, List.of(mesh), budgetBytes, false);
  }

  public static Plan autoLayoutAndMeshShape(CostModel model, int deviceCount, long budgetBytes) {
    return search(model, meshShapes(deviceCount), budgetBytes, true);
  }

  /**
   * Every factorisation of {@code deviceCount} into 1 to 3 axes of size at least 2, in non-increasing
   * order (the cost model is symmetric in the axes, so permutations add nothing), named x, y, z.
   */
  public static List<MeshShape> meshShapes(int deviceCount) {
    if (deviceCount < 1) {
      throw new NeomeshException("The device count must be positive, got " + deviceCount);
    }
    List<MeshShape> out = new ArrayList<>();
    if (deviceCount == 1) {
      out.add(MeshShape.parse("x:1"));
      return out;
    }
    factor(deviceCount, deviceCount, new ArrayList<>(), out);
    return out;
  }

  private static void factor(int rest, int max, List<Integer> sizes, List<MeshShape> out) {
    if (rest == 1) {
      String[] names = {"x", "y", "z"};
      List<Dim> axes = new ArrayList<>();
      for (int i = 0; i < sizes.size(); i++) {
        axes.add(new Dim(names[i], sizes.get(i)));
      }
      out.add(new MeshShape(axes));
      return;
    }
    if (sizes.size() == 3) {
      return;
    }
    for (int f = Math.min(rest, max); f >= 2; f--) {
      if (rest % f == 0) {
        sizes.add(f);
        factor(rest / f, f, sizes, out);
        sizes.remove(sizes.size() - 1);
      }
    }
  }

  /** Every layout the search would consider on {@code mesh} (all valid assignments), for tests and benchmarks. */
  public static List<LayoutRules> candidates(CostModel model, MeshShape mesh) {
    List<LayoutRules> out = new ArrayList<>();
    Search s = new Search(model, mesh, Long.MAX_VALUE, Integer.MAX_VALUE, null);
    s.visitor = axisOf -> out.add(s.rules(axisOf));
    s.dfs(0);
    return out;
  }

  private static Plan search(CostModel model, List<MeshShape> meshes, long budget, boolean meshSearched) {
    long t0 = System.nanoTime();
    List<Cost> kept = new ArrayList<>();
    Cost closest = null;
    long leaves = 0;
    long pruned = 0;
    for (MeshShape mesh : meshes) {
      Search s = new Search(model, mesh, budget, KEEP, kept);
      s.closest = closest;
      s.dfs(0);
      closest = s.closest;
      leaves += s.leaves;
      pruned += s.pruned;
    }
    if (kept.isEmpty()) {
      Cost c = closest;
      if (c == null) {
        throw new NeomeshException("No layout can lower this graph on " + meshes + " (every assignment is invalid)");
      }
      long over = c.memory().total() - budget;
      throw new NoLayoutFits(String.format("No layout fits the memory budget of %s per device on %s. The closest"
          + " is mesh \"%s\", layout \"%s\": %s per device (%s parameters, %s gradients, %s optimizer, %s activations),"
          + " %s (%.1f%%) over. Raise the budget, use more devices, or shrink the batch or model.",
          PlanReport.bytes(budget), meshSearched ? "any mesh shape of " + meshes.get(0).size() + " devices"
              : "mesh \"" + meshes.get(0) + "\"", c.mesh(), c.rules(), PlanReport.bytes(c.memory().total()),
          PlanReport.bytes(c.memory().parameters()), PlanReport.bytes(c.memory().gradients()),
          PlanReport.bytes(c.memory().optimizer()), PlanReport.bytes(c.memory().activations()),
          PlanReport.bytes(over), 100.0 * over / budget), c);
    }
    return new Plan(List.copyOf(kept), budget, meshSearched, leaves, pruned, (System.nanoTime() - t0) / 1e9);
  }

  /** One depth-first search over the assignments on one mesh. */
  private static final class Search {
    final CostModel model;
    final CompiledGraph g;
    final MeshShape mesh;
    final long budget;
    final int keep;
    final List<Cost> kept;
    final int[] dims;
    /** Dim ids of layout followers: never searched, each leaf derives them from its leaders' rules. */
    final int[] followerDims;
    final int[] axisOf;
    final int[] axisSize;
    /** For each candidate dim position, the axes it may take (largest first). */
    final int[][] options;
    java.util.function.Consumer<int[]> visitor;
    Cost closest;
    long leaves;
    long pruned;
    final double overhead;
    final double stretch;

    Search(CostModel model, MeshShape mesh, long budget, int keep, List<Cost> kept) {
      this.model = model;
      this.g = model.g;
      this.mesh = mesh;
      this.budget = budget;
      this.keep = keep;
      this.kept = kept;
      axisSize = new int[mesh.rank()];
      for (int a = 0; a < axisSize.length; a++) {
        axisSize[a] = mesh.axisSize(a);
      }
      java.util.Set<String> followers = new java.util.HashSet<>();
      g.graph.layoutFollowers().forEach(f -> followers.add(f.dim()));
      List<Integer> ds = new ArrayList<>();
      List<Integer> fs = new ArrayList<>();
      for (int d = 0; d < g.dimNames.size(); d++) {
        if (followers.contains(g.dimNames.get(d))) {
          fs.add(d);
        } else if (!g.unsplittable.contains(d) && !axesFor(d).isEmpty()) {
          ds.add(d);
        }
      }
      followerDims = fs.stream().mapToInt(Integer::intValue).toArray();
      ds.sort(Comparator.comparingDouble((Integer d) -> -g.dimWeight[d]).thenComparing(d -> g.dimNames.get(d)));
      dims = ds.stream().mapToInt(Integer::intValue).toArray();
      options = new int[dims.length][];
      for (int i = 0; i < dims.length; i++) {
        options[i] = axesFor(dims[i]).stream().mapToInt(Integer::intValue).toArray();
      }
      axisOf = new int[g.dimNames.size()];
      java.util.Arrays.fill(axisOf, -1);
      overhead = model.overheadSeconds();
      stretch = model.options().machine().stretch(mesh.size());
    }

    private List<Integer> axesFor(int d) {
      List<Integer> out = new ArrayList<>();
      for (int a = 0; a < axisSize.length; a++) {
        if (axisSize[a] > 1 && g.dimGcd[d] % axisSize[a] == 0) {
          out.add(a);
        }
      }
      out.sort(Comparator.comparingInt((Integer a) -> -axisSize[a]));
      return out;
    }

    LayoutRules rules(int[] assignment) {
      List<LayoutRules.Rule> rules = new ArrayList<>();
      for (int a = 0; a < axisSize.length; a++) {
        List<String> names = new ArrayList<>();
        for (int d : dims) {
          if (assignment[d] == a) {
            names.add(g.dimNames.get(d));
          }
        }
        names.sort(null);
        for (String n : names) {
          rules.add(new LayoutRules.Rule(n, mesh.axes().get(a).name()));
        }
      }
      return new LayoutRules(rules);
    }

    void dfs(int i) {
      if (i == dims.length) {
        leaf();
        return;
      }
      if (kept != null && kept.size() >= keep && lowerBound(i) >= kept.get(kept.size() - 1).seconds()) {
        pruned++;
        return;
      }
      int d = dims[i];
      for (int a : options[i]) {
        if (free(d, a)) {
          axisOf[d] = a;
          dfs(i + 1);
          axisOf[d] = -1;
        }
      }
      dfs(i + 1);
    }

    /** No dim sharing a tensor with {@code d} is on axis {@code a} already. */
    private boolean free(int d, int a) {
      boolean[] t = g.together[d];
      for (int e : dims) {
        if (axisOf[e] == a && t[e]) {
          return false;
        }
      }
      return true;
    }

    private void leaf() {
      LayoutRules rules = rules(axisOf);
      int[] assignment = axisOf.clone();
      if (followerDims.length > 0) { // the followers as the lowering derives them, if that leaves a valid layout
        rules = rules.withFollowers(g.graph.layoutFollowers(), mesh);
        assignment = model.axisAssignment(mesh, rules);
        if (!followersFree(assignment)) {
          return;
        }
      }
      leaves++;
      if (visitor != null) {
        visitor.accept(assignment);
        return;
      }
      Cost c = model.evaluate(mesh, rules, assignment);
      if (c.memory().total() > budget) {
        if (closest == null || c.memory().total() < closest.memory().total()) {
          closest = c;
        }
        return;
      }
      int pos = 0;
      while (pos < kept.size() && kept.get(pos).seconds() <= c.seconds()) {
        pos++;
      }
      if (pos < keep) {
        kept.add(pos, c);
        if (kept.size() > keep) {
          kept.remove(kept.size() - 1);
        }
      }
    }

    /** No derived follower shares a mesh axis with a dim of one of its tensors (else the leaf is invalid). */
    private boolean followersFree(int[] assignment) {
      for (int f : followerDims) {
        int a = assignment[f];
        if (a < 0) {
          continue;
        }
        if (g.unsplittable.contains(f) || g.dimGcd[f] % axisSize[a] != 0) {
          return false;
        }
        for (int e = 0; e < assignment.length; e++) {
          if (e != f && assignment[e] == a && g.together[f][e]) {
            return false;
          }
        }
      }
      return true;
    }

    /**
     * Compute plus overhead seconds if every undecided dim (positions from {@code i}) were split over
     * every axis it could still take: no assignment below this node computes faster, and
     * communication only adds.
     */
    private double lowerBound(int i) {
      MachineConstants m = model.options().machine();
      double sec = 0;
      for (int s = 0; s < g.shapes.size(); s++) {
        double w = model.einsumWork[s] / m.matmulFlopsPerSecond() + model.elementWork[s] / m.elementwisePerSecond();
        if (w == 0) {
          continue;
        }
        int[] ds = g.shapeDims.get(s);
        double factor = 1;
        for (int a = 0; a < axisSize.length; a++) {
          boolean used = false;
          for (int d : ds) {
            if (axisOf[d] == a) {
              used = true;
              break;
            }
          }
          if (!used) {
            for (int k = i; k < dims.length + followerDims.length && !used; k++) {
              int d = k < dims.length ? dims[k] : followerDims[k - dims.length]; // followers: undecided till the leaf
              for (int dd : ds) {
                if (dd == d && g.dimGcd[d] % axisSize[a] == 0) {
                  used = true;
                  break;
                }
              }
            }
          }
          if (used) {
            factor *= axisSize[a];
          }
        }
        sec += w / factor;
      }
      return (sec + overhead) * stretch;
    }
  }
}
