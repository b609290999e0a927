package dev.neomesh.layout;

import dev.neomesh.mesh.LayoutException;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.EinsumOp;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.ir.Op;
import dev.neomesh.mesh.ir.UnsplitDimOp;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Every reason a layout cannot lower a graph on a mesh, not just the first: per tensor, two dims
 * on one mesh axis or a split dim its axis does not divide; per einsum, the same for the union of
 * its input shapes (the shape the lowering lays out to find the summed axes); per slice, pad and
 * concat, a split dim they work along. The trainer runs it before it lowers anything.
 */
public final class LayoutValidator {
  private LayoutValidator() {}

  /** One violation: what (a tensor, or an op's working shape), which dim, which rule, and the fix. */
  public record Violation(String tensor, String dim, String rule, String message) {
    @Override
    public String toString() {
      return message;
    }
  }

  public static List<Violation> validate(MeshGraph graph, MeshShape mesh, LayoutRules written) {
    LayoutRules rules = written.withFollowers(graph.layoutFollowers(), mesh); // as the lowering applies them
    List<Violation> out = new ArrayList<>();
    for (Op op : graph.ops()) {
      for (MeshTensor t : op.outputs()) {
        checkShape("tensor \"" + t.name() + "\"", t.shape(), mesh, rules, out);
      }
    }
    for (Op op : graph.ops()) {
      if (op instanceof EinsumOp) {
        checkShape("the inputs of " + op.name() + " (their union)", ((EinsumOp) op).union(), mesh, rules, out);
      } else if (op instanceof UnsplitDimOp along && along.dim() != null) {
        String dim = along.dim();
        Optional<String> axis = rules.axisFor(dim);
        if (axis.isPresent() && mesh.axisIndex(axis.get()) >= 0) {
          String rule = dim + ":" + axis.get();
          out.add(new Violation(op.name(), dim, rule, "Op \"" + op.name() + "\" works along dim \"" + dim
              + "\", which rule \"" + rule + "\" splits over mesh axis \"" + axis.get() + "\" (tensors "
              + op.inputs().stream().map(MeshTensor::name).toList() + "). Slice, concat and pad need that dim unsplit:"
              + " drop the rule for \"" + dim + "\""));
        }
      }
    }
    return out;
  }

  /** Throws one {@link LayoutException} listing every violation (grouped by rule), or returns quietly. */
  public static void check(MeshGraph graph, MeshShape mesh, LayoutRules rules) {
    List<Violation> all = validate(graph, mesh, rules);
    if (all.isEmpty()) {
      return;
    }
    throw new LayoutException("Layout \"" + rules + "\" cannot be used on mesh \"" + mesh + "\": " + all.size()
        + " violation(s)\n" + summary(all));
  }

  /** One line per distinct (rule, kind of problem), with how many tensors it hits and the first of them. */
  public static String summary(List<Violation> all) {
    Map<String, List<Violation>> byRule = new LinkedHashMap<>();
    for (Violation v : all) {
      String kind = v.message().contains("not divisible") ? "divisibility" : v.message().contains("both split")
          ? "shared axis" : "unsplit";
      byRule.computeIfAbsent(v.rule() + " " + kind, k -> new ArrayList<>()).add(v);
    }
    StringBuilder sb = new StringBuilder();
    byRule.forEach((k, vs) -> sb.append("  - ").append(vs.get(0).message())
        .append(vs.size() > 1 ? " [and " + (vs.size() - 1) + " more like it]" : "").append('\n'));
    return sb.toString();
  }

  private static void checkShape(String what, Shape shape, MeshShape mesh, LayoutRules rules, List<Violation> out) {
    for (LayoutRules.Problem p : rules.problems(what, shape, mesh)) {
      out.add(new Violation(what, p.dim(), p.rule(), p.message()));
    }
  }
}
