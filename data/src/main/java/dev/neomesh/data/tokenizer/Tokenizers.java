package dev.neomesh.data.tokenizer;

import dev.neomesh.data.DataException;
import java.nio.file.Path;

/**
 * Chooses a tokenizer as GPT-Neo does: a pretrained {@code "gpt2"} is GPT-2's BPE (JTokkit); a path
 * is a HuggingFace {@code tokenizer.json}; {@code "char"} is one token per byte. For
 * {@code create_tfrecords}, a missing {@code --encoder_path} means GPT-2, as in GPT-Neo.
 */
public final class Tokenizers {
  private Tokenizers() {}

  /** For {@code --encoder_path}: null or "gpt2" → GPT-2, "char" → characters, else a tokenizer.json. */
  public static Tokenizer forEncoderPath(String encoderPath) {
    if (encoderPath == null || encoderPath.isEmpty() || encoderPath.equals(Gpt2Tokenizer.NAME)) {
      return new Gpt2Tokenizer();
    }
    if (encoderPath.equals(CharTokenizer.NAME)) return new CharTokenizer();
    return ByteLevelBpeTokenizer.load(Path.of(encoderPath));
  }

  /**
   * For a dataset config's {@code tokenizer_path} and {@code tokenizer_is_pretrained}; a relative
   * path is resolved against {@code baseDir}. {@code configName} names the config in errors.
   */
  public static Tokenizer forDataset(String tokenizerPath, boolean pretrained, Path baseDir, String configName) {
    if (tokenizerPath == null || tokenizerPath.isEmpty()) {
      throw new DataException(configName + ": no tokenizer_path; set it to \"gpt2\" (with"
          + " \"tokenizer_is_pretrained\": true), \"char\", or the path of a tokenizer.json");
    }
    if (tokenizerPath.equals(CharTokenizer.NAME)) return new CharTokenizer();
    if (pretrained) {
      if (tokenizerPath.equals(Gpt2Tokenizer.NAME)) return new Gpt2Tokenizer();
      throw new DataException(configName + ": pretrained tokenizer \"" + tokenizerPath + "\" is not available;"
          + " neomesh ships only \"gpt2\" (or set tokenizer_is_pretrained false and point tokenizer_path at a"
          + " tokenizer.json)");
    }
    Path p = Path.of(tokenizerPath);
    if (!p.isAbsolute() && baseDir != null) p = baseDir.resolve(p);
    return ByteLevelBpeTokenizer.load(p);
  }
}
