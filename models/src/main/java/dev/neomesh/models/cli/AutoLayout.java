package dev.neomesh.models.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.neomesh.layout.CostModel;
import dev.neomesh.layout.MachineConstants;
import dev.neomesh.layout.PlanReport;
import dev.neomesh.layout.Planner;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.train.LearningRateSchedule;
import dev.neomesh.models.train.Microbatching;
import dev.neomesh.models.train.TrainProgram;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code --auto_layout} and {@code --auto_layout_and_mesh_shape}: the layout module's planner on
 * the training graph the trainer would build (model, gradients, clipping, optimizer slots), so the
 * memory it budgets is the memory a step needs. Needs the model config only, not its data.
 */
public final class AutoLayout {
  private AutoLayout() {}

  /** The plan and its report (GPT-Neo's selection lines, candidates table, per-rule collectives). */
  public record Result(Planner.Plan plan, String report, int microbatches, MeshGraph graph) {
    public int graphOps() {
      return graph.ops().size();
    }

    public String layout() {
      return plan.layout().toString();
    }

    public String meshShape() {
      return plan.meshShape().toString();
    }
  }

  /**
   * Where the command-line tools keep this machine's calibration: {@code $NEOMESH_CALIBRATION},
   * else {@code ~/.neomesh/calibration.json}. Only front ends read it; the planner takes the
   * constants as a value.
   */
  public static Path calibrationFile() {
    String env = System.getenv("NEOMESH_CALIBRATION");
    return env != null && !env.isBlank() ? Path.of(env) : Path.of(System.getProperty("user.home"), ".neomesh",
        "calibration.json");
  }

  /**
   * Plans {@code cfg} on {@code mesh} (or, with {@code searchMesh}, on every mesh of its device
   * count). The graph is one microbatch of the config's own microbatching
   * ({@code tokens_per_mb_per_replica} under its mesh_shape and layout), so activation memory is
   * what one microbatch keeps live. Step times are estimated for {@code machine}.
   */
  public static Result plan(GptConfig cfg, MeshShape mesh, boolean searchMesh, long budgetBytes,
                            MachineConstants machine) {
    return plan(cfg, mesh, searchMesh, budgetBytes, machine, 0);
  }

  /**
   * As {@link #plan(GptConfig, MeshShape, boolean, long, MachineConstants)} for a mesh spread over
   * processes of {@code devicesPerTask} devices each (0: one process): a collective whose group spans
   * two tasks is priced at the machine's cross-task (gRPC) rates.
   */
  public static Result plan(GptConfig cfg, MeshShape mesh, boolean searchMesh, long budgetBytes,
                            MachineConstants machine, int devicesPerTask) {
    int microbatches = Microbatching.count(GptConfig.orNull(cfg.tokensPerMbPerReplica()), cfg.nCtx(), cfg.trainBatchSize(),
        Microbatching.replicas(cfg.mesh(), cfg.layoutRules()));
    TrainProgram program = TrainProgram.build(new GptLanguageModel(cfg), cfg.seed(), cfg.trainBatchSize(), cfg.nCtx(),
        microbatches, LearningRateSchedule.constant(1e-3), Main.optimizer(cfg));
    // the optimizer's slots are variables of this graph already: count them once, as variables
    CostModel model = new CostModel(program.graph(),
        CostModel.Options.adam(machine).withOptimizerSlots(0).withFetches(List.of(program.loss()))
            .withDevicesPerTask(devicesPerTask));
    Planner.Plan plan = searchMesh ? Planner.autoLayoutAndMeshShape(model, mesh.size(), budgetBytes)
        : Planner.autoLayout(model, mesh, budgetBytes);
    String note = microbatches > 1 ? String.format("(one of %d microbatches of %d examples per step, as "
        + "tokens_per_mb_per_replica sets under the config's own layout)%n", microbatches,
        cfg.trainBatchSize() / microbatches) : "";
    return new Result(plan, PlanReport.render(plan, model) + note, microbatches, program.graph());
  }

  /** Writes {@code cfg}'s JSON with the chosen {@code mesh_shape} and {@code layout} to {@code target}. */
  public static void writeConfig(GptConfig cfg, Result r, Path target) {
    ObjectMapper json = new ObjectMapper();
    try {
      ObjectNode node = (ObjectNode) json.readTree(cfg.json());
      PlanReport.applyTo(node, r.plan());
      if (target.toAbsolutePath().getParent() != null) {
        Files.createDirectories(target.toAbsolutePath().getParent());
      }
      Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
      json.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), node);
      Files.move(tmp, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
          java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new NeomeshException("cannot write --write_config " + target + ": " + e.getMessage()
          + "; choose a writable path");
    }
  }

  private static final Pattern SIZE = Pattern.compile("([0-9.eE+]+)\\s*([KMGT]i?B|B)?");

  /** {@code 16GiB}, {@code 512MiB}, {@code 16GB}, {@code 8e9}: bytes. */
  public static long parseBytes(String text) {
    Matcher m = SIZE.matcher(text.trim());
    if (!m.matches()) {
      throw new NeomeshException("--memory_budget \"" + text + "\" is not a size: write e.g. 16GiB, 512MiB or 8e9");
    }
    double v = Double.parseDouble(m.group(1));
    String unit = m.group(2) == null ? "B" : m.group(2).toUpperCase(Locale.ROOT);
    int power = "BKMGT".indexOf(unit.charAt(0));
    double base = unit.contains("I") ? 1024 : 1000;
    return (long) (v * Math.pow(base, unit.equals("B") ? 0 : power));
  }
}
