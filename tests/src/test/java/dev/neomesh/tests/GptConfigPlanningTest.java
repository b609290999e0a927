package dev.neomesh.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.neomesh.layout.CostModel;
import dev.neomesh.layout.LayoutValidator;
import dev.neomesh.layout.Planner;
import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.Gradients;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.gpt.Gpt;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Issue 5's planning-speed check on the real thing: every GPT-Neo config shipped in
 * {@code ../shared/gptneo-configs} (meshes of 256 devices) is built as neomesh's own GPT training
 * graph and planned in under 5 seconds, with and without the mesh-shape search, and the chosen
 * layout is valid for the graph.
 */
class GptConfigPlanningTest {
  /** Surefire runs in the module folder ({@code tests/}); {@code ../shared} sits beside the repository. */
  static Path configs() {
    return Path.of(System.getProperty("user.dir")).resolve("../../shared/gptneo-configs").normalize();
  }

  @TestFactory
  Stream<DynamicTest> everyShippedConfigPlansQuickly() throws IOException {
    Path dir = configs();
    assumeTrue(Files.isDirectory(dir), "skipped: " + dir + " is absent (GPT-Neo's configs live in ../shared)");
    List<Path> files;
    try (Stream<Path> s = Files.list(dir)) {
      files = s.filter(p -> p.toString().endsWith(".json")).sorted().toList();
    }
    assertTrue(files.size() >= 10, "expected GPT-Neo's 10 shipped configs in " + dir);
    return files.stream().map(f -> DynamicTest.dynamicTest(f.getFileName().toString(), () -> plan(f)));
  }

  private static void plan(Path file) {
    GptConfig cfg = GptConfig.load(file);
    long t0 = System.nanoTime();
    MeshGraph g = new MeshGraph(1);
    MeshOps m = new MeshOps(g);
    Shape tokens = Shape.of(new Dim("batch", cfg.trainBatchSize()), new Dim("sequence", cfg.nCtx()));
    MeshTensor x = m.importTensor("tokens", tokens, DType.INT32);
    MeshTensor y = m.importTensor("labels", tokens, DType.INT32);
    Gpt gpt = Gpt.build(m, cfg, x, y, true);
    Gradients.of(gpt.loss(), gpt.parameters());
    CostModel model = new CostModel(g, CostModel.Options.adam().withFetches(List.of(gpt.loss())));
    double build = (System.nanoTime() - t0) / 1e9;
    MeshShape mesh = MeshShape.parse(cfg.meshShape());
    assertEquals(256, mesh.size(), file + ": GPT-Neo's configs are for 256 cores");

    long t1 = System.nanoTime();
    Planner.Plan fixed = Planner.autoLayout(model, mesh, Long.MAX_VALUE);
    double fixedSeconds = (System.nanoTime() - t1) / 1e9;
    long t2 = System.nanoTime();
    Planner.Plan searched = Planner.autoLayoutAndMeshShape(model, mesh.size(), Long.MAX_VALUE);
    double searchSeconds = (System.nanoTime() - t2) / 1e9;

    System.out.printf("%s: %d ops, graph %.2f s, auto_layout %.2f s -> %s, with mesh search %.2f s -> %s %s%n",
        file.getFileName(), g.ops().size(), build, fixedSeconds, fixed.layout(), searchSeconds,
        searched.meshShape(), searched.layout());
    assertTrue(fixedSeconds < 5, file + ": auto_layout took " + fixedSeconds + " s");
    assertTrue(searchSeconds < 5, file + ": auto_layout_and_mesh_shape took " + searchSeconds + " s");
    assertEquals(List.of(), LayoutValidator.validate(g, mesh, fixed.layout()), file + ": chosen layout is invalid");
    assertEquals(List.of(), LayoutValidator.validate(g, searched.meshShape(), searched.layout()),
        file + ": chosen mesh and layout are invalid");
  }
}
