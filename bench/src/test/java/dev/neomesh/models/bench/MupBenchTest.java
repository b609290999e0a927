package dev.neomesh.models.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.bench.BenchFlags;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalInt;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code scripts/bench mup} end to end at a toy size (a few seconds, not the benchmark): both parts
 * print their tables, the best rate per width is the sweep's argmin, and both PNG plots are written.
 */
class MupBenchTest {
  @Test
  void bothPartsPrintTablesAndWritePlots(@TempDir Path dir) throws Exception {
    Random r = new Random(1);
    StringBuilder text = new StringBuilder();
    String[] words = {"to ", "be ", "or ", "not ", "that ", "is ", "the ", "question\n"};
    while (text.length() < 20_000) {
      text.append(words[r.nextInt(words.length)]);
    }
    Path file = Files.writeString(dir.resolve("text.txt"), text);
    MupBench.Flags f = new MupBench.Flags();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    OptionalInt exit = BenchFlags.parse("bench mup", f, new String[] {"--text", file.toString(), "--widths", "16,32",
        "--sweep_widths", "16,32", "--d_head", "8", "--base", "16", "--n_layer", "1", "--n_ctx", "8", "--batch", "2",
        "--coord_steps", "2", "--sweep_log2_lrs", "-9,-5", "--sweep_steps", "3", "--warmup", "1", "--eval_batches", "1",
        "--out", dir.toString()}, System.out, new PrintStream(err));
    assertTrue(exit.isEmpty(), err.toString());
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    MupBench.Result res = MupBench.run(f, new PrintStream(out, true, StandardCharsets.UTF_8));
    String printed = out.toString(StandardCharsets.UTF_8);
    assertTrue(printed.contains("coordinate check, muP: mean |x| after 2 steps"), printed);
    assertTrue(printed.contains("learning-rate sweep, SP: held-out loss after 3 steps"), printed);
    for (String p : new String[] {"sp", "mup"}) {
      assertEquals(java.util.List.of("embeddings", "block 0", "logits"),
          java.util.List.copyOf(res.coordCheck().after().get(p).keySet()));
      for (double[] v : res.coordCheck().after().get(p).values()) {
        assertTrue(v.length == 2 && v[0] > 0 && v[1] > 0 && Double.isFinite(v[1]), p + ": " + v[0] + ", " + v[1]);
      }
      double[][] loss = res.sweep().loss().get(p);
      for (int w = 0; w < 2; w++) {
        double best = loss[w][0] <= loss[w][1] ? -9 : -5;
        assertEquals(best, res.sweep().best().get(p)[w], p + " width " + w + ": the argmin of " + loss[w][0] + ", "
            + loss[w][1]);
      }
    }
    for (String png : new String[] {"mup_coord_check.png", "mup_lr_sweep.png"}) {
      BufferedImage image = ImageIO.read(dir.resolve(png).toFile());
      assertEquals(1120, image.getWidth(), png + ": two panels");
      assertEquals(450, image.getHeight(), png);
    }
  }

  @Test
  void aWidthMustBeAMultipleOfTheHeadSize() {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    OptionalInt exit = BenchFlags.parse("bench mup", new MupBench.Flags(), new String[] {"--widths", "64,100"},
        System.out, new PrintStream(err));
    assertEquals(2, exit.getAsInt());
    assertTrue(err.toString().contains("width 100 is not a multiple of --d_head 32"), err.toString());
  }
}
