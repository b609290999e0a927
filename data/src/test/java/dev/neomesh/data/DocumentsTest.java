package dev.neomesh.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.luben.zstd.ZstdOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DocumentsTest {
  static void zstd(Path file, String text) throws Exception {
    try (OutputStream o = new ZstdOutputStream(Files.newOutputStream(file))) {
      o.write(text.getBytes(StandardCharsets.UTF_8));
    }
  }

  static List<String> texts(String input) {
    try (Stream<Document> s = Documents.stream(Documents.inputFiles(input))) {
      return s.map(Document::text).toList();
    }
  }

  @Test
  void readsEveryFormatRecursivelyInSortedOrder(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("a.txt"), "alpha\nstill alpha");
    Files.createDirectories(dir.resolve("sub"));
    Files.writeString(dir.resolve("sub/b.jsonl"), "{\"text\": \"b1\"}\n\n{\"text\": \"b2\", \"meta\": 1}\n");
    zstd(dir.resolve("sub/c.jsonl.zst"), "{\"text\": \"c1\"}\n{\"text\": \"c2 é\"}\n");
    zstd(dir.resolve("d.zst"), "delta");
    Files.writeString(dir.resolve("ignored.csv"), "x");
    assertEquals(List.of("alpha\nstill alpha", "delta", "b1", "b2", "c1", "c2 é"), texts(dir.toString()));
    assertEquals(List.of("b1", "b2", "c1", "c2 é"), texts(dir + "/sub/*.jsonl*"));
    assertEquals(List.of("alpha\nstill alpha", "b1", "b2"), texts(dir + "/**.{txt,jsonl}"));
  }

  @Test
  void badInputsNameTheFileAndLine(@TempDir Path dir) throws Exception {
    DataException e = assertThrows(DataException.class, () -> Documents.inputFiles(dir.resolve("missing").toString()));
    assertTrue(e.getMessage().contains("missing") && e.getMessage().contains("no such file or folder"), e.getMessage());
    Files.createDirectories(dir.resolve("empty"));
    Files.writeString(dir.resolve("empty/notes.csv"), "x");
    e = assertThrows(DataException.class, () -> Documents.inputFiles(dir.resolve("empty").toString()));
    assertTrue(e.getMessage().contains("no input files") && e.getMessage().contains("skipped 1"), e.getMessage());

    Path bad = dir.resolve("bad.jsonl");
    Files.writeString(bad, "{\"text\": \"ok\"}\n{\"text\": \"ok\"}\nnot json\n");
    e = assertThrows(DataException.class, () -> texts(bad.toString()));
    assertTrue(e.getMessage().contains("bad.jsonl:3") && e.getMessage().contains("not valid JSON"), e.getMessage());
    Path noText = dir.resolve("notext.jsonl");
    Files.writeString(noText, "{\"body\": \"x\"}\n");
    e = assertThrows(DataException.class, () -> texts(noText.toString()));
    assertTrue(e.getMessage().contains("notext.jsonl:1") && e.getMessage().contains("no \"text\" field"), e.getMessage());

    Path cut = dir.resolve("cut.jsonl.zst");
    zstd(cut, "{\"text\": \"" + "x".repeat(100_000) + "\"}\n".repeat(3));
    byte[] all = Files.readAllBytes(cut);
    Files.write(cut, java.util.Arrays.copyOf(all, all.length / 2));
    e = assertThrows(DataException.class, () -> texts(cut.toString()));
    assertTrue(e.getMessage().contains("cut.jsonl.zst") && e.getMessage().contains("truncated"), e.getMessage());
  }
}
