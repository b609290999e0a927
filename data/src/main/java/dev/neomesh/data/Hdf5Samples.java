package dev.neomesh.data;

import dev.neomesh.data.hdf5.CerebrasHdf5File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The samples of one HDF5 dataset split (a glob of files in Cerebras' layout,
 * {@link CerebrasHdf5File}), numbered across its files in natural file order: the HDF5 counterpart
 * of {@link RecordIndex}. Every file's sequence length must be the model's n_ctx: a sample is
 * already a fixed-length input with its own labels, so unlike a TFRecord document it cannot be cut
 * or padded to fit without changing what it trains on.
 */
public final class Hdf5Samples implements Split {
  private final List<CerebrasHdf5File> files;
  /** {@code starts[f]}: the number of the first sample of file {@code f}; {@code starts[files]}: the total. */
  private final long[] starts;

  private Hdf5Samples(List<CerebrasHdf5File> files, long[] starts) {
    this.files = files;
    this.starts = starts;
  }

  /**
   * Opens the files matched by {@code glob} (relative to {@code baseDir}), each checked to hold
   * samples of {@code nCtx} tokens; {@code what} names the dataset config in errors.
   */
  public static Hdf5Samples open(String glob, Path baseDir, String what, int nCtx) {
    List<Path> paths = RecordIndex.resolve(glob, baseDir, what);
    List<CerebrasHdf5File> files = new ArrayList<>();
    long[] starts = new long[paths.size() + 1];
    try {
      for (Path p : paths) {
        CerebrasHdf5File f = CerebrasHdf5File.open(p);
        files.add(f);
        if (f.sequenceLength() != nCtx) {
          throw new DataException(p + ": its samples are " + f.sequenceLength() + " tokens long (max_sequence_length"
              + " of data[" + f.size() + ", 3, " + f.sequenceLength() + "]) but the model's n_ctx is " + nCtx + " ("
              + what + "); HDF5 samples are used as they are, not cut or padded: set n_ctx to " + f.sequenceLength()
              + " (e.g. --set n_ctx=" + f.sequenceLength() + "), or re-create the files with max_sequence_length "
              + nCtx);
        }
        starts[files.size()] = starts[files.size() - 1] + f.size();
      }
    } catch (RuntimeException e) {
      files.forEach(CerebrasHdf5File::close);
      throw e;
    }
    long total = starts[files.size()];
    if (total > Integer.MAX_VALUE) {
      files.forEach(CerebrasHdf5File::close);
      throw new DataException(what + ": " + glob + " holds " + total + " samples, more than the sampler numbers ("
          + Integer.MAX_VALUE + "); split the dataset into several configs and mix them by weight");
    }
    return new Hdf5Samples(files, starts);
  }

  @Override
  public int size() {
    return (int) starts[files.size()];
  }

  /** Sample {@code i} as stored. */
  public CerebrasHdf5File.Sample read(int i) {
    int f = fileOf(i);
    return files.get(f).read((int) (i - starts[f]));
  }

  @Override
  public Path file(int i) {
    return files.get(fileOf(i)).path();
  }

  @Override
  public String where(int i) {
    return "sample " + (i - starts[fileOf(i)]);
  }

  private int fileOf(int i) {
    if (i < 0 || i >= size()) throw new IndexOutOfBoundsException("sample " + i + " of " + size());
    int at = Arrays.binarySearch(starts, i);
    // an exact hit is a file's first sample (no file is empty: CerebrasHdf5File.open refuses those)
    return at >= 0 ? at : -at - 2;
  }

  @Override
  public void close() {
    files.forEach(CerebrasHdf5File::close);
  }
}
