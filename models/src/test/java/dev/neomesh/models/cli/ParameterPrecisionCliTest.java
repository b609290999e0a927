package dev.neomesh.models.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.models.cli.MainTest.Run;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --set parameter_precision=bfloat16} on {@link MainTest}'s tiny config (x:2, batch:x): trains,
 * evaluates and samples; its checkpoint is a float32 one (no masters, every tensor FLOAT32), which a
 * float32 run continues and a bf16-parameters evaluation reads again.
 */
class ParameterPrecisionCliTest {
  @Test
  void trainsEvaluatesSamplesInBf16AndContinuesInFloat32(@TempDir Path root) throws IOException {
    MainTest.makeRootAt(root);
    Run r = MainTest.mainAt(root, "", "--model", "tiny", "--new", "--yes", "--set", "parameter_precision=bfloat16",
        "--no_progress");
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("step 4/4"), r.out());
    assertTrue(r.out().contains("eval at step 4"), r.out());
    assertTrue(r.out().contains("sampling from checkpoint step 4"), r.out());
    String manifest = Files.readString(root.resolve("runs/tiny/ckpt-4.manifest.json"));
    assertFalse(manifest.contains("/master"), manifest);
    assertFalse(manifest.contains("BFLOAT16"), manifest);
    assertTrue(manifest.contains("\"gpt2/wte\""), manifest);

    Run f32 = MainTest.mainAt(root, "", "--model", "tiny", "--set", "train_steps=6", "--set", "predict_steps=0",
        "--set", "parameter_precision=float32", "--no_progress");
    assertEquals(0, f32.status(), f32.err());
    assertTrue(f32.out().contains("resumed from checkpoint step 4"), f32.out());
    assertTrue(f32.out().contains("step 6/6"), f32.out());
    com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
    assertEquals(json.readTree(manifest).get("variables"),
        json.readTree(root.resolve("runs/tiny/ckpt-6.manifest.json").toFile()).get("variables"),
        "the bf16-parameters checkpoint holds the float32 one's tensors");

    Run eval = MainTest.mainAt(root, "", "--model", "tiny", "--eval", "--set", "train_steps=6", "--set",
        "parameter_precision=bfloat16");
    assertEquals(0, eval.status(), eval.err());
    assertTrue(eval.out().contains("eval at step 6: loss"), eval.out());
    Run sample = MainTest.mainAt(root, "", "--model", "tiny", "--predict", "--set", "train_steps=6", "--set",
        "parameter_precision=bfloat16", "--temperature", "0", "--max_new_tokens", "4");
    assertEquals(0, sample.status(), sample.err());
    assertTrue(sample.out().contains("sampling from checkpoint step 6"), sample.out());
  }
}
