package dev.neomesh.models.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.lower.Devices;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.models.cli.GptLanguageModel;
import dev.neomesh.models.cli.Main;
import dev.neomesh.models.config.GptConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The baby GPT ({@code configs/baby_gpt_shakespeare.json}: 4 layers, n_embd 128, n_ctx 64, batch 12) on
 * tinyshakespeare at character level, 200 steps (warm-up 20, cosine to step 200) with
 * {@code parameter_precision: bfloat16} against float32, the same batches: the mean loss of the last
 * 20 steps within 2%. Skipped when {@code ../shared/data/tinyshakespeare.txt} is absent.
 */
class Bf16ShakespeareTest {
  static final int STEPS = 200;
  static final int LAST = 20;

  @Test
  void bf16ParametersTrainTheBabyGptWithin2PercentOfFloat32() throws IOException {
    Path text = Path.of(System.getProperty("user.dir")).resolve("../../shared/data/tinyshakespeare.txt").normalize();
    assumeTrue(Files.isRegularFile(text), "skipped: " + text + " is absent (tinyshakespeare lives in ../shared/data)");
    byte[] bytes = Files.readAllBytes(text);
    Path root = Path.of(System.getProperty("user.dir")).resolve("..").normalize();
    GptConfig base = GptConfig.fromJson(Files.readString(root.resolve("configs/baby_gpt_shakespeare.json")))
        .withOverrides(Map.of("warmup_steps", "20", "lr_decay_end", String.valueOf(STEPS)));
    double f32 = lastLosses(base, bytes);
    double bf16 = lastLosses(base.withOverrides(Map.of("parameter_precision", "bfloat16")), bytes);
    System.out.printf("baby GPT, %d steps, mean loss of the last %d: float32 %.4f, bf16 parameters %.4f (%+.2f%%)%n",
        STEPS, LAST, f32, bf16, 100 * (bf16 - f32) / f32);
    assertTrue(f32 < 3.0, "float32 trains: " + f32);
    assertEquals(f32, bf16, 0.02 * f32, "bf16 parameters within 2% of float32");
  }

  static double lastLosses(GptConfig cfg, byte[] text) {
    int batch = cfg.trainBatchSize();
    int ctx = cfg.nCtx();
    TrainProgram p = TrainProgram.build(new GptLanguageModel(cfg), cfg.seed(), batch, ctx, 1,
        new LearningRateSchedule(cfg.lr(), cfg.lrDecay(), cfg.lrDecayEnd(), cfg.warmupSteps()), Main.optimizer(cfg));
    Random r = new Random(1);
    int train = text.length * 9 / 10;
    double sum = 0;
    try (MeshRuntime rt = MeshRuntime.create(p.graph(), MeshShape.parse("x:1"), LayoutRules.parse(""),
        Devices.virtualCpus(1))) {
      rt.initialize();
      for (int step = 0; step < STEPS; step++) {
        int[] x = new int[batch * ctx];
        int[] y = new int[batch * ctx];
        for (int b = 0; b < batch; b++) {
          int at = r.nextInt(train - ctx - 1);
          for (int t = 0; t < ctx; t++) {
            x[b * ctx + t] = text[at + t] & 0xFF;
            y[b * ctx + t] = text[at + t + 1] & 0xFF;
          }
        }
        double loss = p.runStep(rt, step, x, y).loss();
        if (step >= STEPS - LAST) {
          sum += loss;
        }
      }
    }
    return sum / LAST;
  }
}
