package dev.neomesh.layout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.neomesh.layout.bench.SmallTransformer;
import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PlannerTest {
  static final SmallTransformer.Program TF = SmallTransformer.transformer(SmallTransformer.Sizes.TINY, DType.FLOAT32,
      true);

  static CostModel model(SmallTransformer.Program p) {
    return new CostModel(p.graph(), CostModel.Options.adam(MachineConstants.DEFAULTS).withOptimizerSlots(0)
        );
  }

  @Test
  void meshShapesCoverEveryFactorisationIntoOneToThreeAxes() {
    assertEquals(List.of("x:12", "x:6,y:2", "x:4,y:3", "x:3,y:2,z:2"),
        Planner.meshShapes(12).stream().map(MeshShape::toString).toList());
    assertEquals(List.of("x:8", "x:4,y:2", "x:2,y:2,z:2"),
        Planner.meshShapes(8).stream().map(MeshShape::toString).toList());
    assertEquals(10, Planner.meshShapes(256).size());
    assertEquals(List.of("x:1"), Planner.meshShapes(1).stream().map(MeshShape::toString).toList());
  }

  @Test
  void candidatesAreExactlyTheValidAssignments() {
    CostModel m = model(TF);
    MeshShape mesh = MeshShape.parse("x:2,y:4");
    List<LayoutRules> cands = Planner.candidates(m, mesh);
    // brute force over every name -> {none, x, y}: the valid ones are the candidates
    List<String> names = m.g.dimNames;
    int valid = 0;
    int total = (int) Math.pow(3, names.size());
    for (int code = 0; code < total; code++) {
      int c = code;
      StringBuilder sb = new StringBuilder();
      for (String n : names) {
        int a = c % 3;
        c /= 3;
        if (a > 0) {
          sb.append(sb.length() > 0 ? "," : "").append(n).append(a == 1 ? ":x" : ":y");
        }
      }
      if (LayoutValidator.validate(TF.graph(), mesh, LayoutRules.parse(sb.toString())).isEmpty()) {
        valid++;
      }
    }
    assertEquals(valid, cands.size());
  }

  @Test
  void planIsTheFastestCandidateThatFits() {
    CostModel m = model(TF);
    MeshShape mesh = MeshShape.parse("x:2,y:4");
    Cost brute = Planner.candidates(m, mesh).stream().map(r -> m.estimate(mesh, r))
        .min(Comparator.comparingDouble(Cost::seconds)).orElseThrow();
    Planner.Plan plan = Planner.autoLayout(m, mesh, Long.MAX_VALUE);
    assertEquals(brute.seconds(), plan.best().seconds(), 1e-12);
    // a budget below the fastest layout's memory forces a smaller-memory layout
    long tight = plan.best().memory().total() - 1;
    Planner.Plan small = Planner.autoLayout(m, mesh, tight);
    assertTrue(small.best().memory().total() <= tight);
    assertTrue(small.best().seconds() >= plan.best().seconds());
  }

  @Test
  void impossibleBudgetSaysWhatIsClosestAndByHowMuch() {
    CostModel m = model(TF);
    NeomeshException e = assertThrows(NeomeshException.class,
        () -> Planner.autoLayoutAndMeshShape(m, 8, 1024));
    assertTrue(e.getMessage().contains("No layout fits the memory budget of 1.0 KiB"), e.getMessage());
    assertTrue(e.getMessage().contains("over"), e.getMessage());
    assertTrue(e.getMessage().contains("The closest is mesh"), e.getMessage());
  }

  @Test
  void reportHasGptNeoLinesTableAndPerRuleCollectives() {
    CostModel m = model(SmallTransformer.transformer(new SmallTransformer.Sizes(64, 64, 256, 8, 32, 1024, 512, 2),
        DType.FLOAT32, true));
    Planner.Plan plan = Planner.autoLayoutAndMeshShape(m, 8, Long.MAX_VALUE);
    String text = PlanReport.render(plan, m);
    assertTrue(text.startsWith("Auto-selected layout:\n" + plan.layout() + "\nAuto-selected mesh shape:\n"
        + plan.meshShape() + "\n"), text);
    assertTrue(text.contains("| mesh "), text);
    assertFalse(plan.layout().rules().isEmpty(), text);
    for (LayoutRules.Rule r : plan.layout().rules()) {
      assertTrue(text.contains("  " + r), text);
    }
    Planner.Plan fixed = Planner.autoLayout(m, MeshShape.parse("x:4"), Long.MAX_VALUE);
    assertFalse(PlanReport.selection(fixed).contains("mesh shape"));
    System.out.println(text);
  }

  @Test
  void configGetsTheChosenMeshShapeAndLayout() throws Exception {
    Planner.Plan plan = Planner.autoLayoutAndMeshShape(model(TF), 8, Long.MAX_VALUE);
    ObjectNode config = (ObjectNode) new ObjectMapper().readTree(
        "{\"n_embd\": 8, \"mesh_shape\": \"x:8\", \"layout\": \"batch:x\"}");
    PlanReport.applyTo(config, plan);
    assertEquals(plan.meshShape().toString(), config.get("mesh_shape").asText());
    assertEquals(plan.layout().toString(), config.get("layout").asText());
    assertEquals(8, config.get("n_embd").asInt());
    Map<String, Object> map = new HashMap<>(Map.of("mesh_shape", "x:8"));
    PlanReport.applyTo(map, plan);
    assertEquals(plan.layout().toString(), map.get("layout"));
  }

  @Test
  void validatorReportsEveryViolation() {
    MeshGraph g = new MeshGraph();
    MeshOps m = new MeshOps(g);
    Dim a = new Dim("a", 6);
    Dim b = new Dim("b", 4);
    MeshTensor x = m.importTensor("x", Shape.of(a, b), DType.FLOAT32);
    MeshTensor y = m.importTensor("y", Shape.of(b), DType.FLOAT32);
    m.slice(m.einsum(List.of(x, y), Shape.of(a)), "a", 0, 2);
    List<LayoutValidator.Violation> v = LayoutValidator.validate(g, MeshShape.parse("x:4"),
        LayoutRules.parse("a:x,b:x"));
    // x: a not divisible by 4 (then b takes the axis), y fine, the einsum union same as x, the einsum output a,
    // the slice input and output a, and the slice op itself
    assertTrue(v.stream().anyMatch(e -> e.dim().equals("a") && e.rule().equals("a:x")
        && e.message().contains("not divisible")));
    assertTrue(v.stream().anyMatch(e -> e.tensor().startsWith("slice") && e.message().contains("unsplit")));
    assertTrue(v.size() >= 5, v.toString());
    List<LayoutValidator.Violation> shared = LayoutValidator.validate(g, MeshShape.parse("x:2"),
        LayoutRules.parse("a:x,b:x"));
    assertTrue(shared.stream().anyMatch(e -> e.message().contains("both split") && e.tensor().contains("x")));
    assertTrue(shared.stream().anyMatch(e -> e.tensor().contains("union")));
    NeomeshException e = assertThrows(NeomeshException.class,
        () -> LayoutValidator.check(g, MeshShape.parse("x:2"), LayoutRules.parse("a:x,b:x")));
    assertTrue(e.getMessage().contains("violation"), e.getMessage());
  }
}
