package dev.neomesh.data.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.data.DataException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerTest {
  static final Path SHAKESPEARE = Path.of("../../shared/data/tinyshakespeare.txt");

  @Test
  void gpt2HasGpt2sExactIds() {
    Gpt2Tokenizer t = new Gpt2Tokenizer();
    assertArrayEquals(new int[] {15496, 995}, t.encode("Hello world"));
    assertArrayEquals(new int[] {18435, 995}, t.encode(" Hello world"));
    assertArrayEquals(new int[] {464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13},
        t.encode("The quick brown fox jumps over the lazy dog."));
    assertArrayEquals(new int[] {15496, 50256, 995}, t.encode("Hello<|endoftext|> world"));
    assertEquals(50257, t.vocabSize());
    assertEquals(50256, t.eosId());
    assertEquals(50257, t.paddingId());
    String s = "Grüße, 世界! 🎉 <|endoftext|>tabs\tand\nnewlines";
    assertEquals(s, t.decode(t.encode(s)));
    assertEquals("a<|padding|>", t.decode(new int[] {64, 50257}));
  }

  @Test
  void charTokenizerIsOneIdPerByte() {
    CharTokenizer t = new CharTokenizer();
    assertArrayEquals(new int[] {97, 0xc3, 0xa9}, t.encode("aé"));
    assertEquals("aé", t.decode(new int[] {97, 0xc3, 0xa9}));
    assertEquals(256, t.vocabSize());
    assertTrue(Tokenizers.forEncoderPath("char") instanceof CharTokenizer);
    assertTrue(Tokenizers.forEncoderPath(null) instanceof Gpt2Tokenizer);
    assertTrue(Tokenizers.forDataset("gpt2", true, null, "x.json") instanceof Gpt2Tokenizer);
    DataException e = assertThrows(DataException.class, () -> Tokenizers.forDataset("EleutherAI/gpt-neo", true, null, "x.json"));
    assertTrue(e.getMessage().contains("x.json") && e.getMessage().contains("only \"gpt2\""), e.getMessage());
  }

  static String corpus() {
    StringBuilder b = new StringBuilder();
    String[] words = {"the", "cat", "sat", "on", "mat", "and", "then", "thereafter", "ran", "away", "quickly"};
    java.util.SplittableRandom r = new java.util.SplittableRandom(7);
    for (int i = 0; i < 20_000; i++) {
      b.append(words[Math.min(words.length - 1, (int) Math.floor(-Math.log(1 - r.nextDouble()) * 3))]);
      b.append(i % 17 == 16 ? ".\n" : " ");
    }
    return b.toString();
  }

  @Test
  void trainSaveLoadRoundTrip(@TempDir Path dir) {
    ByteLevelBpeTrainer trainer = new ByteLevelBpeTrainer(290, 2);
    trainer.add(corpus());
    ByteLevelBpeTrainer.Model model = trainer.train();
    assertEquals(290, model.vocab().size());
    assertEquals("<|endoftext|>", model.vocab().get(0));
    assertEquals("<|padding|>", model.vocab().get(1));
    Path file = dir.resolve(ByteLevelBpeTrainer.FILE_NAME);
    ByteLevelBpeTrainer.save(model, file);
    ByteLevelBpeTokenizer t = ByteLevelBpeTokenizer.load(file);
    assertEquals(290, t.vocabSize());
    assertEquals(0, t.eosId());
    assertEquals(1, t.paddingId());
    // frequent words became single tokens; " the" is the most frequent word
    assertEquals(1, t.encode(" the").length);
    assertEquals(1, t.encode(" thereafter").length);
    // NFKC and add_prefix_space as in GPT-Neo's trainer: decode(encode(x)) = " " + x
    for (String s : new String[] {"the cat sat", "unseen wörds ✓ 🎉\ttab", " leading space"}) {
      String expect = s.startsWith(" ") ? s : " " + s;
      assertEquals(expect, t.decode(t.encode(s)));
    }
    int[] ids = t.encode("the<|endoftext|>cat<|padding|>");
    assertEquals(0, ids[1]);
    assertEquals(1, ids[ids.length - 1]);
    for (int id : t.encode(corpus().substring(0, 5000))) assertTrue(id >= 2 && id < 290);
  }

  @Test
  void loadsHuggingFaceFilesWithArrayMergesExactly(@TempDir Path dir) throws Exception {
    StringBuilder vocab = new StringBuilder();
    for (int b = 0; b < 256; b++) {
      String c = String.valueOf(ByteLevel.BYTE_TO_CHAR[b]);
      vocab.append(new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(c)).append(": ").append(b + 1).append(", ");
    }
    vocab.append("\"Ġh\": 257, \"Ġhi\": 258, \"Ġhih\": 259");
    String json = "{\"added_tokens\": [{\"id\": 0, \"content\": \"<|endoftext|>\", \"special\": true}],"
        + " \"normalizer\": null, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false},"
        + " \"model\": {\"type\": \"BPE\", \"vocab\": {" + vocab + "},"
        + " \"merges\": [[\"Ġ\", \"h\"], [\"Ġh\", \"i\"], [\"Ġhi\", \"h\"]]}}";
    Path file = dir.resolve("tokenizer.json");
    Files.writeString(file, json);
    ByteLevelBpeTokenizer t = ByteLevelBpeTokenizer.load(file);
    // "hi hih" -> "hi" (no prefix space: h, i), " hih" -> Ġhih
    assertArrayEquals(new int[] {'h' + 1, 'i' + 1, 259}, t.encode("hi hih"));
    assertArrayEquals(new int[] {258, 0, 'x' + 1}, t.encode(" hi<|endoftext|>x"));
    assertEquals("hi hih", t.decode(t.encode("hi hih")));
  }

  @Test
  void badTokenizerFilesNameTheFile(@TempDir Path dir) throws Exception {
    Path missing = dir.resolve("nope.json");
    DataException e = assertThrows(DataException.class, () -> ByteLevelBpeTokenizer.load(missing));
    assertTrue(e.getMessage().contains("nope.json") && e.getMessage().contains("not found"), e.getMessage());
    Path wordPiece = dir.resolve("wp.json");
    Files.writeString(wordPiece, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}");
    e = assertThrows(DataException.class, () -> ByteLevelBpeTokenizer.load(wordPiece));
    assertTrue(e.getMessage().contains("wp.json") && e.getMessage().contains("WordPiece"), e.getMessage());
    assertThrows(DataException.class, () -> new ByteLevelBpeTrainer(100, 2));
  }

  @Test
  void trainsOnTinyShakespeareQuickly(@TempDir Path dir) throws Exception {
    Assumptions.assumeTrue(Files.exists(SHAKESPEARE), "skipped: ../shared/data/tinyshakespeare.txt is absent");
    String text = Files.readString(SHAKESPEARE);
    long t0 = System.nanoTime();
    ByteLevelBpeTrainer trainer = new ByteLevelBpeTrainer(2000, 2);
    trainer.add(text);
    ByteLevelBpeTrainer.Model model = trainer.train();
    double secs = (System.nanoTime() - t0) / 1e9;
    assertEquals(2000, model.vocab().size());
    assertTrue(secs < 30, "training took " + secs + " s");
    Path file = dir.resolve("tok").resolve(ByteLevelBpeTrainer.FILE_NAME);
    ByteLevelBpeTrainer.save(model, file);
    ByteLevelBpeTokenizer t = ByteLevelBpeTokenizer.load(file);
    int[] ids = t.encode(text);
    assertEquals(" " + text, t.decode(ids));
    // a 2000-token BPE compresses Shakespeare to well under a token per 2.5 bytes
    assertTrue(ids.length < text.length() / 2.5, ids.length + " tokens for " + text.length() + " bytes");
  }
}
