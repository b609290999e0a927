package dev.neomesh.data;

import dev.neomesh.data.tokenizer.Tokenizer;
import dev.neomesh.data.tokenizer.Tokenizers;
import java.nio.file.Path;
import java.util.List;

/**
 * A dataset config ({@code configs/dataset_configs/<id>.json}, GPT-Neo's keys): vocabulary size,
 * train and eval globs of files, the tokenizer, and the EOS and padding ids (GPT-Neo's defaults
 * 1 and 0). {@code format} says what the files are: {@value #TFRECORDS} (GPT-Neo's records, the
 * default) or {@value #HDF5} (Cerebras' {@code data[n, 3, max_sequence_length]}). {@code source} is
 * the file it was read from, for messages. Relative paths in it are resolved against a base folder
 * the caller gives (the repository root or the working directory).
 */
public record DatasetConfig(String id, Path source, int nVocab, String path, String evalPath,
    String tokenizerPath, boolean tokenizerIsPretrained, int eosId, int paddingId, String lambadaTokensPath,
    String format) {
  public static final String TFRECORDS = "tfrecords";
  public static final String HDF5 = "hdf5";
  public static final List<String> FORMATS = List.of(TFRECORDS, HDF5);

  /** A config of TFRecords, GPT-Neo's only format. */
  public DatasetConfig(String id, Path source, int nVocab, String path, String evalPath, String tokenizerPath,
      boolean tokenizerIsPretrained, int eosId, int paddingId, String lambadaTokensPath) {
    this(id, source, nVocab, path, evalPath, tokenizerPath, tokenizerIsPretrained, eosId, paddingId,
        lambadaTokensPath, TFRECORDS);
  }

  public DatasetConfig {
    if (format == null || !FORMATS.contains(format)) { // List.of's contains throws on null
      throw new DataException(source + ": unknown \"format\" \"" + format + "\"; did you mean \""
          + DatasetConfigs.closest(String.valueOf(format), FORMATS) + "\"? (formats: " + String.join(", ", FORMATS)
          + "; leave the key out for tfrecords)");
    }
    for (String p : new String[] {path, evalPath}) requireFormatFits(source, format, p);
  }

  /** A path to the other format's files means a forgotten (or stray) {@code format} key. */
  private static void requireFormatFits(Path source, String format, String path) {
    if (path == null) return;
    if ((path.endsWith(".h5") || path.endsWith(".hdf5")) && !format.equals(HDF5)) {
      throw new DataException(source + ": path " + path + " names HDF5 files but the config's format is " + format
          + ": add \"format\": \"hdf5\" (Cerebras' layout, docs/DATA.md)");
    }
    if (path.endsWith(".tfrecords") && format.equals(HDF5)) {
      throw new DataException(source + ": path " + path + " names TFRecord files but the config's format is hdf5:"
          + " drop \"format\" (tfrecords is the default)");
    }
  }

  /** True when the files are HDF5 in Cerebras' layout. */
  public boolean isHdf5() {
    return format.equals(HDF5);
  }

  /** The tokenizer this config names ({@link Tokenizers#forDataset}). */
  public Tokenizer tokenizer(Path baseDir) {
    return Tokenizers.forDataset(tokenizerPath, tokenizerIsPretrained, baseDir, String.valueOf(source));
  }

  /** True when there is an eval set. */
  public boolean hasEval() {
    return evalPath != null && !evalPath.isBlank();
  }
}
