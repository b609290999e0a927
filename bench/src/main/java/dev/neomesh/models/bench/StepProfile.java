package dev.neomesh.models.bench;

import java.util.HashMap;
import java.util.Map;
import dev.neomesh.mesh.lower.MeshRuntime;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.RunMetadata;

/** Where a lowered program's time and ops go: one traced run's op time by type and slowest ops; op counts. */
final class StepProfile {
  private StepProfile() {}

  static void print(RunMetadata md, int top) {
    Map<String, long[]> byType = new HashMap<>();
    long total = 0;
    for (var dev : md.getStepStats().getDevStatsList()) {
      for (NodeExecStats n : dev.getNodeStatsList()) {
        String type = opType(n);
        long us = n.getAllEndRelMicros();
        byType.computeIfAbsent(type, k -> new long[2])[0] += us;
        byType.get(type)[1]++;
        total += us;
      }
    }
    System.out.printf("profile (one step, op time summed over devices: %.1f ms):%n", total / 1000.0);
    byType.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0])).limit(25)
        .forEach(e -> System.out.printf("  %-28s %8.2f ms  %5d ops%n", e.getKey(), e.getValue()[0] / 1000.0,
            e.getValue()[1]));
    System.out.println("slowest ops:");
    md.getStepStats().getDevStatsList().stream().flatMap(d -> d.getNodeStatsList().stream())
        .sorted((a, b) -> Long.compare(b.getAllEndRelMicros(), a.getAllEndRelMicros())).limit(top)
        .forEach(n -> System.out.printf("  %8.2f ms  %s%n", n.getAllEndRelMicros() / 1000.0, n.getTimelineLabel()));
  }

  /**
   * The TensorFlow ops one traced step ran, counted from its step statistics: the graph after
   * TensorFlow's optimizer (Grappler), the sends and receives it added, and none of the graph's ops
   * the step does not need (initializers, checkpoint ops). Prints the total and the {@code top} most
   * frequent op types.
   */
  static long executedOps(RunMetadata md, int top) {
    Map<String, Integer> byType = new HashMap<>();
    long n = 0;
    for (var dev : md.getStepStats().getDevStatsList()) {
      for (NodeExecStats s : dev.getNodeStatsList()) {
        byType.merge(opType(s), 1, Integer::sum);
        n++;
      }
    }
    System.out.printf("TensorFlow ops run per step: %d (after TensorFlow's graph optimizer)%n", n);
    byType.entrySet().stream().sorted((a, b) -> b.getValue() - a.getValue()).limit(top)
        .forEach(e -> System.out.printf("  %-28s %5d%n", e.getKey(), e.getValue()));
    return n;
  }

  /** The op type of one node's statistics (its timeline label reads "name = Type(inputs)"), else its name. */
  private static String opType(NodeExecStats n) {
    return n.getTimelineLabel().contains("= ") ? n.getTimelineLabel().replaceAll(".*= (\\w+).*", "$1")
        : n.getNodeName();
  }

  /** The lowered graph's TensorFlow op count; with {@code opTypes}, prints its 20 most frequent op types. */
  static long countOps(MeshRuntime rt, boolean opTypes) {
    Map<String, Integer> byType = new HashMap<>();
    var it = rt.graph().operations();
    long n = 0;
    while (it.hasNext()) {
      byType.merge(it.next().type(), 1, Integer::sum);
      n++;
    }
    if (opTypes) {
      byType.entrySet().stream().sorted((a, b) -> b.getValue() - a.getValue()).limit(20)
          .forEach(e -> System.out.printf("  %-24s %5d%n", e.getKey(), e.getValue()));
    }
    return n;
  }
}
