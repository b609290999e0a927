package dev.neomesh.data.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** GPT-2's HuggingFace files derived from JTokkit's ranks: GPT-2's known sizes and first merges. */
class Gpt2FilesTest {
  @Test
  void derivesGpt2sVocabularyAndMerges() {
    Gpt2Files.Files f = Gpt2Files.derive();
    assertEquals(50257, f.vocab().size()); // 50256 BPE tokens and <|endoftext|>
    assertEquals(50000, f.merges().size()); // 50256 - 256 byte tokens
    assertEquals("Ġ t", f.merges().get(0)); // GPT-2's merges.txt starts "Ġ t", "Ġ a", "h e"
    assertEquals("Ġ a", f.merges().get(1));
    assertEquals("h e", f.merges().get(2));
    assertEquals(50256, f.vocab().get("<|endoftext|>"));
    assertEquals(464, f.vocab().get("The"));
    assertTrue(f.mergesText().startsWith("#version: 0.2\nĠ t\n"));
  }
}
