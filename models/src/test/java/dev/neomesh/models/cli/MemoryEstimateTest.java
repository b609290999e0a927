package dev.neomesh.models.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.layout.CostModel;
import dev.neomesh.layout.MachineConstants;
import dev.neomesh.mesh.lower.LoweringOptions;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.mesh.lower.StepMemory;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.train.LearningRateSchedule;
import dev.neomesh.models.train.TrainProgram;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The planner's memory against TensorFlow's allocation records (issue 14): a scaled-down GPT-Neo
 * (4 layers, n_embd 128, n_ctx 64, batch 16, Adam with clipping) trained one step, with and without
 * recompute, at ZeRO stages 0 and 3 on x:4 ({@code batch:x}) and stage 2 on x:2,y:4
 * ({@code batch:x,heads:y}; stage 1 compiles to stage 2's step), two steps one op at a time: the cost model's
 * step peak ({@code Cost.Memory.stepPeak}: the step's live tensors beyond the variables) within 10% of
 * the largest device's recorded peak (the larger step's) under recompute and 12% with activations stored (+6.6 to +10.1%:
 * the model keeps the labels' one-hot and the k/v renames that TensorFlow frees earlier or aliases;
 * before the fixes below the stored runs were within 7.3%, TensorFlow's side inflated by the decay's
 * parameter copies). Before issue 14's
 * fixes recompute was 15-25% low: TensorFlow ran the optimizer's and the recomputed copies'
 * weight-only ops (the decay's copy, β·m, the copies' casts and stage-3 gathers) at the step's start
 * and held them through it, where the model, in creation order, has them at their use. The one
 * exception, allowed 20%: stage 3 under recompute, where the records put every device's gradient
 * shards of a weight on device 0 (between virtual CPUs a received part is the sender's buffer, and the
 * reduce-scatter's sum writes into it; the model counts each shard on its own device): -15%.
 * Recompute's estimate and record are both below the stored run's.
 */
class MemoryEstimateTest {
  static final String MODEL = "{\"n_head\": 8, \"n_embd\": 128, \"n_layer\": 4, \"n_ctx\": 64, \"n_vocab\": 256,"
      + " \"train_batch_size\": 16, \"lr\": 1e-3, \"opt_name\": \"adam\", \"gradient_clipping\": 1.0,"
      + " \"weight_decay\": 0.01, \"model_path\": \"unused\"}";

  record Peak(long estimated, long measured) {}

  static Peak peak(String mesh, String layout, int stage, boolean recompute) {
    GptConfig cfg = GptConfig.fromJson(MODEL).withOverrides(Map.of("mesh_shape", mesh, "layout", layout,
        "zero_stage", String.valueOf(stage), "recompute_grad", String.valueOf(recompute)));
    TrainProgram p = TrainProgram.build(new GptLanguageModel(cfg), cfg.seed(), cfg.trainBatchSize(), cfg.nCtx(), 1,
        LearningRateSchedule.constant(cfg.lr()), Main.optimizer(cfg));
    long estimated = new CostModel(p.graph(), CostModel.Options.adam(MachineConstants.DEFAULTS).withOptimizerSlots(0)
        .withFetches(List.of(p.loss()))).estimate(cfg.mesh(), cfg.layoutRules()).memory().stepPeak();
    try (MeshRuntime rt = MeshRuntime.create(p.graph(), cfg.mesh(), cfg.layoutRules(),
        StepMemory.oneOpAtATime(cfg.mesh().size()), LoweringOptions.TRAINING)) {
      rt.initialize();
      int n = cfg.trainBatchSize() * cfg.nCtx();
      // the larger of two steps' records: one op at a time, the devices' executors still interleave by
      // timing, and a step's peak varies by up to 3.5% (a budget must hold the larger)
      long measured = 0;
      for (int step = 0; step < 2; step++) {
        p.runStep(rt, step, new int[n], new int[n], true);
        measured = Math.max(measured, StepMemory.of(rt.lastRunMetadata()).stream().mapToLong(StepMemory.Device::peak)
            .max().orElseThrow());
      }
      return new Peak(estimated, measured);
    }
  }

  @Test
  void stepPeakNearTensorFlowsRecordsForEveryStageWithAndWithoutRecompute() {
    List<String> misses = new ArrayList<>();
    // stages 1 and 2 compile to the same step; each mesh takes data parallelism and a sharded stage
    for (String[] ml : new String[][] {{"x:4", "batch:x", "0", "3"}, {"x:2,y:4", "batch:x,heads:y", "2"}}) {
      for (int k = 2; k < ml.length; k++) {
        int stage = Integer.parseInt(ml[k]);
        Peak stored = null;
        for (boolean recompute : new boolean[] {false, true}) {
          Peak pk = peak(ml[0], ml[1], stage, recompute);
          double err = (pk.estimated() - pk.measured()) / (double) pk.measured();
          String line = String.format("%s %s stage %d recompute %s: estimated %d, TensorFlow %d (%+.1f%%)", ml[0],
              ml[1], stage, recompute, pk.estimated(), pk.measured(), 100 * err);
          System.out.println(line);
          if (Math.abs(err) > (recompute ? (stage == 3 ? 0.20 : 0.10) : 0.12)) {
            misses.add(line);
          }
          if (recompute) {
            assertTrue(pk.estimated() < stored.estimated() && pk.measured() < stored.measured(),
                "recompute needs less: " + line + " against " + stored);
          }
          stored = pk;
        }
      }
    }
    assertTrue(misses.isEmpty(), "beyond 10% under recompute (20% at stage 3), 12% stored: " + misses);
  }
}
