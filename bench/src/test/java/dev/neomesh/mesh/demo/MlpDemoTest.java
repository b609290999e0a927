package dev.neomesh.mesh.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.LayoutException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The demo MLP trains through the same losses on every mesh and every valid layout as on one
 * device, the losses fall, and an invalid layout is refused with the layout's message.
 */
class MlpDemoTest {
  static final int STEPS = 4;
  static final long SEED = 3;
  static final List<String> DIMS = List.of("batch", "io", "hidden", "out");

  static List<Double> reference;

  @BeforeAll
  static void singleDevice() {
    reference = MlpDemo.train(MlpDemo.Config.of("x:1", "", STEPS, SEED)).losses();
  }

  /** Every assignment of the four dims to no axis or one of {@code axes}, valid or not. */
  static List<String> allLayouts(List<String> axes) {
    List<String> out = new ArrayList<>();
    int choices = axes.size() + 1;
    int total = (int) Math.pow(choices, DIMS.size());
    for (int code = 0; code < total; code++) {
      List<String> rules = new ArrayList<>();
      int c = code;
      for (String dim : DIMS) {
        int k = c % choices;
        c /= choices;
        if (k > 0) {
          rules.add(dim + ":" + axes.get(k - 1));
        }
      }
      out.add(String.join(",", rules));
    }
    return out;
  }

  /**
   * Valid on a mesh whose axes all divide every size: no tensor of the program splits two dims on
   * one axis. The dim sets that meet in one tensor (an einsum's inputs included) are
   * {batch, io, hidden} and {batch, hidden, out}; io and out never meet.
   */
  static boolean valid(String layout) {
    for (List<String> group : List.of(List.of("batch", "io", "hidden"), List.of("batch", "hidden", "out"))) {
      List<String> used = new ArrayList<>();
      for (String rule : layout.isEmpty() ? new String[0] : layout.split(",")) {
        String[] p = rule.split(":");
        if (group.contains(p[0])) {
          if (used.contains(p[1])) {
            return false;
          }
          used.add(p[1]);
        }
      }
    }
    return true;
  }

  static void assertSameLosses(String mesh, String layout) {
    List<Double> got = MlpDemo.train(MlpDemo.Config.of(mesh, layout, STEPS, SEED)).losses();
    assertEquals(reference.size(), got.size());
    for (int i = 0; i < got.size(); i++) {
      double want = reference.get(i);
      assertEquals(want, got.get(i), 1e-5 * Math.abs(want),
          "step " + (i + 1) + " on mesh " + mesh + " layout \"" + layout + "\"");
    }
  }

  @Test
  void lossesFall() {
    List<Double> losses = MlpDemo.train(MlpDemo.Config.of("x:1", "", 30, SEED)).losses();
    double first = (losses.get(0) + losses.get(1) + losses.get(2)) / 3;
    double last = (losses.get(27) + losses.get(28) + losses.get(29)) / 3;
    assertTrue(last < 0.7 * first, "losses " + losses);
  }

  @Test
  void everyValidLayoutOnTwoByTwoMatchesOneDevice() {
    int validCount = 0;
    for (String layout : allLayouts(List.of("x", "y"))) {
      if (valid(layout)) {
        validCount++;
        assertSameLosses("x:2,y:2", layout);
      } else {
        String l = layout;
        assertThrows(LayoutException.class, () -> MlpDemo.train(MlpDemo.Config.of("x:2,y:2", l, 1, SEED)),
            "layout " + layout + " should be invalid");
      }
    }
    assertEquals(27, validCount);
  }

  @Test
  void representativeLayoutsOnEachMeshMatchOneDevice() {
    List<String> layouts = List.of("", "batch:x", "hidden:x", "io:x", "out:x", "io:x,out:x",
        "batch:x,hidden:y", "hidden:x,batch:y", "batch:x,io:y,out:y", "io:x,out:x,hidden:y", "hidden:y,io:x");
    for (String mesh : List.of("x:1", "x:4", "x:2,y:4")) {
      for (String layout : layouts) {
        assertSameLosses(mesh, layout);
      }
    }
  }

  @Test
  void invalidLayoutRaisesLayoutException() {
    LayoutException twoOnOneAxis = assertThrows(LayoutException.class,
        () -> MlpDemo.train(MlpDemo.Config.of("x:2,y:4", "batch:x,hidden:x", 1, SEED)));
    assertTrue(twoOnOneAxis.getMessage().contains("\"batch\" and \"hidden\" are both split over mesh axis \"x\""),
        twoOnOneAxis.getMessage());
    LayoutException notDivisible = assertThrows(LayoutException.class,
        () -> MlpDemo.train(MlpDemo.Config.of("x:3", "batch:x", 1, SEED)));
    assertTrue(notDivisible.getMessage().contains("not divisible by mesh axis \"x\" (size 3)"),
        notDivisible.getMessage());
  }

  @Test
  void commandLinePrintsJsonLinesAndRefusesBadInput() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int rc = MeshDemo.run(new String[] {"--mesh_shape", "x:2,y:2", "--layout=batch:x,hidden:y", "--steps", "3",
        "--seed", String.valueOf(SEED)}, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    assertEquals(0, rc, err.toString(StandardCharsets.UTF_8));
    String[] lines = out.toString(StandardCharsets.UTF_8).strip().split("\n");
    assertEquals(4, lines.length);
    for (int step = 1; step <= 3; step++) {
      String prefix = "{\"step\":" + step + ",\"loss\":";
      String line = lines[step - 1];
      assertTrue(line.startsWith(prefix) && line.endsWith("}"), line);
      double loss = Double.parseDouble(line.substring(prefix.length(), line.length() - 1));
      assertEquals(reference.get(step - 1), loss, 1e-5 * reference.get(step - 1), line);
    }
    assertTrue(lines[3].startsWith("{\"counters\":{\"allreduce[x]\":{\"count\":3,"), lines[3]);

    err.reset();
    rc = MeshDemo.run(new String[] {"--mesh_shape", "x:2,y:4", "--layout", "batch:x,hidden:x"},
        new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
    assertEquals(1, rc);
    String message = err.toString(StandardCharsets.UTF_8);
    assertTrue(message.startsWith("mesh_demo: Invalid layout for tensor"), message);
    assertFalse(message.contains("\tat "), "no stack trace: " + message);

    err.reset();
    rc = MeshDemo.run(new String[] {"--stepz", "3"}, new PrintStream(new ByteArrayOutputStream()),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    assertEquals(2, rc);
    assertTrue(err.toString(StandardCharsets.UTF_8).startsWith("mesh_demo: \"--stepz\" is not a valid option"),
        err.toString(StandardCharsets.UTF_8));
  }
}
