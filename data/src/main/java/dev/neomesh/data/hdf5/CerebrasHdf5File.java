package dev.neomesh.data.hdf5;

import dev.neomesh.data.DataException;
import io.jhdf.HdfFile;
import io.jhdf.api.Dataset;
import io.jhdf.api.Node;
import io.jhdf.api.dataset.ContiguousDataset;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One HDF5 file in Cerebras' GPT layout: an integer dataset {@code data} of shape
 * {@code [n, 3, max_sequence_length]}, where row 0 of a sample holds its input ids, row 1 its
 * attention mask (1: a real token, 0: padding) and row 2 its labels (the ids shifted by one).
 *
 * <p>{@link #open} checks the layout and probes the file's end, so a wrong or cut-short file fails
 * when a run starts, named, rather than mid-training. Every problem is a {@link DataException}
 * naming the file and the fix. Reads are serialized on the file: jhdf does not promise that one
 * {@link HdfFile} can be read from several threads, and one sample is a few kilobytes, so the lock
 * costs the sampler threads little.
 */
public final class CerebrasHdf5File implements AutoCloseable {
  public static final String DATASET = "data";
  static final int ROWS = 3;
  static final String LAYOUT = "Cerebras' layout is " + DATASET + "[n, 3, max_sequence_length] of integers"
      + " (input ids, attention mask, labels)";
  private static final String RECREATE = "re-create it (e.g. with Cerebras' create_hdf5_dataset.py)";

  /** One sample as stored; {@code mask[i]} is 0 or 1 (checked). */
  public record Sample(int[] inputIds, int[] mask, int[] labels) {
    /**
     * The labels to train on: {@code padding_id} where the mask is 0. neomesh's batches carry no
     * loss mask, so a masked position becomes what a TFRecord sample's padding is, a
     * {@code padding_id} label; this is the one place that rule lives.
     */
    public int[] labelsWithPadding(int paddingId) {
      int[] out = labels.clone();
      for (int t = 0; t < out.length; t++) {
        if (mask[t] == 0) out[t] = paddingId;
      }
      return out;
    }
  }

  private final Path path;
  private final HdfFile file;
  private final Dataset data;
  private final int size;
  private final int sequenceLength;

  private CerebrasHdf5File(Path path, HdfFile file, Dataset data, int size, int sequenceLength) {
    this.path = path;
    this.file = file;
    this.data = data;
    this.size = size;
    this.sequenceLength = sequenceLength;
  }

  /** Opens {@code path} and checks it is in Cerebras' layout. */
  public static CerebrasHdf5File open(Path path) {
    if (!Files.isRegularFile(path)) throw new DataException(path + ": no such HDF5 file; check the dataset's path");
    HdfFile file = null;
    try {
      file = new HdfFile(path);
      Dataset data = dataset(path, file);
      int[] dims = data.getDimensions();
      CerebrasHdf5File f = new CerebrasHdf5File(path, file, data, dims[0], dims[2]);
      f.checkComplete();
      return f;
    } catch (DataException e) {
      closeQuietly(file);
      throw e;
    } catch (RuntimeException e) {
      // jhdf reports bad bytes with whatever it hits (HdfException, buffer or index errors)
      closeQuietly(file);
      throw corrupt(path, e);
    }
  }

  private static Dataset dataset(Path path, HdfFile file) {
    Node node = file.getChildren().get(DATASET);
    if (!(node instanceof Dataset data)) {
      List<String> names = new ArrayList<>(file.getChildren().keySet());
      throw new DataException(path + ": " + (node == null ? "no dataset named \"" + DATASET + "\"" : "\"" + DATASET
          + "\" is a " + node.getType().name().toLowerCase() + ", not a dataset") + " (the file holds: "
          + (names.isEmpty() ? "nothing" : String.join(", ", names)) + "); " + LAYOUT + ": re-create the file in"
          + " that layout, or point the dataset config's path at files that are");
    }
    int[] dims = data.getDimensions();
    if (dims.length != 3 || dims[1] != ROWS) {
      throw new DataException(path + ": dataset \"" + DATASET + "\" has shape " + Arrays.toString(dims) + "; " + LAYOUT
          + (dims.length == 3 ? ": its middle dimension must be 3" : ": it must have rank 3") + "; re-create the file"
          + " in that layout");
    }
    Class<?> type = data.getJavaType();
    if (type != int.class && type != long.class && type != short.class && type != byte.class) {
      throw new DataException(path + ": dataset \"" + DATASET + "\" holds " + type.getSimpleName() + " values; token"
          + " ids must be integers (" + LAYOUT + "); re-create the file with an integer dtype (int32)");
    }
    if (dims[0] == 0) {
      throw new DataException(path + ": dataset \"" + DATASET + "\" holds no samples (shape " + Arrays.toString(dims)
          + "); " + RECREATE + " or leave it out of the dataset's path");
    }
    if (dims[2] == 0) {
      throw new DataException(path + ": dataset \"" + DATASET + "\" has max_sequence_length 0; " + RECREATE);
    }
    return data;
  }

  /**
   * A cut-short file often still opens (the metadata is at its start): a contiguous array must end
   * inside the file, and reading the last sample catches a missing chunk of a chunked one.
   */
  private void checkComplete() {
    if (data instanceof ContiguousDataset c) {
      long end = c.getDataAddress() + data.getSizeInBytes();
      long fileSize = file.size();
      if (end > fileSize) {
        throw new DataException(path + ": truncated: dataset \"" + DATASET + "\" needs bytes up to " + end
            + " but the file ends at byte " + fileSize + "; the file was cut short: " + RECREATE);
      }
    }
    read(size - 1, 1);
  }

  public Path path() {
    return path;
  }

  /** Number of samples, {@code n}. */
  public int size() {
    return size;
  }

  /** Tokens per sample, {@code max_sequence_length}. */
  public int sequenceLength() {
    return sequenceLength;
  }

  /** Sample {@code i}. */
  public Sample read(int i) {
    return read(i, 1).get(0);
  }

  /** Samples {@code from .. from + count - 1}, in one read. */
  public List<Sample> read(int from, int count) {
    if (from < 0 || count < 0 || from + count > size) {
      throw new IndexOutOfBoundsException("samples " + from + ".." + (from + count - 1) + " of " + size);
    }
    Object block;
    synchronized (this) {
      try {
        block = data.getData(new long[] {from, 0, 0}, new int[] {count, ROWS, sequenceLength});
      } catch (RuntimeException e) {
        throw corrupt(path, e);
      }
    }
    List<Sample> out = new ArrayList<>(count);
    Object[] samples = (Object[]) block;
    for (int s = 0; s < count; s++) {
      Object[] rows = (Object[]) samples[s];
      int sample = from + s;
      int[] mask = ints(rows[1], sample, "attention mask");
      for (int t = 0; t < mask.length; t++) {
        if (mask[t] != 0 && mask[t] != 1) {
          throw new DataException(path + ": sample " + sample + " has attention mask " + mask[t] + " at position " + t
              + "; a mask is 0 (padding) or 1 (a token) in " + LAYOUT + ": re-create the file");
        }
      }
      out.add(new Sample(ints(rows[0], sample, "input id"), mask, ints(rows[2], sample, "label")));
    }
    return out;
  }

  /** jhdf returns the array in the file's integer width; token ids fit an int. */
  private int[] ints(Object row, int sample, String what) {
    if (row instanceof int[] a) return a;
    int[] out = new int[sequenceLength];
    for (int t = 0; t < sequenceLength; t++) {
      long v;
      if (row instanceof long[] a) {
        v = a[t];
      } else if (row instanceof short[] a) {
        v = a[t];
      } else {
        v = ((byte[]) row)[t];
      }
      if (v != (int) v) {
        throw new DataException(path + ": sample " + sample + " holds " + what + " " + v + " at position " + t
            + ", beyond any vocabulary; the file is corrupt or not token ids: " + RECREATE);
      }
      out[t] = (int) v;
    }
    return out;
  }

  private static DataException corrupt(Path path, RuntimeException e) {
    String why = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    return new DataException(path + ": not a readable HDF5 file (" + why + "); it is corrupt or"
        + " truncated: " + RECREATE, e);
  }

  private static void closeQuietly(HdfFile file) {
    if (file != null) file.close();
  }

  @Override
  public void close() {
    file.close();
  }
}
