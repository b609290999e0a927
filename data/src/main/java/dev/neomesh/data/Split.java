package dev.neomesh.data;

import java.nio.file.Path;

/**
 * The samples of one dataset split (its {@code path} or {@code eval_path}), by number, whatever
 * the files' format: what the {@link Sampler} draws from and permutes.
 */
sealed interface Split extends AutoCloseable permits RecordIndex, Hdf5Samples {
  /** Number of samples (TFRecord records, or HDF5 sequences). */
  int size();

  /** The file sample {@code i} is in. */
  Path file(int i);

  /** Where sample {@code i} is in its file, for messages: "the record at byte offset 1234", "sample 7". */
  String where(int i);

  @Override
  void close();
}
