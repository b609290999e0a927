package dev.neomesh.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetConfigsTest {
  @Test
  void gptNeosShippedConfigsParse() {
    Path folder = Path.of("../../shared/gptneo-configs/dataset_configs");
    Assumptions.assumeTrue(Files.isDirectory(folder), "skipped: ../shared/gptneo-configs is absent");
    List<DatasetConfig> all = DatasetConfigs.loadAll(folder);
    assertEquals(3, all.size());
    DatasetConfig pile = DatasetConfigs.load(folder, "pile");
    assertEquals(50257, pile.nVocab());
    assertEquals("gs://neo-datasets/pile/pile_*.tfrecords", pile.path());
    assertTrue(pile.tokenizerIsPretrained());
    assertEquals(50256, pile.eosId());
    assertEquals(50257, pile.paddingId());
    DatasetConfig example = DatasetConfigs.load(folder, "example");
    assertEquals(32768, example.nVocab());
    assertFalse(example.hasEval());
    assertEquals(1, example.eosId());
  }

  @Test
  void ourConfigsParse() {
    Path folder = Path.of("../configs/dataset_configs");
    DatasetConfig c = DatasetConfigs.load(folder, "repo_text_char");
    assertEquals(256, c.nVocab());
    assertEquals("char", c.tokenizerPath());
    assertEquals(c.tokenizer(Path.of("..")).vocabSize(), 256);
    DatasetConfigs.loadAll(folder);
  }

  @Test
  void unknownKeysNameTheClosestKnownOne(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("typo.json");
    Files.writeString(f, "{\"n_vocab\": 256, \"path\": \"x_*.tfrecords\", \"eos_idd\": 3}");
    DataException e = assertThrows(DataException.class, () -> DatasetConfigs.load(f));
    assertTrue(e.getMessage().contains("typo.json") && e.getMessage().contains("\"eos_idd\"")
        && e.getMessage().contains("did you mean \"eos_id\""), e.getMessage());
    Files.writeString(f, "{\"path\": \"x\"}");
    e = assertThrows(DataException.class, () -> DatasetConfigs.load(f));
    assertTrue(e.getMessage().contains("\"n_vocab\" is required"), e.getMessage());
    Files.writeString(f, "{\"n_vocab\": \"many\", \"path\": \"x\"}");
    e = assertThrows(DataException.class, () -> DatasetConfigs.load(f));
    assertTrue(e.getMessage().contains("must be an integer"), e.getMessage());
    e = assertThrows(DataException.class, () -> DatasetConfigs.load(dir, "absent"));
    assertTrue(e.getMessage().contains("absent.json") && e.getMessage().contains("typo"), e.getMessage());
  }
}
