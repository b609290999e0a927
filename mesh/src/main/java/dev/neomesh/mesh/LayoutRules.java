package dev.neomesh.mesh;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Which tensor dimension is split over which mesh axis, by dimension name, for every tensor of a
 * program: {@code "batch:x,heads:y"}. Rules naming a mesh axis that the mesh lacks are ignored,
 * so one rule set serves meshes of different ranks (as in Mesh-TensorFlow).
 */
public record LayoutRules(List<Rule> rules) {
  /** One {@code dim:axis} pair. */
  public record Rule(String dim, String axis) {
    @Override
    public String toString() {
      return dim + ":" + axis;
    }
  }

  public LayoutRules {
    rules = List.copyOf(rules);
    Map<String, String> seen = new HashMap<>();
    for (Rule r : rules) {
      String prev = seen.put(r.dim(), r.axis());
      if (prev != null) {
        throw new LayoutException("Layout rules map dimension \"" + r.dim() + "\" twice (\"" + r.dim() + ":" + prev
            + "\" and \"" + r + "\"): a dimension can be split over one mesh axis only; keep one of the rules");
      }
    }
  }

  public static final LayoutRules NONE = new LayoutRules(List.of());

  /**
   * A dim whose split follows another's when the rules leave it unnamed: grouped-query attention's
   * {@code kv_heads} follows {@code heads}, so a layout written for multi-head attention ("heads:y")
   * splits the key and value heads too; ZeRO's sharded views follow their dims and then
   * {@code batch}. A program declares its followers ({@code MeshGraph#followLayout}); the lowering
   * and the planner apply them with {@link #withFollowers}.
   */
  public record Follower(String dim, int size, String leader) {}

  /**
   * These rules plus one per follower that no rule names yet, in declaration order: a follower
   * takes its leader's mesh axis (the leader's rule may itself be one a follower took) when the axis
   * divides it and no other follower of that leader holds the axis already. So at most one follower
   * of a leader shares its axis, and a follower the axis cannot divide stays whole (replicated)
   * instead of being an error. Rules naming axes {@code mesh} lacks are ignored, as everywhere.
   */
  public LayoutRules withFollowers(List<Follower> followers, MeshShape mesh) {
    if (followers.isEmpty()) {
      return this;
    }
    LayoutRules out = this;
    Map<String, Boolean> taken = new HashMap<>(); // leaders whose axis a follower holds already
    for (Follower f : followers) {
      if (axisFor(f.dim()).isPresent() && axisFor(f.dim()).equals(axisFor(f.leader()))) {
        taken.put(f.leader(), true);
      }
    }
    for (Follower f : followers) {
      Optional<String> axis = out.axisFor(f.leader());
      if (axis.isEmpty() || mesh.axisIndex(axis.get()) < 0 || out.axisFor(f.dim()).isPresent()
          || taken.getOrDefault(f.leader(), false)) {
        continue;
      }
      if (f.size() % mesh.axisSize(mesh.axisIndex(axis.get())) == 0) {
        List<Rule> more = new ArrayList<>(out.rules);
        more.add(new Rule(f.dim(), axis.get()));
        out = new LayoutRules(more);
        taken.put(f.leader(), true);
      }
    }
    return out;
  }

  public static LayoutRules parse(String text) {
    if (text == null || text.isBlank()) {
      return NONE;
    }
    List<Rule> rules = new ArrayList<>();
    for (String[] p : Pairs.parse(text, "layout", "batch:x,heads:y")) {
      rules.add(new Rule(p[0], p[1]));
    }
    return new LayoutRules(rules);
  }

  /** The mesh axis a dimension name is split over, if a rule names it. */
  public Optional<String> axisFor(String dim) {
    return rules.stream().filter(r -> r.dim().equals(dim)).map(Rule::axis).findFirst();
  }

  /** One reason these rules cannot lay out a shape: the dim, its rule, and a message that names the fix. */
  public record Problem(String dim, String rule, String message) {}

  /**
   * The layout of one tensor on a mesh. Throws a {@link LayoutException} naming the tensor, the
   * dimension and the rule when two dims land on one mesh axis or a split dim is not divisible.
   */
  public TensorLayout layoutOf(String tensorName, Shape shape, MeshShape mesh) {
    int[] axisOfDim = new int[shape.rank()];
    List<Problem> problems = check("tensor \"" + tensorName + "\"", shape, mesh, axisOfDim);
    if (!problems.isEmpty()) {
      throw new LayoutException(problems.get(0).message());
    }
    return new TensorLayout(shape, mesh, axisOfDim);
  }

  /**
   * Every reason these rules cannot lay out {@code shape} (described as {@code what}, e.g.
   * {@code tensor "x"}) on {@code mesh}, in dim order; empty when {@link #layoutOf} would succeed.
   */
  public List<Problem> problems(String what, Shape shape, MeshShape mesh) {
    return check(what, shape, mesh, new int[shape.rank()]);
  }

  /** The problems of {@code shape}, filling {@code axisOfDim} with each dim's mesh axis (-1: not split). */
  private List<Problem> check(String what, Shape shape, MeshShape mesh, int[] axisOfDim) {
    List<Problem> problems = new ArrayList<>();
    String[] dimOnAxis = new String[mesh.rank()];
    for (int i = 0; i < shape.rank(); i++) {
      Dim d = shape.get(i);
      axisOfDim[i] = -1;
      Optional<String> axisName = axisFor(d.name());
      if (axisName.isEmpty()) {
        continue;
      }
      int axis = mesh.axisIndex(axisName.get());
      if (axis < 0) {
        continue;
      }
      String rule = d.name() + ":" + axisName.get();
      if (dimOnAxis[axis] != null) {
        problems.add(new Problem(d.name(), rule, "Invalid layout for " + what + " " + shape + ": dims \""
            + dimOnAxis[axis] + "\" and \"" + d.name() + "\" are both split over mesh axis \"" + axisName.get()
            + "\" (rules \"" + dimOnAxis[axis] + ":" + axisName.get() + "\" and \"" + rule + "\"). A tensor can split"
            + " at most one of its dims over each mesh axis: map one of them to another axis or drop its rule"));
        continue;
      }
      int n = mesh.axisSize(axis);
      if (d.size() % n != 0) {
        problems.add(new Problem(d.name(), rule, "Invalid layout for " + what + " " + shape + ": dim \""
            + d.name() + "\" (size " + d.size() + ") is not divisible by mesh axis \"" + axisName.get() + "\" (size "
            + n + "), rule \"" + rule + "\". Split \"" + d.name() + "\" over an axis whose size divides " + d.size()
            + ", or drop the rule"));
        continue;
      }
      dimOnAxis[axis] = d.name();
      axisOfDim[i] = axis;
    }
    return problems;
  }

  @Override
  public String toString() {
    return String.join(",", rules.stream().map(Rule::toString).toList());
  }
}
