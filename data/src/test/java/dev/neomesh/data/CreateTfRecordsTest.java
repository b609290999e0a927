package dev.neomesh.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.data.tfrecord.TextRecord;
import dev.neomesh.data.tfrecord.TfRecordFile;
import dev.neomesh.data.tokenizer.CharTokenizer;
import dev.neomesh.data.tokenizer.Gpt2Tokenizer;
import dev.neomesh.data.tokenizer.Tokenizer;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CreateTfRecordsTest {
  static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

  /** 3 jsonl files of 40 documents of varied length; some shorter than minimum_size 5. */
  static Path corpus(Path dir) throws Exception {
    Path in = dir.resolve("in");
    Files.createDirectories(in);
    java.util.SplittableRandom r = new java.util.SplittableRandom(3);
    for (int f = 0; f < 3; f++) {
      StringBuilder b = new StringBuilder();
      for (int d = 0; d < 40; d++) {
        int len = r.nextInt(1, 60);
        StringBuilder t = new StringBuilder();
        for (int i = 0; i < len; i++) t.append((char) ('a' + r.nextInt(26)));
        b.append("{\"text\": \"").append(t).append("\"}\n");
      }
      Files.writeString(in.resolve("part" + f + ".jsonl"), b.toString());
    }
    return in;
  }

  static CreateTfRecords.Options opts(Path in, Path out, Tokenizer tok, int processes) {
    return new CreateTfRecords.Options(in.toString(), "test", out, 4, tok, 5, tok.eosId(), 15, processes, false);
  }

  static List<int[]> records(Path out) {
    List<int[]> all = new ArrayList<>();
    for (Path p : CreateTfRecords.list(out, "test_*.tfrecords").stream().sorted(RecordIndex.NATURAL).toList()) {
      try (TfRecordFile f = TfRecordFile.open(p)) {
        f.iterator().forEachRemaining(e -> all.add(TextRecord.decode(e.data(), p, e.offset())));
      }
    }
    return all;
  }

  @Test
  void writesTheCarriedTokenStreamInFullRecords(@TempDir Path dir) throws Exception {
    Path in = corpus(dir);
    Path out = dir.resolve("out");
    CharTokenizer chars = new CharTokenizer();
    CreateTfRecords.Summary s = CreateTfRecords.run(opts(in, out, chars, 1), QUIET);
    // expected stream: every document of >= 5 ids (separator included), in file order
    List<Integer> stream = new ArrayList<>();
    long docs = 0;
    long discarded = 0;
    try (Stream<Document> ds = Documents.stream(Documents.inputFiles(in.toString()))) {
      for (Document d : (Iterable<Document>) ds::iterator) {
        docs++;
        int[] ids = chars.encode(d.text());
        if (ids.length + 1 < 5) {
          discarded += ids.length + 1;
          continue;
        }
        for (int id : ids) stream.add(id);
        stream.add(1);
      }
    }
    List<int[]> recs = records(out);
    assertEquals(stream.size() / 16, recs.size());
    for (int r = 0; r < recs.size(); r++) {
      assertEquals(16, recs.get(r).length);
      for (int i = 0; i < 16; i++) assertEquals((int) stream.get(r * 16 + i), recs.get(r)[i]);
    }
    assertEquals(docs, s.documents());
    assertEquals(recs.size(), s.records());
    assertEquals(discarded + stream.size() % 16, s.discarded());
    assertEquals(s.tokens(), s.records() * 16 + s.discarded());
    // file names: {name}_{fileNo}_{count}.tfrecords, files_per 4
    List<String> names = CreateTfRecords.list(out, "test_*.tfrecords").stream().map(p -> p.getFileName().toString())
        .sorted().toList();
    assertTrue(names.contains("test_0_4.tfrecords"), names.toString());
    long total = 0;
    for (String n : names) {
      assertTrue(n.matches("test_\\d+_[1-4]\\.tfrecords"), n);
      total += Long.parseLong(n.replaceAll(".*_(\\d+)\\.tfrecords", "$1"));
    }
    assertEquals(s.records(), total);
    // a rerun finds the run complete
    assertEquals(s.records(), CreateTfRecords.run(opts(in, out, chars, 1), QUIET).records());
  }

  /** A char tokenizer that fails on its {@code failAt}-th document, like a run killed midway. */
  static final class Failing implements Tokenizer {
    final CharTokenizer chars = new CharTokenizer();
    final AtomicInteger calls = new AtomicInteger();
    final int failAt;

    Failing(int failAt) {
      this.failAt = failAt;
    }

    @Override
    public int[] encode(String text) {
      if (calls.incrementAndGet() == failAt) throw new IllegalStateException("killed");
      return chars.encode(text);
    }

    @Override
    public String decode(int[] ids) {
      return chars.decode(ids);
    }

    @Override
    public int vocabSize() {
      return 256;
    }

    @Override
    public int eosId() {
      return 1;
    }

    @Override
    public int paddingId() {
      return 0;
    }

    @Override
    public String name() {
      return "char";
    }
  }

  @Test
  void anInterruptedRunResumesToIdenticalOutput(@TempDir Path dir) throws Exception {
    Path in = corpus(dir);
    Path clean = dir.resolve("clean");
    CreateTfRecords.Summary full = CreateTfRecords.run(opts(in, clean, new CharTokenizer(), 1), QUIET);
    Path out = dir.resolve("resumed");
    for (int failAt : new int[] {30, 30, 25}) { // killed three times, each run getting further
      assertThrows(IllegalStateException.class, () -> CreateTfRecords.run(opts(in, out, new Failing(failAt), 1), QUIET));
      try (Stream<Path> s = Files.list(out)) {
        List<String> names = s.map(p -> p.getFileName().toString()).toList();
        assertFalse(names.stream().anyMatch(n -> n.endsWith(".tmp")), names.toString());
      }
      for (Path p : CreateTfRecords.list(out, "test_*.tfrecords")) {
        try (TfRecordFile f = TfRecordFile.open(p)) {
          assertEquals(4, f.offsets().length); // only complete files exist
        }
      }
    }
    CreateTfRecords.Summary resumed = CreateTfRecords.run(opts(in, out, new CharTokenizer(), 1), QUIET);
    assertTrue(resumed.resumed());
    assertEquals(full.records(), resumed.records());
    assertEquals(full.tokens(), resumed.tokens());
    assertEquals(full.documents(), resumed.documents());
    List<Path> a = CreateTfRecords.list(clean, "test_*.tfrecords");
    List<Path> b = CreateTfRecords.list(out, "test_*.tfrecords");
    assertEquals(a.stream().map(Path::getFileName).toList(), b.stream().map(Path::getFileName).toList());
    for (int i = 0; i < a.size(); i++) assertArrayEquals(Files.readAllBytes(a.get(i)), Files.readAllBytes(b.get(i)));
  }

  @Test
  void threadCountDoesNotChangeTheOutput(@TempDir Path dir) throws Exception {
    Path in = corpus(dir);
    CreateTfRecords.run(opts(in, dir.resolve("p1"), new CharTokenizer(), 1), QUIET);
    CreateTfRecords.run(opts(in, dir.resolve("p4"), new CharTokenizer(), 4), QUIET);
    List<int[]> x = records(dir.resolve("p1"));
    List<int[]> y = records(dir.resolve("p4"));
    assertEquals(x.size(), y.size());
    for (int i = 0; i < x.size(); i++) assertArrayEquals(x.get(i), y.get(i));
  }

  @Test
  void badInputsAndConflictingOutputs(@TempDir Path dir) throws Exception {
    Files.createDirectories(dir.resolve("empty"));
    DataException e = assertThrows(DataException.class,
        () -> CreateTfRecords.run(opts(dir.resolve("empty"), dir.resolve("o"), new CharTokenizer(), 1), QUIET));
    assertTrue(e.getMessage().contains("empty") && e.getMessage().contains("no input files"), e.getMessage());
    e = assertThrows(DataException.class,
        () -> CreateTfRecords.run(opts(dir.resolve("absent"), dir.resolve("o"), new CharTokenizer(), 1), QUIET));
    assertTrue(e.getMessage().contains("absent") && e.getMessage().contains("no such file or folder"), e.getMessage());

    Path in = corpus(dir);
    Path out = dir.resolve("out");
    CreateTfRecords.run(opts(in, out, new CharTokenizer(), 1), QUIET);
    e = assertThrows(DataException.class, () -> CreateTfRecords.run(new CreateTfRecords.Options(in.toString(), "test",
        out, 4, new CharTokenizer(), 5, 1, 31, 1, false), QUIET));
    assertTrue(e.getMessage().contains(CreateTfRecords.STATE_FILE) && e.getMessage().contains("different settings"),
        e.getMessage());
    Files.delete(out.resolve(CreateTfRecords.STATE_FILE));
    e = assertThrows(DataException.class, () -> CreateTfRecords.run(opts(in, out, new CharTokenizer(), 1), QUIET));
    assertTrue(e.getMessage().contains("already holds test_") && e.getMessage().contains("no create_tfrecords.state.json"), e.getMessage());

    Files.writeString(in.resolve("part1.jsonl"), "{\"text\": \"fine\"}\n{\"txt\": \"oops\"}\n");
    e = assertThrows(DataException.class, () -> CreateTfRecords.run(opts(in, dir.resolve("o2"), new CharTokenizer(), 1), QUIET));
    assertTrue(e.getMessage().contains("part1.jsonl:2") && e.getMessage().contains("\"text\""), e.getMessage());
    assertThrows(DataException.class, () -> new CreateTfRecords.Options(in.toString(), "t", out, 4, new CharTokenizer(),
        5, 50256, 15, 1, false));
  }

  @Test
  void gpt2OnTinyShakespeare(@TempDir Path dir) {
    Path text = Path.of("../../shared/data/tinyshakespeare.txt");
    Assumptions.assumeTrue(Files.exists(text), "skipped: ../shared/data/tinyshakespeare.txt is absent");
    Gpt2Tokenizer gpt2 = new Gpt2Tokenizer();
    CreateTfRecords.Summary s = CreateTfRecords.run(new CreateTfRecords.Options(text.toString(), "shakespeare",
        dir, 100, gpt2, 100, gpt2.eosId(), 2048, 2, false), QUIET);
    assertEquals(338_026, s.tokens()); // GPT-2's 338,025 tokens of tinyshakespeare plus one EOS
    assertEquals(338_026 / 2049, s.records());
    assertEquals(338_026 % 2049, s.discarded());
  }
}
