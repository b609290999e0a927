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
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The planner's memory against TensorFlow's allocation records (issue 14): a scaled-down GPT-Neo
 * (4 layers, n_embd 128, n_ctx 64, batch 16, Adam with clipping) trained three steps one op at a time,
 * with and without recompute, at ZeRO stages 0, 2 and 3 (stage 1 compiles to stage 2's step) on x:4
 * ({@code batch:x}) and x:2,y:4 ({@code batch:x,heads:y}). The cost model's step peak
 * ({@code Cost.Memory.stepPeak}: the step's live tensors beyond the variables, counted in the
 * executor's order, {@code ExecutorOrder}) against each device's recorded peak (the largest of the three
 * steps'): with activations stored within 10% of the median and of the largest device (measured -4.4
 * to +0.7% in ten runs); under recompute within 25% of the largest device (measured -8.1 to +12.7% in the three runs
 * since {@code StepMemory.oneOpAtATime} has a thread pool of its own, -9.4 to +19.7% in the seven before;
 * -15.0 to +8.8% in stop 28's creation order). The median and the smallest device are printed: under
 * recompute the estimate is up to 49% above them, because it holds what the device that runs ahead
 * holds.
 *
 * <p>Why recompute is looser: TensorFlow runs the virtual devices' ops on one thread, and its
 * executor follows one device's chain as far as it can before the others start (device 0 on x:4, the
 * x=0 row on x:2,y:4). That device then holds every gradient part it sends until the lagging devices'
 * reduce-scatter or allreduce reads it; under recompute, where little else is live, that is up to 1.3x
 * the others' peak (x:4 stage 3: 7.9 MB on device 0, 5.9 MB on devices 1-3). Worker processes that share
 * the cores run ahead of each other too (x:4 stage 3 on four: 6.8-7.8 MB), so the cost model holds
 * a reduce-scatter's inputs until the step's last one (estimate 8.8 MB): the bound, where the leading
 * device's real lead changes between runs. Recompute's estimate and records are both below the stored
 * run's.
 */
class MemoryEstimateTest {
  static final String MODEL = "{\"n_head\": 8, \"n_embd\": 128, \"n_layer\": 4, \"n_ctx\": 64, \"n_vocab\": 256,"
      + " \"train_batch_size\": 16, \"lr\": 1e-3, \"opt_name\": \"adam\", \"gradient_clipping\": 1.0,"
      + " \"weight_decay\": 0.01, \"model_path\": \"unused\"}";

  /** The estimate, and the smallest, the median and the largest device's recorded peak. */
  record Peak(long estimated, long smallest, long median, long largest) {}

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
      // the largest of three steps' records: one op at a time, the devices' executors still interleave by
      // timing, and a step's peak varies by up to 3.5% stored and more under recompute, where it depends on
      // how far one device runs ahead (a budget must hold the largest)
      long[] peaks = new long[cfg.mesh().size()];
      for (int step = 0; step < 3; step++) {
        p.runStep(rt, step, new int[n], new int[n], true);
        List<StepMemory.Device> devices = StepMemory.of(rt.lastRunMetadata());
        for (int d = 0; d < peaks.length; d++) {
          peaks[d] = Math.max(peaks[d], devices.get(d).peak());
        }
      }
      return new Peak(estimated, Arrays.stream(peaks).min().orElseThrow(), StepMemory.median(peaks),
          Arrays.stream(peaks).max().orElseThrow());
    }
  }

  /** The estimate's error relative to a recorded peak: below 0 where the estimate is low. */
  static double error(long estimated, long recorded) {
    return (estimated - recorded) / (double) recorded;
  }

  @Test
  void stepPeakNearTensorFlowsRecordsForEveryStageWithAndWithoutRecompute() {
    List<String> misses = new ArrayList<>();
    // stages 1 and 2 compile to the same step
    for (String[] ml : new String[][] {{"x:4", "batch:x", "0", "2", "3"}, {"x:2,y:4", "batch:x,heads:y", "0", "2", "3"}}) {
      for (int k = 2; k < ml.length; k++) {
        int stage = Integer.parseInt(ml[k]);
        Peak stored = null;
        for (boolean recompute : new boolean[] {false, true}) {
          Peak pk = peak(ml[0], ml[1], stage, recompute);
          double errSmallest = error(pk.estimated(), pk.smallest());
          double err = error(pk.estimated(), pk.median());
          double errLargest = error(pk.estimated(), pk.largest());
          String line = String.format("%s %s stage %d recompute %s: estimated %d, TensorFlow smallest %d (%+.1f%%),"
              + " median %d (%+.1f%%), largest %d (%+.1f%%)", ml[0], ml[1], stage, recompute, pk.estimated(),
              pk.smallest(), 100 * errSmallest, pk.median(), 100 * err, pk.largest(), 100 * errLargest);
          System.out.println(line);
          if (recompute ? Math.abs(errLargest) > 0.25 : Math.abs(err) > 0.10 || Math.abs(errLargest) > 0.10) {
            misses.add(line);
          }
          if (recompute) {
            assertTrue(pk.estimated() < stored.estimated() && pk.largest() < stored.largest(),
                "recompute needs less: " + line + " against " + stored);
          }
          stored = pk;
        }
      }
    }
    assertTrue(misses.isEmpty(), "stored beyond 10% of the median or the largest device, or recompute beyond 25%"
        + " of the largest: " + misses);
  }
}
