package dev.neomesh.data;

import dev.neomesh.data.tokenizer.Tokenizer;
import dev.neomesh.data.tokenizer.Tokenizers;
import java.nio.file.Path;

/**
 * A dataset config ({@code configs/dataset_configs/<id>.json}, GPT-Neo's keys): vocabulary size,
 * train and eval globs of TFRecords, the tokenizer, and the EOS and padding ids (GPT-Neo's defaults
 * 1 and 0). {@code source} is the file it was read from, for messages. Relative paths in it are
 * resolved against a base folder the caller gives (the repository root or the working directory).
 */
public record DatasetConfig(String id, Path source, int nVocab, String path, String evalPath,
    String tokenizerPath, boolean tokenizerIsPretrained, int eosId, int paddingId, String lambadaTokensPath) {

  /** The tokenizer this config names ({@link Tokenizers#forDataset}). */
  public Tokenizer tokenizer(Path baseDir) {
    return Tokenizers.forDataset(tokenizerPath, tokenizerIsPretrained, baseDir, String.valueOf(source));
  }

  /** True when there is an eval set. */
  public boolean hasEval() {
    return evalPath != null && !evalPath.isBlank();
  }
}
