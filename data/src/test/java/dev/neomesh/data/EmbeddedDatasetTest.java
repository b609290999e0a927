package dev.neomesh.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedDatasetTest {
  @Test
  void buildsOnFirstUseFromTheRepositorysText(@TempDir Path repo) throws Exception {
    Files.createDirectories(repo.resolve("docs"));
    Files.createDirectories(repo.resolve("x/target"));
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < 400; i++) b.append("Some documentation, line ").append(i).append(".\n");
    Files.writeString(repo.resolve("docs/A.md"), b.toString());
    Files.writeString(repo.resolve("x/B.java"), "class B {}\n".repeat(200));
    Files.writeString(repo.resolve("x/target/Ignored.java"), "ignored");
    Files.createDirectories(repo.resolve("configs/dataset_configs"));
    Files.copy(Path.of("../configs/dataset_configs/repo_text_char.json"), repo.resolve("configs/dataset_configs/repo_text_char.json"));
    DatasetConfig c = DatasetConfigs.load(repo.resolve("configs/dataset_configs"), "repo_text_char");
    List<InputPipeline.Source> src = List.of(new InputPipeline.Source(c, new DatasetEntry("repo_text_char", 1,
        DatasetEntry.CHUNKS, 1)));
    try (InputPipeline p = InputPipeline.train(src, InputPipeline.Options.of(64, 4, 1, repo))) {
      Batch batch = p.next();
      assertEquals(4 * 64, batch.inputs().length);
    }
    Path out = repo.resolve(EmbeddedDataset.DIR);
    assertTrue(Files.exists(out.resolve("sources.sha256")));
    assertEquals(List.of(repo.resolve("docs/A.md"), repo.resolve("x/B.java")), EmbeddedDataset.sources(repo));
    long made = Files.getLastModifiedTime(out.resolve("sources.sha256")).toMillis();
    EmbeddedDataset.ensure(repo); // up to date: not rebuilt
    assertEquals(made, Files.getLastModifiedTime(out.resolve("sources.sha256")).toMillis());
  }

  @Test
  void theRealRepositoryBuildsInUnderFiveSeconds() {
    Path root = Path.of("..").toAbsolutePath().normalize();
    long t0 = System.nanoTime();
    Path out = EmbeddedDataset.ensure(root);
    double secs = (System.nanoTime() - t0) / 1e9;
    assertTrue(secs < 5, secs + " s");
    assertTrue(RecordIndex.resolve("runs/data/repo_text/repo_text_*.tfrecords", root, "test").size() >= 1, out.toString());
  }
}
