package dev.neomesh.data.tokenizer;

/**
 * Text to token ids and back. Implementations: {@link Gpt2Tokenizer} (GPT-2's exact ids),
 * {@link ByteLevelBpeTokenizer} (a HuggingFace {@code tokenizer.json}), {@link CharTokenizer} (one id
 * per byte). {@link Tokenizers} chooses one from a dataset config or an {@code --encoder_path}.
 * Implementations are thread-safe.
 */
public interface Tokenizer {
  int[] encode(String text);

  String decode(int[] ids);

  /** Number of ids this tokenizer can produce (every id is below it). */
  int vocabSize();

  int eosId();

  int paddingId();

  /** A short name for messages and state files, e.g. {@code gpt2}, {@code char}, a file path. */
  String name();
}
