package dev.neomesh.models.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.lower.LoweringOptions;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.mesh.lower.StepMemory;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.train.LearningRateSchedule;
import dev.neomesh.models.train.TrainProgram;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Recompute's cut of the activations by TensorFlow's allocation records (issue 14): an activation-bound
 * GPT (8 layers, n_embd 128, n_ctx 128, batch 8 on x:2, Adam with clipping and weight decay) trained
 * one traced step one op at a time, with and without recompute_grad, at ZeRO stages 0 and 3. The
 * activations' peak ({@link StepMemory#activations}: the buffers of the forward's ops and of the
 * recomputed copies) falls at least 3x; the step's peak falls too.
 */
class RecomputeMemoryTest {
  static final String MODEL = "{\"n_head\": 4, \"n_embd\": 128, \"n_layer\": 8, \"n_ctx\": 128, \"n_vocab\": 256,"
      + " \"train_batch_size\": 8, \"lr\": 1e-3, \"opt_name\": \"adam\", \"gradient_clipping\": 1.0,"
      + " \"weight_decay\": 0.01, \"model_path\": \"unused\", \"mesh_shape\": \"x:2\", \"layout\": \"batch:x\"}";

  /** The largest device's step peak and activation peak. */
  static long[] peaks(int stage, boolean recompute) {
    GptConfig cfg = GptConfig.fromJson(MODEL).withOverrides(Map.of("zero_stage", String.valueOf(stage),
        "recompute_grad", String.valueOf(recompute)));
    TrainProgram p = TrainProgram.build(new GptLanguageModel(cfg), cfg.seed(), cfg.trainBatchSize(), cfg.nCtx(), 1,
        LearningRateSchedule.constant(cfg.lr()), Main.optimizer(cfg));
    try (MeshRuntime rt = MeshRuntime.create(p.graph(), cfg.mesh(), cfg.layoutRules(),
        StepMemory.oneOpAtATime(cfg.mesh().size()), LoweringOptions.TRAINING)) {
      rt.initialize();
      int n = cfg.trainBatchSize() * cfg.nCtx();
      p.runStep(rt, 0, new int[n], new int[n], true);
      long step = StepMemory.of(rt.lastRunMetadata()).stream().mapToLong(StepMemory.Device::peak).max().orElseThrow();
      List<StepMemory.Device> act = StepMemory.activations(rt.lastRunMetadata(), rt.meshOpsOfNodes(), p.graph(),
          p.loss());
      return new long[] {step, act.stream().mapToLong(StepMemory.Device::peak).max().orElseThrow()};
    }
  }

  @Test
  void recomputeCutsTheActivationPeakAtLeastThreefold() {
    for (int stage : new int[] {0, 3}) {
      long[] stored = peaks(stage, false);
      long[] recomputed = peaks(stage, true);
      String line = String.format("stage %d: activations %d -> %d bytes (%.2fx), step peak %d -> %d", stage, stored[1],
          recomputed[1], stored[1] / (double) recomputed[1], stored[0], recomputed[0]);
      System.out.println(line);
      assertTrue(stored[1] >= 3 * recomputed[1], "recompute cuts the activations less than 3x: " + line);
      assertTrue(recomputed[0] < stored[0], "recompute lowers the step's peak: " + line);
    }
  }
}
