package dev.neomesh.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.neomesh.mesh.testing.PythonReference;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HDF5 input in Cerebras' layout ({@code "format": "hdf5"}), against files written by h5py
 * ({@code tests/python/write_cerebras_hdf5.py}): batches hold exactly the ids and labels written
 * (labels at masked positions become padding_id), check_dataset reports them and names corrupt
 * files, and each malformed input gets its one message.
 */
class Hdf5InputTest {
  static final int SEQ = 8;
  static final int MASKED = 2;
  static final int MASKED_LABEL = 7;
  static final int PADDING_ID = 0;
  private static final ObjectMapper JSON = new ObjectMapper();

  /** The samples a file holds, as h5py wrote them: [sample][row: ids, mask, labels][position]. */
  static int[][][] write(PythonReference py, Path file, String... args) throws Exception {
    List<String> all = new ArrayList<>(List.of(file.toString(), "--seq", "" + SEQ, "--vocab", "50",
        "--masked_label", "" + MASKED_LABEL));
    all.addAll(Arrays.asList(args));
    Files.createDirectories(file.getParent());
    JsonNode data = JSON.readTree(py.run("write_cerebras_hdf5.py", Duration.ofMinutes(1), all.toArray(String[]::new)))
        .get("data");
    int[][][] out = new int[data.size()][3][];
    for (int s = 0; s < data.size(); s++) {
      for (int row = 0; row < 3; row++) {
        JsonNode r = data.get(s).get(row);
        out[s][row] = new int[r.size()];
        for (int t = 0; t < r.size(); t++) out[s][row][t] = r.get(t).asInt();
      }
    }
    return out;
  }

  /** Two files (int32 contiguous, int64 chunked with gzip), ten samples, the last two positions of each masked. */
  static int[][][] twoFiles(PythonReference py, Path dir) throws Exception {
    int[][][] a = write(py, dir.resolve("h5/train_0.h5"), "--n", "6", "--seed", "1", "--masked", "" + MASKED);
    int[][][] b = write(py, dir.resolve("h5/train_1.h5"), "--n", "4", "--seed", "2", "--masked", "" + MASKED,
        "--dtype", "int64", "--chunked");
    int[][][] all = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, all, a.length, b.length);
    return all;
  }

  static Path config(Path dir, String id, String path, int nVocab) throws Exception {
    Path f = dir.resolve(id + ".json");
    Files.writeString(f, "{\"n_vocab\": " + nVocab + ", \"format\": \"hdf5\", \"path\": \"" + path + "\","
        + " \"tokenizer_path\": \"char\", \"eos_id\": 1, \"padding_id\": " + PADDING_ID + "}");
    return f;
  }

  /** The labels training should see: the written labels, padding_id where the mask is 0. */
  static int[] expectedLabels(int[][] sample) {
    int[] out = sample[2].clone();
    for (int t = 0; t < out.length; t++) if (sample[1][t] == 0) out[t] = PADDING_ID;
    return out;
  }

  @Test
  void chunksBatchesAreTheSamplesWrittenWithMaskedLabelsAsPadding(@TempDir Path dir) throws Exception {
    PythonReference py = PythonReference.require("h5py", "numpy");
    int[][][] written = twoFiles(py, dir);
    config(dir, "cb", "h5/train_*.h5", 50);
    List<InputPipeline.Source> sources = InputPipeline.sources(dir, List.of(DatasetEntry.of("cb")));
    int batch = 5;
    try (Sampler s = new Sampler(List.of(sources.get(0).config()), List.of(sources.get(0).entry()), SEQ, batch, 3, dir,
        false, InputPipeline.GPTNEO_MINIMUM_SIZE);
        InputPipeline pipe = InputPipeline.train(sources, InputPipeline.Options.of(SEQ, batch, 3, dir))) {
      assertEquals(10, s.records(0));
      Set<Integer> seen = new HashSet<>();
      for (int step = 0; step < 4; step++) { // two epochs of ten samples
        Batch b = pipe.next();
        assertEquals(s.batch(step), b);
        for (int r = 0; r < batch; r++) {
          Sampler.Row row = s.row(step, r);
          int rec = row.records()[0];
          if (step < 2) assertTrue(seen.add(rec), "sample " + rec + " twice in one epoch");
          int[][] sample = written[rec];
          assertArrayEquals(sample[0], row.inputs(), "inputs of sample " + rec);
          assertArrayEquals(expectedLabels(sample), row.labels(), "labels of sample " + rec);
          assertArrayEquals(sample[0], Arrays.copyOfRange(b.inputs(), r * SEQ, (r + 1) * SEQ));
          assertArrayEquals(expectedLabels(sample), Arrays.copyOfRange(b.labels(), r * SEQ, (r + 1) * SEQ));
          // the premise: h5py stored labels other than padding_id at the masked positions
          assertEquals(MASKED_LABEL, sample[2][SEQ - 1]);
          assertEquals(PADDING_ID, row.labels()[SEQ - 1]);
          assertEquals(sample[0][1], row.labels()[0]); // Cerebras' labels are the ids shifted by one
        }
      }
      assertEquals(10, seen.size());
    }
  }

  @Test
  void hdf5MixesWithTfRecordsByWeight(@TempDir Path dir) throws Exception {
    PythonReference py = PythonReference.require("h5py", "numpy");
    int[][][] written = twoFiles(py, dir);
    DatasetConfig h5 = DatasetConfigs.load(config(dir, "cb", "h5/train_*.h5", 50));
    DatasetConfig tf = SamplerTest.dataset(dir, "tf", 20, 0, 10_000);
    List<DatasetEntry> entries = List.of(new DatasetEntry("cb", 1, DatasetEntry.CHUNKS, 1),
        new DatasetEntry("tf", 1, DatasetEntry.CHUNKS, 1));
    try (Sampler s = new Sampler(List.of(h5, tf), entries, SEQ, 4, 11, dir, false, InputPipeline.GPTNEO_MINIMUM_SIZE)) {
      int[] rows = new int[2];
      for (int step = 0; step < 10; step++) {
        for (int r = 0; r < 4; r++) {
          Sampler.Row row = s.row(step, r);
          int rec = row.records()[0];
          rows[row.dataset()]++;
          if (row.dataset() == 0) {
            assertArrayEquals(written[rec][0], row.inputs());
            assertArrayEquals(expectedLabels(written[rec]), row.labels());
          } else {
            for (int i = 0; i < SEQ; i++) {
              assertEquals(rec * 100 + i + 2, row.inputs()[i]);
              assertEquals(rec * 100 + i + 3, row.labels()[i]);
            }
          }
        }
      }
      assertTrue(rows[0] > 5 && rows[1] > 5, Arrays.toString(rows));
    }
  }

  @Test
  void documentsModesAreRefusedNamingChunks(@TempDir Path dir) throws Exception {
    PythonReference py = PythonReference.require("h5py", "numpy");
    twoFiles(py, dir);
    DatasetConfig c = DatasetConfigs.load(config(dir, "cb", "h5/train_*.h5", 50));
    for (String mode : List.of(DatasetEntry.DOCUMENTS_RANDOM, DatasetEntry.DOCUMENTS_FIXED)) {
      DataException e = assertThrows(DataException.class, () -> new Sampler(List.of(c),
          List.of(new DatasetEntry("cb", 25, mode, 1)), SEQ, 2, 1, dir, false, InputPipeline.GPTNEO_MINIMUM_SIZE));
      assertTrue(e.getMessage().contains("has mode " + mode) && e.getMessage().contains("\"format\": \"hdf5\"")
          && e.getMessage().contains("use mode chunks ([\"cb\"] or [\"cb\", 1, \"chunks\", 1.0])"), e.getMessage());
    }
  }

  @Test
  void eachBadInputGetsItsMessage(@TempDir Path dir) throws Exception {
    // an unknown format: named, with the closest known one
    Path typo = dir.resolve("typo.json");
    Files.writeString(typo, "{\"n_vocab\": 50, \"format\": \"hdf\", \"path\": \"x.h5\"}");
    DataException f = assertThrows(DataException.class, () -> DatasetConfigs.load(typo));
    assertTrue(f.getMessage().contains("typo.json: unknown \"format\" \"hdf\"; did you mean \"hdf5\"?")
        && f.getMessage().contains("formats: tfrecords, hdf5"), f.getMessage());
    // .h5 files in a TFRecord config (format forgotten), and the other way round
    Files.writeString(typo, "{\"n_vocab\": 50, \"path\": \"h5/*.h5\"}");
    DataException forgot = assertThrows(DataException.class, () -> DatasetConfigs.load(typo));
    assertTrue(forgot.getMessage().contains("path h5/*.h5 names HDF5 files but the config's format is tfrecords: add"
        + " \"format\": \"hdf5\""), forgot.getMessage());
    Files.writeString(typo, "{\"n_vocab\": 50, \"format\": \"hdf5\", \"path\": \"r.h5\", \"eval_path\": \"e.tfrecords\"}");
    DataException stray = assertThrows(DataException.class, () -> DatasetConfigs.load(typo));
    assertTrue(stray.getMessage().contains("path e.tfrecords names TFRecord files but the config's format is hdf5"),
        stray.getMessage());

    PythonReference py = PythonReference.require("h5py", "numpy");
    write(py, dir.resolve("bad/no_data.h5"), "--layout", "no_data");
    write(py, dir.resolve("bad/rank2.h5"), "--layout", "rank2");
    write(py, dir.resolve("bad/middle4.h5"), "--layout", "middle4");
    write(py, dir.resolve("bad/seq16.h5"), "--seq", "16");
    write(py, dir.resolve("bad/vocab.h5"), "--n", "3", "--seed", "5");
    String noData = trainError(dir, "no_data.h5", SEQ, 50);
    assertTrue(noData.contains("no_data.h5: no dataset named \"data\" (the file holds: input_ids); Cerebras' layout"
        + " is data[n, 3, max_sequence_length] of integers (input ids, attention mask, labels)"), noData);
    String rank2 = trainError(dir, "rank2.h5", SEQ, 50);
    assertTrue(rank2.contains("rank2.h5: dataset \"data\" has shape [4, 24]") && rank2.contains("it must have rank 3"),
        rank2);
    String middle = trainError(dir, "middle4.h5", SEQ, 50);
    assertTrue(middle.contains("middle4.h5: dataset \"data\" has shape [4, 4, 8]")
        && middle.contains("its middle dimension must be 3"), middle);
    String length = trainError(dir, "seq16.h5", SEQ, 50);
    assertTrue(length.contains("seq16.h5: its samples are 16 tokens long") && length.contains("model's n_ctx is 8")
        && length.contains("--set n_ctx=16") && length.contains("re-create the files with max_sequence_length 8"),
        length);
    String vocab = trainError(dir, "vocab.h5", SEQ, 10); // ids are drawn from [2, 50)
    assertTrue(vocab.contains("vocab.h5: sample ") && vocab.contains("not below n_vocab 10"), vocab);
  }

  /** The message training on {@code bad/<file>} stops with (the first batches are read, as training does). */
  private static String trainError(Path dir, String file, int nCtx, int nVocab) throws Exception {
    String id = file.replace(".h5", "");
    config(dir, id, "bad/" + file, nVocab);
    DataException e = assertThrows(DataException.class, () -> {
      try (InputPipeline p = InputPipeline.train(InputPipeline.sources(dir, List.of(DatasetEntry.of(id))),
          InputPipeline.Options.of(nCtx, 3, 1, dir))) {
        p.next();
      }
    });
    assertEquals(1, e.getMessage().lines().count(), e.getMessage());
    return e.getMessage();
  }

  @Test
  void checkDatasetReportsIdsPaddingAndNamesCorruptFiles(@TempDir Path dir) throws Exception {
    PythonReference py = PythonReference.require("h5py", "numpy");
    int[][][] written = twoFiles(py, dir);
    DatasetConfig c = DatasetConfigs.load(config(dir, "cb", "h5/train_*.h5", 50));
    int min = Integer.MAX_VALUE;
    int max = Integer.MIN_VALUE;
    for (int[][] s : written) {
      for (int t = 0; t < SEQ; t++) {
        min = Math.min(min, s[0][t]);
        max = Math.max(max, s[0][t]);
        if (s[1][t] == 1) {
          min = Math.min(min, s[2][t]);
          max = Math.max(max, s[2][t]);
        }
      }
    }
    assertEquals(0, min); // the inputs' pad id at the masked positions
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    CheckDataset.Report r = CheckDataset.run(List.of(c), 50, dir, new PrintStream(buf, true, StandardCharsets.UTF_8));
    String out = buf.toString(StandardCharsets.UTF_8);
    assertTrue(r.ok(), out);
    assertEquals(10, r.records());
    assertEquals(10 * SEQ, r.tokens());
    assertEquals(min, r.minId());
    assertEquals(max, r.maxId());
    assertEquals(10 * MASKED, r.paddingCount());
    assertEquals(6, r.files().get(0).records());
    assertTrue(out.contains("train_0.h5: 6 samples of 8 tokens, 48 tokens") && out.contains("padding (mask 0) 12"), out);
    int[] firstText = Arrays.copyOf(written[0][0], SEQ - MASKED);
    assertEquals(new String(toBytes(firstText), StandardCharsets.ISO_8859_1), r.firstExample());

    // garbage and a copy cut short (its metadata intact, its array not): each file named, no other file blamed
    Files.write(dir.resolve("h5/train_2.h5"), "not an HDF5 file at all".repeat(40).getBytes(StandardCharsets.UTF_8));
    write(py, dir.resolve("big.h5"), "--n", "100", "--seq", "16");
    byte[] big = Files.readAllBytes(dir.resolve("big.h5"));
    Files.write(dir.resolve("h5/train_3.h5"), Arrays.copyOf(big, big.length - 1000));
    CheckDataset.Report bad = CheckDataset.run(List.of(c), 50, dir, new PrintStream(new ByteArrayOutputStream()));
    assertFalse(bad.ok());
    assertEquals(2, bad.problems().size(), bad.problems().toString());
    assertTrue(bad.problems().get(0).contains("train_2.h5: not a readable HDF5 file")
        && bad.problems().get(0).contains("corrupt or truncated"), bad.problems().get(0));
    assertTrue(bad.problems().get(1).contains("train_3.h5: truncated") && bad.problems().get(1).contains(
        "the file ends at byte " + (big.length - 1000)), bad.problems().get(1));
    assertEquals(10, bad.records()); // the good files still counted

    // the command line: exit 1, the corrupt file named, no stack trace
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
        System.getProperty("java.class.path"), "dev.neomesh.data.cli.CheckDatasetMain", "--dataset_config",
        dir.resolve("cb.json").toString(), "--base_dir", dir.toString()).redirectErrorStream(true).start();
    String printed = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS));
    assertEquals(1, p.exitValue(), printed);
    assertTrue(printed.contains("check_dataset: check_dataset found problems:") && printed.contains("train_2.h5: not a"
        + " readable HDF5 file") && printed.contains("train_3.h5: truncated"), printed);
    assertFalse(printed.contains("\tat ") || printed.contains("internal error"), printed);
  }

  private static byte[] toBytes(int[] ids) {
    byte[] b = new byte[ids.length];
    for (int i = 0; i < ids.length; i++) b[i] = (byte) ids[i];
    return b;
  }
}
