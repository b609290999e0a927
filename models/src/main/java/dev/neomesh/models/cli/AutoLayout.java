package dev.neomesh.models.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.neomesh.layout.Cost;
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
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
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

  /**
   * What the planner may change besides the layout, never the model or the batch: ZeRO's stage
   * ({@code zero_stage}), recomputing the blocks' activations ({@code recompute_grad}) and
   * microbatching ({@code tokens_per_mb_per_replica}, null for none).
   */
  public record MemorySettings(int zeroStage, boolean recompute, Integer tokensPerMb) {
    static MemorySettings of(GptConfig cfg) {
      return new MemorySettings(cfg.zeroStage(), cfg.recomputeGrad(), GptConfig.orNull(cfg.tokensPerMbPerReplica()));
    }

    /** The config's keys these settings set ({@code "null"} removes tokens_per_mb_per_replica). */
    public java.util.Map<String, String> keys() {
      return java.util.Map.of("zero_stage", String.valueOf(zeroStage), "recompute_grad", String.valueOf(recompute),
          "tokens_per_mb_per_replica", tokensPerMb == null ? "null" : String.valueOf(tokensPerMb));
    }

    GptConfig applyTo(GptConfig cfg) {
      return cfg.withOverrides(keys());
    }

    @Override
    public String toString() {
      return "zero_stage " + zeroStage + ", recompute_grad " + recompute + ", tokens_per_mb_per_replica "
          + (tokensPerMb == null ? "none" : tokensPerMb);
    }
  }

  /**
   * The plan and its report (GPT-Neo's selection lines, candidates table, per-rule collectives, and
   * the memory settings chosen beside the config's own), for the chosen {@code settings};
   * {@code tried}: every setting planned to choose them (each its own graph), in the order planned,
   * with its estimated seconds per step, or null where no layout fit.
   */
  public record Result(Planner.Plan plan, String report, int microbatches, MeshGraph graph, MemorySettings settings,
                       MemorySettings written, Map<MemorySettings, Double> tried) {
    public int settingsTried() {
      return tried.size();
    }

    public int graphOps() {
      return graph.ops().size();
    }

    public String layout() {
      return plan.layout().toString();
    }

    public String meshShape() {
      return plan.meshShape().toString();
    }

    /** Estimated seconds per step: one microbatch's estimate times the microbatches. */
    public double stepSeconds() {
      return plan.best().seconds() * microbatches;
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
   * count), choosing the memory settings too ({@link #plan(GptConfig, MeshShape, boolean, long,
   * MachineConstants, int)}). Step times are estimated for {@code machine}.
   */
  public static Result plan(GptConfig cfg, MeshShape mesh, boolean searchMesh, long budgetBytes,
                            MachineConstants machine) {
    return plan(cfg, mesh, searchMesh, budgetBytes, machine, 0);
  }

  /**
   * The layout and memory settings of least estimated step time that fit {@code budgetBytes} per
   * device, for a mesh spread over processes of {@code devicesPerTask} devices each (0: one process).
   * The config as written is planned first. If it fits, only settings that could be faster are
   * tried (without recompute, without microbatching). If not, ZeRO stages 0, 2 and 3, each without
   * and with recompute, without microbatching (stage 1 saves less than 2 for the same bytes moved, so
   * it is not tried), and the fastest that fits wins; failing those, the settings that came closest
   * with the fewest microbatches that fit (a binary search over halves, quarters, ... of each
   * replica's rows, since fewer rows never take more memory), then halved again while that makes the
   * estimated step faster (a smaller microbatch can fit a faster layout). Of every setting planned
   * that fits, the fastest wins. A ZeRO stage counts only where the plan splits {@code batch} over an
   * axis of more than one device (what the trainer accepts). When nothing fits, the error names the
   * closest plan, its settings, what was tried and what to change.
   */
  public static Result plan(GptConfig cfg, MeshShape mesh, boolean searchMesh, long budgetBytes,
                            MachineConstants machine, int devicesPerTask) {
    MemorySettings written = MemorySettings.of(cfg);
    Map<MemorySettings, Attempt> planned = new LinkedHashMap<>(); // each setting planned once, in order
    Function<MemorySettings, Result> attempt = ms -> planned.computeIfAbsent(ms, m ->
        attempt(m.applyTo(cfg), mesh, searchMesh, budgetBytes, machine, devicesPerTask, m, written)).result();
    boolean writtenFits = attempt.apply(written) != null;
    List<MemorySettings> next = new ArrayList<>();
    if (writtenFits) {
      if (written.recompute()) {
        next.add(new MemorySettings(written.zeroStage(), false, written.tokensPerMb()));
      }
      if (written.tokensPerMb() != null) {
        next.add(new MemorySettings(written.zeroStage(), written.recompute(), null));
        next.add(new MemorySettings(written.zeroStage(), false, null));
      }
    } else {
      for (boolean recompute : new boolean[] {false, true}) {
        for (int stage : new int[] {0, 2, 3}) {
          next.add(new MemorySettings(stage, recompute, null));
        }
      }
    }
    for (MemorySettings ms : new LinkedHashSet<>(next)) {
      if (!ms.equals(written)) {
        attempt.apply(ms);
      }
    }
    if (planned.values().stream().allMatch(a -> a.result() == null)) { // microbatches for the closest settings
      Attempt leanest = planned.values().stream().filter(a -> a.closest() != null && a.settings().tokensPerMb() == null)
          .min(Comparator.comparingLong(a -> a.closest().memory().total())).orElse(null);
      int replicas = Microbatching.replicas(cfg.mesh(), cfg.layoutRules());
      int perReplica = cfg.trainBatchSize() / Math.max(1, replicas);
      List<Integer> rows = new ArrayList<>(); // rows per microbatch, most first
      for (int r = perReplica / 2; r >= 1; r /= 2) {
        if (perReplica % r == 0) {
          rows.add(r);
        }
      }
      // fewer rows never need more memory: a binary search for the most rows (fewest microbatches) that fit
      Result mostRows = null;
      int lo = 0;
      int hi = rows.size() - 1;
      while (leanest != null && lo <= hi) {
        int mid = (lo + hi) / 2;
        Result r = attempt.apply(withRows(leanest.settings(), rows.get(mid), cfg));
        if (r != null) {
          mostRows = r;
          hi = mid - 1;
        } else {
          lo = mid + 1;
        }
      }
      // fewer rows fit too, and can be faster: the most rows that fit may need a slower layout to fit
      // (gpt3_13B_256 on TPU v3: 8192 tokens a microbatch fit at 102 s a step, 4096 at 89.4 s); go on
      // halving while the step gets faster
      Result previous = mostRows;
      for (int i = lo + 1; previous != null && i < rows.size(); i++) {
        Result r = attempt.apply(withRows(leanest.settings(), rows.get(i), cfg));
        if (r == null || r.stepSeconds() >= previous.stepSeconds()) {
          break;
        }
        previous = r;
      }
    }
    List<Attempt> tried = List.copyOf(planned.values());
    Result best = null;
    for (Attempt a : tried) { // the fastest of all that fit, the binary search's visits included
      best = faster(best, a.result());
    }
    String triedText = tried.stream().map(Attempt::describe).collect(Collectors.joining("; "));
    if (best == null) {
      Attempt closest = tried.stream().filter(a -> a.closest() != null)
          .min(Comparator.comparingLong(a -> a.closest().memory().total())).orElse(null);
      if (closest == null) {
        throw new NeomeshException("No layout can lower this graph on mesh " + mesh + " (tried " + triedText + ")");
      }
      throw new NeomeshException(closest.failure().getMessage().replace(" Raise the budget,", " That is with "
          + closest.settings() + " (tried " + triedText + "). Raise the budget,"));
    }
    Map<MemorySettings, Double> times = new LinkedHashMap<>();
    tried.forEach(a -> times.put(a.settings(), a.result() == null ? null : a.result().stepSeconds()));
    return new Result(best.plan(), best.report() + settingsReport(best, triedText), best.microbatches(), best.graph(),
        best.settings(), written, java.util.Collections.unmodifiableMap(times));
  }

  private static MemorySettings withRows(MemorySettings s, int rows, GptConfig cfg) {
    return new MemorySettings(s.zeroStage(), s.recompute(), rows * cfg.nCtx());
  }

  private static Result faster(Result a, Result b) {
    return a == null ? b : b == null ? a : b.stepSeconds() < a.stepSeconds() ? b : a;
  }

  /** One planning of the config under {@code settings}: its result when something fits, else the planner's miss. */
  private record Attempt(MemorySettings settings, Result result, Planner.NoLayoutFits failure) {
    Cost closest() {
      return failure == null ? null : failure.closest();
    }

    String describe() {
      return settings + ": " + (result != null ? PlanReport.bytes(result.plan().best().memory().total())
          + String.format(Locale.ROOT, ", %.3g s/step", result.stepSeconds())
          : failure != null ? PlanReport.bytes(closest().memory().total()) + " at the closest"
          : "the fastest plan does not split batch");
    }
  }

  private static Attempt attempt(GptConfig cfg, MeshShape mesh, boolean searchMesh, long budgetBytes,
      MachineConstants machine, int devicesPerTask, MemorySettings settings, MemorySettings written) {
    int microbatches = Microbatching.count(GptConfig.orNull(cfg.tokensPerMbPerReplica()), cfg.nCtx(),
        cfg.trainBatchSize(), Microbatching.replicas(cfg.mesh(), cfg.layoutRules()));
    TrainProgram program = TrainProgram.build(new GptLanguageModel(cfg), cfg.seed(), cfg.trainBatchSize(), cfg.nCtx(),
        microbatches, LearningRateSchedule.constant(1e-3), Main.optimizer(cfg));
    // the optimizer's slots are variables of this graph already: count them once, as variables
    CostModel model = new CostModel(program.graph(),
        CostModel.Options.adam(machine).withOptimizerSlots(0).withFetches(List.of(program.loss()))
            .withDevicesPerTask(devicesPerTask));
    Planner.Plan plan;
    try {
      plan = searchMesh ? Planner.autoLayoutAndMeshShape(model, mesh.size(), budgetBytes)
          : Planner.autoLayout(model, mesh, budgetBytes);
    } catch (Planner.NoLayoutFits e) {
      return new Attempt(settings, null, e);
    }
    if (settings.zeroStage() > 0 && !zeroApplies(plan)) {
      return new Attempt(settings, null, null);
    }
    String note = microbatches > 1 ? String.format("(one of %d microbatches of %d examples per step, as "
        + "tokens_per_mb_per_replica sets under the config's own layout)%n", microbatches,
        cfg.trainBatchSize() / microbatches) : "";
    return new Attempt(settings, new Result(plan, PlanReport.render(plan, model) + note, microbatches,
        program.graph(), settings, written, Map.of()), null);
  }

  /**
   * Whether the plan splits batch over a mesh axis of more than one device (ZeRO's axis); the search
   * itself keeps only layouts whose sharded views are valid (their followers share no axis).
   */
  static boolean zeroApplies(Planner.Plan plan) {
    return Microbatching.replicas(plan.meshShape(), plan.layout()) > 1;
  }

  /** The chosen memory settings beside the config's own, the plan's memory split, and every setting tried. */
  private static String settingsReport(Result r, String tried) {
    MemorySettings c = r.settings();
    MemorySettings w = r.written();
    Cost.Memory m = r.plan().best().memory();
    return String.format(Locale.ROOT, "Memory settings (chosen; the config's own in brackets):%n"
        + "  zero_stage %d (%d), recompute_grad %s (%s), tokens_per_mb_per_replica %s (%s)%n"
        + "  per device: %s (%s parameters, %s gradients, %s optimizer, %s activations); estimated %.3g s per step%n"
        + "  tried: %s%n", c.zeroStage(), w.zeroStage(), c.recompute(), w.recompute(),
        c.tokensPerMb() == null ? "none" : c.tokensPerMb(), w.tokensPerMb() == null ? "none" : w.tokensPerMb(),
        PlanReport.bytes(m.total()), PlanReport.bytes(m.parameters()), PlanReport.bytes(m.gradients()),
        PlanReport.bytes(m.optimizer()), PlanReport.bytes(m.activations()), r.stepSeconds(), tried);
  }

  /**
   * Writes {@code cfg}'s JSON with the chosen {@code mesh_shape} and {@code layout}, and the chosen
   * memory settings where they differ from the config's own, to {@code target}.
   */
  public static void writeConfig(GptConfig cfg, Result r, Path target) {
    ObjectMapper json = new ObjectMapper();
    try {
      ObjectNode node = (ObjectNode) json.readTree(cfg.json());
      PlanReport.applyTo(node, r.plan());
      MemorySettings ms = r.settings();
      if (!ms.equals(r.written())) {
        node.put("zero_stage", ms.zeroStage());
        node.put("recompute_grad", ms.recompute());
        if (ms.tokensPerMb() == null) {
          node.remove("tokens_per_mb_per_replica");
        } else {
          node.put("tokens_per_mb_per_replica", ms.tokensPerMb());
        }
      }
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
