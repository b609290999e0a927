package dev.neomesh.models.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.layout.Cost;
import dev.neomesh.layout.CostModel;
import dev.neomesh.layout.MachineConstants;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.train.LearningRateSchedule;
import dev.neomesh.models.train.TrainProgram;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The planner's memory under {@code parameter_precision: bfloat16}, on the training graph of
 * {@link MemoryEstimateTest}'s GPT on x:4 ({@code batch:x}): parameters 2 bytes an element instead of 4,
 * and a 4-byte float32 master an element with the optimizer state, held like Adam's two float32 slots:
 * replicated without ZeRO (the master's bytes are then those of the float32 parameters), sharded over
 * the batch axis under zero_stage 1 and 3 (half of the sharded slots' bytes, whatever the sharding).
 */
class ParameterPrecisionMemoryTest {
  static Cost.Memory memory(String precision, int stage) {
    GptConfig cfg = GptConfig.fromJson(MemoryEstimateTest.MODEL).withOverrides(Map.of("mesh_shape", "x:4", "layout",
        "batch:x", "zero_stage", String.valueOf(stage), "parameter_precision", precision));
    TrainProgram p = TrainProgram.build(new GptLanguageModel(cfg), cfg.seed(), cfg.trainBatchSize(), cfg.nCtx(), 1,
        LearningRateSchedule.constant(cfg.lr()), Main.optimizer(cfg));
    return new CostModel(p.graph(), CostModel.Options.adam(MachineConstants.DEFAULTS)
        .withOptimizerSlots(0).withFetches(List.of(p.loss())))
        .estimate(cfg.mesh(), cfg.layoutRules()).memory();
  }

  @Test
  void bf16ParametersCountTwoBytesAndAFourByteMasterWithTheOptimizerState() {
    long replicatedMasters = 0;
    for (int stage : new int[] {0, 1, 3}) {
      Cost.Memory f32 = memory("float32", stage);
      Cost.Memory bf16 = memory("bfloat16", stage);
      String at = "zero_stage " + stage + ": " + f32 + " against " + bf16;
      assertEquals(f32.parameters(), 2 * bf16.parameters(), at);
      // Adam's m and v, 8 bytes an element, and the master, 4, all on the same view
      assertEquals(f32.optimizer() * 3 / 2, bf16.optimizer(), at);
      long masters = bf16.optimizer() - f32.optimizer();
      if (stage == 0) {
        assertEquals(f32.parameters(), masters, "replicated masters: " + at);
        replicatedMasters = masters;
      } else {
        assertTrue(masters < replicatedMasters / 2, "masters sharded over x:4: " + at);
      }
      if (stage == 3) {
        assertEquals(f32.parameters(), masters, "masters sharded like stage 3's parameters: " + at);
      }
    }
  }
}
