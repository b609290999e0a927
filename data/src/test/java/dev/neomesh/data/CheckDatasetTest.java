package dev.neomesh.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.data.tfrecord.TfRecordFile;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckDatasetTest {
  @Test
  void reportsCountsRangeAndTheFirstExample(@TempDir Path dir) throws Exception {
    Path in = dir.resolve("in.txt");
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < 300; i++) text.append("line ").append(i).append(" of the check dataset test\n");
    Files.writeString(in, text.toString());
    CreateTfRecords.run(new CreateTfRecords.Options(in.toString(), "chk", dir.resolve("rec"), 3,
        new dev.neomesh.data.tokenizer.CharTokenizer(), 1, 1, 1199, 1, false), CreateTfRecordsTest.QUIET);
    Files.writeString(dir.resolve("chk.json"), "{\"n_vocab\": 256, \"path\": \"rec/chk_*.tfrecords\","
        + " \"tokenizer_path\": \"char\", \"eos_id\": 1, \"padding_id\": 0}");
    DatasetConfig c = DatasetConfigs.load(dir.resolve("chk.json"));
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    CheckDataset.Report r = CheckDataset.run(List.of(c), 256, dir, new PrintStream(buf, true, StandardCharsets.UTF_8));
    String out = buf.toString(StandardCharsets.UTF_8);
    assertTrue(r.ok(), out);
    long bytes = text.length() + 1;
    assertEquals(bytes / 1200, r.records());
    assertEquals(r.records() * 1200, r.tokens());
    assertEquals(10, r.minId()); // '\n'
    assertEquals('t', r.maxId());
    assertEquals(0, r.eosCount()); // the one EOS is in the discarded tail
    assertTrue(r.firstExample().startsWith("line 0 of the check dataset test\nline 1 "), r.firstExample());
    assertTrue(out.contains("-".repeat(50) + "\nline 0 of") && out.contains("\n\n...\n\n"), out);
    assertTrue(out.contains("check_dataset: OK"));

    // a model vocabulary that is too small: the file and the id are named
    CheckDataset.Report small = CheckDataset.run(List.of(c), 100, dir, new PrintStream(new ByteArrayOutputStream()));
    assertFalse(small.ok());
    assertTrue(small.problems().stream().anyMatch(p -> p.contains("chk_0_3.tfrecords") && p.contains("token id 108")
        && p.contains("not below n_vocab 100")), small.problems().toString());
    DataException e = assertThrows(DataException.class, small::throwIfFailed);
    assertTrue(e.getMessage().contains("n_vocab 100"));

    // a corrupt record: the file and its byte offset are named
    Path f = dir.resolve("rec/chk_1_3.tfrecords");
    long second;
    try (TfRecordFile t = TfRecordFile.open(f)) {
      second = t.offsets()[1];
    }
    try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
      raf.seek(second + 40);
      raf.write('#');
    }
    CheckDataset.Report bad = CheckDataset.run(List.of(c), 256, dir, new PrintStream(new ByteArrayOutputStream()));
    assertTrue(bad.problems().stream().anyMatch(p -> p.contains("chk_1_3.tfrecords") && p.contains("CRC mismatch")
        && p.contains("byte offset " + second)), bad.problems().toString());
  }
}
