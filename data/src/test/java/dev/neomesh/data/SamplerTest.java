package dev.neomesh.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.data.tfrecord.TextRecord;
import dev.neomesh.data.tfrecord.TfRecordWriter;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SamplerTest {
  static final int LEN = 33;

  /** Token i of record r of dataset base is base + r * 100 + i + 2 (never EOS 1 or padding 0). */
  static DatasetConfig dataset(Path dir, String name, int records, int base, int nVocab) {
    Path file = dir.resolve(name + "_0_" + records + ".tfrecords");
    try (TfRecordWriter w = new TfRecordWriter(file)) {
      for (int r = 0; r < records; r++) {
        int[] ids = new int[LEN];
        for (int i = 0; i < LEN; i++) ids[i] = base + r * 100 + i + 2;
        w.write(TextRecord.encode(ids));
      }
    }
    return new DatasetConfig(name, dir.resolve(name + ".json"), nVocab, name + "_*.tfrecords", "", "char", false, 1,
        0, null);
  }

  static Sampler sampler(Path dir, List<DatasetConfig> cs, List<DatasetEntry> es, int nCtx, int batch, long seed) {
    return new Sampler(cs, es, nCtx, batch, seed, dir, false, InputPipeline.GPTNEO_MINIMUM_SIZE);
  }

  @Test
  void chunksUseEveryRecordOncePerEpoch(@TempDir Path dir) {
    DatasetConfig a = dataset(dir, "a", 50, 0, 10_000);
    try (Sampler s = sampler(dir, List.of(a), List.of(DatasetEntry.of("a")), 16, 5, 1)) {
      Set<Integer> seen = new HashSet<>();
      for (int step = 0; step < 10; step++) {
        for (int r = 0; r < 5; r++) {
          Sampler.Window w = s.window(step, r);
          int rec = w.records()[0];
          assertTrue(seen.add(rec), "record " + rec + " twice in one epoch");
          for (int i = 0; i < 17; i++) assertEquals(rec * 100 + i + 2, w.tokens()[i]);
        }
      }
      assertEquals(50, seen.size());
      Batch b = s.batch(3);
      for (int r = 0; r < 5; r++) {
        for (int i = 0; i + 1 < 16; i++) assertEquals(b.inputs()[r * 16 + i + 1], b.labels()[r * 16 + i]);
        assertEquals(b.inputs()[r * 16 + 15] + 1, b.labels()[r * 16 + 15]);
      }
    }
  }

  @Test
  void documentsFixedStartsAtADocumentStart(@TempDir Path dir) {
    DatasetConfig a = dataset(dir, "a", 40, 0, 10_000);
    try (Sampler s = sampler(dir, List.of(a), List.of(new DatasetEntry("a", 3, DatasetEntry.DOCUMENTS_FIXED, 1)), 64, 4, 9)) {
      for (int step = 0; step < 20; step++) {
        for (int r = 0; r < 4; r++) {
          Sampler.Window w = s.window(step, r);
          assertEquals(0, w.offset());
          int[] recs = w.records();
          // d1 (33) EOS d2 (31 of 33 = 65 total)
          for (int i = 0; i < LEN; i++) assertEquals(recs[0] * 100 + i + 2, w.tokens()[i]);
          assertEquals(1, w.tokens()[LEN]);
          for (int i = 0; i < 31; i++) assertEquals(recs[1] * 100 + i + 2, w.tokens()[LEN + 1 + i]);
        }
      }
    }
  }

  @Test
  void documentsRandomWindowsStartUniformly(@TempDir Path dir) {
    DatasetConfig a = dataset(dir, "a", 64, 0, 10_000);
    int nCtx = 16;
    int positions = 2 * LEN + 1 - (nCtx + 1) + 1; // 51 possible starts in d1 EOS d2
    int[] hist = new int[positions];
    int samples = 0;
    try (Sampler s = sampler(dir, List.of(a), List.of(new DatasetEntry("a", 2, DatasetEntry.DOCUMENTS_RANDOM, 1)), nCtx, 8, 5)) {
      for (int step = 0; step < 2500; step++) {
        for (int r = 0; r < 8; r++) {
          Sampler.Window w = s.window(step, r);
          hist[w.offset()]++;
          samples++;
          int[] stitched = new int[2 * LEN + 1];
          for (int i = 0; i < LEN; i++) {
            stitched[i] = w.records()[0] * 100 + i + 2;
            stitched[LEN + 1 + i] = w.records()[1] * 100 + i + 2;
          }
          stitched[LEN] = 1;
          assertArrayEquals(java.util.Arrays.copyOfRange(stitched, w.offset(), w.offset() + nCtx + 1), w.tokens());
        }
      }
    }
    double expected = (double) samples / positions;
    double chi2 = 0;
    for (int h : hist) chi2 += (h - expected) * (h - expected) / expected;
    // 50 degrees of freedom: the 99.9% quantile is 86.7
    assertTrue(chi2 < 86.7, "chi-square " + chi2 + " over " + positions + " start positions");
  }

  @Test
  void mixtureFollowsWeights(@TempDir Path dir) {
    DatasetConfig a = dataset(dir, "a", 30, 0, 20_000);
    DatasetConfig b = dataset(dir, "b", 30, 10_000, 20_000);
    List<DatasetEntry> es = List.of(new DatasetEntry("a", 1, DatasetEntry.CHUNKS, 3.0),
        new DatasetEntry("b", 1, DatasetEntry.CHUNKS, 1.0));
    int fromA = 0;
    int n = 0;
    try (Sampler s = sampler(dir, List.of(a, b), es, 8, 10, 11)) {
      for (int step = 0; step < 1000; step++) {
        for (int r = 0; r < 10; r++) {
          Sampler.Window w = s.window(step, r);
          boolean isA = w.tokens()[0] < 10_000;
          assertEquals(isA, w.dataset() == 0);
          if (isA) fromA++;
          n++;
        }
      }
    }
    double frac = (double) fromA / n; // 0.75; standard deviation 0.0043 over 10,000 rows
    assertTrue(Math.abs(frac - 0.75) < 0.02, "fraction from a = " + frac);
  }

  @Test
  void deterministicAndSeekEqualsConsuming(@TempDir Path dir) {
    DatasetConfig a = dataset(dir, "a", 37, 0, 10_000);
    List<InputPipeline.Source> src = List.of(new InputPipeline.Source(a, new DatasetEntry("a", 2,
        DatasetEntry.DOCUMENTS_RANDOM, 1)));
    InputPipeline.Options o = new InputPipeline.Options(24, 6, 42, dir, 20, 3, 2);
    try (InputPipeline p1 = InputPipeline.train(src, o);
        InputPipeline p2 = InputPipeline.train(src, o);
        InputPipeline other = InputPipeline.train(src, new InputPipeline.Options(24, 6, 43, dir, 20, 3, 2))) {
      Batch[] consumed = new Batch[12];
      for (int k = 0; k < 12; k++) consumed[k] = p1.next();
      for (int k = 0; k < 12; k++) assertEquals(k, consumed[k].step());
      assertNotEquals(consumed[0], other.next());
      p2.seek(7);
      assertEquals(consumed[7], p2.next());
      assertEquals(consumed[8], p2.next());
      p2.seek(2);
      assertEquals(consumed[2], p2.next());
      assertEquals(consumed[11], p1.sampler().batch(11));
      // a far step costs the same as a near one: no replay
      long t0 = System.nanoTime();
      p2.seek(1_000_000_000L);
      assertEquals(1_000_000_000L, p2.next().step());
      assertTrue((System.nanoTime() - t0) / 1e9 < 1.0);
    }
  }

  @Test
  void badSettingsAndDataAreClearErrors(@TempDir Path dir) {
    DatasetConfig a = dataset(dir, "a", 10, 0, 10_000);
    DataException e = assertThrows(DataException.class, () -> sampler(dir, List.of(a),
        List.of(new DatasetEntry("a", 2, DatasetEntry.DOCUMENTS_RANDOM, 1)), 256, 2, 1));
    assertTrue(e.getMessage().contains("stitch * minimum_size = 2 * 100 = 200 is smaller than n_ctx 256")
        && e.getMessage().contains("at least 3"), e.getMessage());

    DatasetConfig small = dataset(dir, "small", 10, 0, 500); // ids reach 10 * 100 + 34
    try (Sampler s = sampler(dir, List.of(small), List.of(DatasetEntry.of("small")), 8, 10, 1)) {
      e = assertThrows(DataException.class, () -> s.batch(0));
      assertTrue(e.getMessage().contains("small_0_10.tfrecords") && e.getMessage().contains("not below n_vocab 500"),
          e.getMessage());
    }
    e = assertThrows(DataException.class, () -> new Sampler(List.of(a), List.of(DatasetEntry.of("a")), 8, 2, 1, dir,
        true, 100));
    assertTrue(e.getMessage().contains("no eval_path"), e.getMessage());
    DatasetConfig none = new DatasetConfig("none", dir.resolve("none.json"), 100, "none_*.tfrecords", "", "char",
        false, 1, 0, null);
    e = assertThrows(DataException.class, () -> sampler(dir, List.of(none), List.of(DatasetEntry.of("none")), 8, 2, 1));
    assertTrue(e.getMessage().contains("none.json") && e.getMessage().contains("matches no files"), e.getMessage());
    e = assertThrows(DataException.class, () -> DatasetEntry.parse(List.of("x", 2, "documents_randm", 1.0)));
    assertTrue(e.getMessage().contains("documents_randm"), e.getMessage());
    assertEquals(new DatasetEntry("x", 25, "documents_random", 1.0), DatasetEntry.parse(List.of("x", 25, "documents_random", 1.0)));
  }
}
