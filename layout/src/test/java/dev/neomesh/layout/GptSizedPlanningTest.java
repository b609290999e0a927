package dev.neomesh.layout;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.neomesh.layout.bench.SmallTransformer;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.ir.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Planning speed at GPT-Neo's sizes: every config of /work/shared/gptneo-configs, as a stand-in
 * transformer with that config's dims (layers, batch, context, embd, heads, vocab; forward,
 * backward and Adam), plans on its own mesh and over every mesh shape of 256 devices in under 5 s.
 * (The same check on the real {@code Gpt.build} graph belongs in {@code tests/}, which sees models.)
 */
class GptSizedPlanningTest {
  static final Path CONFIGS = Path.of("/work/shared/gptneo-configs");

  static SmallTransformer.Sizes sizes(JsonNode c) {
    int embd = c.get("n_embd").asInt();
    int heads = c.get("n_head").asInt();
    return new SmallTransformer.Sizes(c.get("train_batch_size").asInt(), c.get("n_ctx").asInt(), embd, heads,
        embd / heads, 4 * embd, c.get("n_vocab").asInt(), c.get("n_layer").asInt());
  }

  @Test
  void everyConfigPlansInUnderFiveSeconds() throws IOException {
    Assumptions.assumeTrue(Files.isDirectory(CONFIGS), "no " + CONFIGS);
    List<Path> files;
    try (Stream<Path> s = Files.list(CONFIGS)) {
      files = s.filter(p -> p.toString().endsWith(".json")).sorted().toList();
    }
    ObjectMapper json = new ObjectMapper();
    for (Path f : files) {
      JsonNode c = json.readTree(f.toFile());
      SmallTransformer.Program p = SmallTransformer.transformer(sizes(c), DType.BFLOAT16, true);
      long t0 = System.nanoTime();
      CostModel model = new CostModel(p.graph(), CostModel.Options.adam(MachineConstants.DEFAULTS).withOptimizerSlots(0)
          );
      double compile = (System.nanoTime() - t0) / 1e9;
      MeshShape mesh = MeshShape.parse(c.get("mesh_shape").asText());
      t0 = System.nanoTime();
      Planner.Plan fixed = Planner.autoLayout(model, mesh, Long.MAX_VALUE);
      double fixedSeconds = (System.nanoTime() - t0) / 1e9;
      t0 = System.nanoTime();
      Planner.Plan searched = Planner.autoLayoutAndMeshShape(model, mesh.size(), Long.MAX_VALUE);
      double searchSeconds = (System.nanoTime() - t0) / 1e9;
      System.out.printf("%-28s ops %6d  compile %.2f s  fixed %s: %.2f s (%d leaves, %d pruned) -> %s"
              + "  | mesh search: %.2f s (%d leaves, %d pruned) -> %s %s%n", f.getFileName(), p.graph().ops().size(),
          compile, mesh, fixedSeconds, fixed.leaves(), fixed.pruned(), fixed.layout(), searchSeconds,
          searched.leaves(), searched.pruned(), searched.meshShape(), searched.layout());
      assertTrue(compile + fixedSeconds < 5, f + ": fixed-mesh planning took " + (compile + fixedSeconds) + " s");
      assertTrue(compile + searchSeconds < 5, f + ": mesh-shape planning took " + (compile + searchSeconds) + " s");
    }
  }
}
