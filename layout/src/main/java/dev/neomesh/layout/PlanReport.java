package dev.neomesh.layout;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.neomesh.mesh.LayoutRules;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the planner prints: GPT-Neo's own lines ({@code Auto-selected layout:} and, with the mesh
 * search, {@code Auto-selected mesh shape:}), a table of the best candidates (memory per device by
 * kind, bytes communicated, estimated step time) and, for the winner, which collectives each rule
 * adds; and the config with {@code mesh_shape} and {@code layout} replaced.
 */
public final class PlanReport {
  private PlanReport() {}

  /** GPT-Neo's lines: the layout, then (with the mesh search) the mesh shape. */
  public static String selection(Planner.Plan plan) {
    StringBuilder sb = new StringBuilder("Auto-selected layout:\n").append(plan.layout()).append('\n');
    if (plan.meshSearched()) {
      sb.append("Auto-selected mesh shape:\n").append(plan.meshShape()).append('\n');
    }
    return sb.toString();
  }

  /** The selection lines, the candidates table and the winner's collectives per rule. */
  public static String render(Planner.Plan plan, CostModel model) {
    StringBuilder sb = new StringBuilder(selection(plan)).append('\n');
    sb.append(String.format("Best %d candidates (memory per device, budget %s; searched %d layouts, pruned %d"
        + " branches, %.2f s):%n", plan.candidates().size(),
        plan.budgetBytes() == Long.MAX_VALUE ? "unlimited" : bytes(plan.budgetBytes()), plan.leaves(), plan.pruned(),
        plan.searchSeconds()));
    sb.append(table(plan.candidates()));
    sb.append('\n').append("Collectives each rule of the winner adds (against the same layout without it):\n");
    sb.append(perRule(plan.best(), model));
    return sb.toString();
  }

  public static String table(List<Cost> costs) {
    List<String[]> rows = new ArrayList<>();
    rows.add(new String[] {"#", "mesh", "layout", "params", "grads", "optimizer", "activations", "total", "comm/step",
        "est. step"});
    int i = 1;
    for (Cost c : costs) {
      Cost.Memory m = c.memory();
      rows.add(new String[] {String.valueOf(i++), c.mesh().toString(), layout(c.rules()), bytes(m.parameters()), bytes(m.gradients()), bytes(m.optimizer()),
          bytes(m.activations()), bytes(m.total()), bytes(c.bytesCommunicated()), seconds(c.seconds())});
    }
    int[] w = new int[rows.get(0).length];
    for (String[] r : rows) {
      for (int k = 0; k < r.length; k++) {
        w[k] = Math.max(w[k], r[k].length());
      }
    }
    StringBuilder sb = new StringBuilder();
    for (int r = 0; r < rows.size(); r++) {
      sb.append("| ");
      for (int k = 0; k < w.length; k++) {
        String cell = rows.get(r)[k];
        boolean left = k == 1 || k == 2;
        sb.append(left ? pad(cell, w[k], true) : pad(cell, w[k], false)).append(" | ");
      }
      sb.setLength(sb.length() - 1);
      sb.append('\n');
      if (r == 0) {
        sb.append('|');
        for (int k = 0; k < w.length; k++) {
          sb.append("-".repeat(w[k] + 1)).append(k == 1 || k == 2 ? "-|" : ":|");
        }
        sb.append('\n');
      }
    }
    return sb.toString();
  }

  /** For each rule of {@code winner}: the counters it adds or removes, by comparing with the layout minus that rule. */
  public static String perRule(Cost winner, CostModel model) {
    if (winner.rules().rules().isEmpty()) {
      return "  (no rules: everything is replicated, nothing is communicated)\n";
    }
    StringBuilder sb = new StringBuilder();
    for (LayoutRules.Rule r : winner.rules().rules()) {
      List<LayoutRules.Rule> rest = new ArrayList<>(winner.rules().rules());
      rest.remove(r);
      LayoutRules without = new LayoutRules(rest);
      Cost c = model.evaluate(winner.mesh(), without, model.axisAssignment(winner.mesh(), without));
      Map<String, long[]> diff = new TreeMap<>();
      winner.communication().forEach((k, e) -> diff.put(k, new long[] {e.count(), e.bytesPerDevice()}));
      c.communication().forEach((k, e) -> {
        long[] d = diff.computeIfAbsent(k, x -> new long[2]);
        d[0] -= e.count();
        d[1] -= e.bytesPerDevice();
      });
      List<String> parts = new ArrayList<>();
      diff.forEach((k, d) -> {
        if (d[0] != 0 || d[1] != 0) {
          parts.add(String.format("%s %s%d (%s%s)", k, d[0] >= 0 ? "+" : "", d[0], d[1] >= 0 ? "+" : "-",
              bytes(Math.abs(d[1]))));
        }
      });
      sb.append(String.format("  %-28s %s; step %s -> %s%n", r, parts.isEmpty() ? "no collectives"
          : String.join(", ", parts), seconds(c.seconds()), seconds(winner.seconds())));
    }
    return sb.toString();
  }

  /** Replaces {@code mesh_shape} and {@code layout} in a GPT-Neo style config (a Jackson object). */
  public static ObjectNode applyTo(ObjectNode config, Planner.Plan plan) {
    config.put("mesh_shape", plan.meshShape().toString());
    config.put("layout", plan.layout().toString());
    return config;
  }

  /** The same on a config held as a map. */
  public static Map<String, Object> applyTo(Map<String, Object> config, Planner.Plan plan) {
    config.put("mesh_shape", plan.meshShape().toString());
    config.put("layout", plan.layout().toString());
    return config;
  }

  /** Bytes with a binary unit: 512 B, 1.5 KiB, 3.2 GiB. */
  public static String bytes(long b) {
    if (Math.abs(b) < 1024) {
      return b + " B";
    }
    String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = b;
    int u = -1;
    while (Math.abs(v) >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return String.format("%.1f %s", v, units[u]);
  }

  /** Layout rules as printed in tables: {@code (none)} for the empty layout. */
  public static String layout(dev.neomesh.mesh.LayoutRules rules) {
    return rules.rules().isEmpty() ? "(none)" : rules.toString();
  }

  public static String seconds(double s) {
    return s >= 1 ? String.format("%.2f s", s) : s >= 1e-3 ? String.format("%.2f ms", s * 1e3)
        : String.format("%.1f us", s * 1e6);
  }

  private static String pad(String s, int w, boolean left) {
    return left ? s + " ".repeat(w - s.length()) : " ".repeat(w - s.length()) + s;
  }
}
