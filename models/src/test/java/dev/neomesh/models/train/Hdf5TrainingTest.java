package dev.neomesh.models.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.data.DataException;
import dev.neomesh.data.DatasetEntry;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.testing.PythonReference;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A dataset config with {@code "format": "hdf5"} trains and evaluates from files in Cerebras' layout
 * written by h5py, and {@link Trainer#check} refuses what cannot work before anything is built.
 */
class Hdf5TrainingTest {
  static final int N_CTX = 16;

  static void makeDataset(Path dir) throws Exception {
    PythonReference py = PythonReference.require("h5py", "numpy");
    Files.createDirectories(dir.resolve("h5"));
    py.run("write_cerebras_hdf5.py", Duration.ofMinutes(1), dir.resolve("h5/train_0.h5").toString(), "--n", "12",
        "--seq", "" + N_CTX, "--vocab", "60", "--masked", "3", "--seed", "1");
    py.run("write_cerebras_hdf5.py", Duration.ofMinutes(1), dir.resolve("h5/eval_0.h5").toString(), "--n", "4",
        "--seq", "" + N_CTX, "--vocab", "60", "--masked", "3", "--seed", "2");
    Files.createDirectories(dir.resolve("dataset_configs"));
    Files.writeString(dir.resolve("dataset_configs/cb.json"), "{\"n_vocab\": 256, \"format\": \"hdf5\","
        + " \"path\": \"h5/train_*.h5\", \"eval_path\": \"h5/eval_*.h5\", \"tokenizer_path\": \"char\","
        + " \"eos_id\": 1, \"padding_id\": 0}");
  }

  static Trainer trainer(Path dir, String mode, int nCtx, long steps) {
    TrainSettings s = new TrainSettings(dir.resolve("run"), dir, dir.resolve("dataset_configs"),
        List.of(new DatasetEntry("cb", 1, mode, 1.0)), MeshShape.parse("x:2"), LayoutRules.parse("batch:x"), null,
        nCtx, 256, 4, 4, 2, steps, 1, 5, 1, 3, new LearningRateSchedule(0.05, LearningRateSchedule.Decay.COSINE, 8, 2),
        OptimizerSettings.adam(0.9, 0.95, 1e-8, 0.01).withClipping(1.0), null, 8, false);
    return new Trainer(s, new TinyLm(256, 16, 0), new PrintStream(new ByteArrayOutputStream()));
  }

  @Test
  void trainsAndEvaluatesOnCerebrasHdf5(@TempDir Path dir) throws Exception {
    makeDataset(dir);
    Trainer.Result r = trainer(dir, DatasetEntry.CHUNKS, N_CTX, 4).train();
    assertEquals(4, r.losses().size());
    for (double loss : r.losses()) assertTrue(Double.isFinite(loss) && loss > 0, r.losses().toString());
    Trainer.EvalResult e = trainer(dir, DatasetEntry.CHUNKS, N_CTX, 4).evaluate();
    assertEquals(4, e.step());
    assertTrue(Double.isFinite(e.loss()) && e.perplexity() > 1, e.toString());
  }

  @Test
  void checkRefusesADocumentsModeAndAnotherContextLength(@TempDir Path dir) throws Exception {
    makeDataset(dir);
    DataException mode = assertThrows(DataException.class,
        () -> trainer(dir, DatasetEntry.DOCUMENTS_RANDOM, N_CTX, 2).check());
    assertTrue(mode.getMessage().contains("\"format\": \"hdf5\"") && mode.getMessage().contains("use mode chunks"),
        mode.getMessage());
    DataException length = assertThrows(DataException.class, () -> trainer(dir, DatasetEntry.CHUNKS, 32, 2).check());
    assertTrue(length.getMessage().contains("train_0.h5: its samples are 16 tokens long")
        && length.getMessage().contains("n_ctx is 32") && length.getMessage().contains("--set n_ctx=16"),
        length.getMessage());
  }
}
