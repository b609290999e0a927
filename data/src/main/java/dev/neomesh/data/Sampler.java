package dev.neomesh.data;

import dev.neomesh.data.hdf5.CerebrasHdf5File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Turns indexed records into batches, as a pure function of (seed, step): row {@code r} of step
 * {@code k} is global sample {@code g = k * batch + r}; its dataset is drawn by weight from a random
 * stream keyed by (seed, k, r); its records are positions {@code g * stitch .. g * stitch + stitch - 1}
 * of that dataset's record order, which is a fresh seeded permutation every epoch. So any step is
 * computed directly (no replay), the same seed always gives the same batches, and within one dataset
 * every record is used once per epoch.
 *
 * <p>An HDF5 dataset ({@code "format": "hdf5"}) is sampled the same way in mode {@code chunks}: its
 * records are Cerebras samples, each already n_ctx input ids with its own labels, used as they are
 * ({@link #row}). The documents modes stitch variable-length documents, which such samples are not,
 * so they are refused for it.
 */
public final class Sampler implements AutoCloseable {
  private static final long EVAL_SALT = 0x5eedE7a1L;

  private final List<Source> sources = new ArrayList<>();
  private final double[] cumulative;
  private final int nCtx;
  private final int batchSize;
  private final long seed;

  /** One dataset of the mixture, with its samples and permutation cache. */
  private static final class Source {
    final DatasetConfig config;
    final DatasetEntry entry;
    final Split index;
    final long seed;
    long permEpoch = -1;
    int[] perm;

    Source(DatasetConfig config, DatasetEntry entry, Split index, long seed) {
      this.config = config;
      this.entry = entry;
      this.index = index;
      this.seed = seed;
    }

    synchronized int[] permutation(long epoch) {
      if (epoch != permEpoch) {
        int n = index.size();
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        SplittableRandom rng = new SplittableRandom(mix(seed, epoch));
        for (int i = n - 1; i > 0; i--) {
          int j = rng.nextInt(i + 1);
          int t = p[i];
          p[i] = p[j];
          p[j] = t;
        }
        perm = p;
        permEpoch = epoch;
      }
      return perm;
    }

    int record(long position) {
      int n = index.size();
      return permutation(position / n)[(int) (position % n)];
    }
  }

  /** Which records a row used and where its window starts in their stitched sequence. */
  public record Window(int dataset, int[] records, int offset, int[] tokens) {}

  /** One row of a batch: n_ctx inputs and n_ctx labels, and which dataset and records gave them. */
  public record Row(int dataset, int[] records, int[] inputs, int[] labels) {}

  /**
   * @param eval read each config's {@code eval_path} instead of {@code path}
   * @param minimumSize GPT-Neo's minimum document size for the rule {@code stitch * minimum_size >= n_ctx}
   */
  public Sampler(List<DatasetConfig> configs, List<DatasetEntry> entries, int nCtx, int batchSize, long seed,
      Path baseDir, boolean eval, int minimumSize) {
    if (configs.size() != entries.size() || configs.isEmpty()) {
      throw new IllegalArgumentException("one config per dataset entry, at least one");
    }
    if (nCtx < 1 || batchSize < 1) {
      throw new DataException("n_ctx " + nCtx + " and batch size " + batchSize + " must be positive");
    }
    this.nCtx = nCtx;
    this.batchSize = batchSize;
    this.seed = eval ? seed ^ EVAL_SALT : seed;
    cumulative = new double[configs.size()];
    double total = 0;
    try {
      for (int d = 0; d < configs.size(); d++) {
        DatasetConfig c = configs.get(d);
        DatasetEntry e = entries.get(d);
        requireChunksForHdf5(c, e);
        if (!e.mode().equals(DatasetEntry.CHUNKS) && (long) e.stitch() * minimumSize < nCtx) {
          throw new DataException("datasets: entry " + e.id() + " has stitch " + e.stitch() + " and mode " + e.mode()
              + ": stitch * minimum_size = " + e.stitch() + " * " + minimumSize + " = " + (long) e.stitch() * minimumSize
              + " is smaller than n_ctx " + nCtx + ", so a stitched sample may not fill a context; raise stitch to at"
              + " least " + ((nCtx + minimumSize - 1) / minimumSize) + " (GPT-Neo's rule)");
        }
        String glob = eval ? c.evalPath() : c.path();
        if (eval && !c.hasEval()) {
          throw new DataException(c.source() + ": dataset " + c.id() + " has no eval_path; set one, or run without"
              + " evaluation (eval_steps 0)");
        }
        String what = String.valueOf(c.source());
        Split index = c.isHdf5() ? Hdf5Samples.open(glob, baseDir, what, nCtx) : RecordIndex.open(glob, baseDir, what);
        sources.add(new Source(c, e, index, mix(this.seed, d + 1)));
        total += e.weight();
        cumulative[d] = total;
      }
    } catch (RuntimeException ex) {
      close();
      throw ex;
    }
    for (int d = 0; d < cumulative.length; d++) cumulative[d] /= total;
  }

  /**
   * Checks an HDF5 dataset as training will read split {@code glob} of it (the mode; each file's
   * layout and sequence length) without sampling, so a run can refuse it before it builds anything.
   * A TFRecord dataset passes: its records are checked as they are read.
   */
  public static void checkHdf5(DatasetConfig c, DatasetEntry e, String glob, int nCtx, Path baseDir) {
    if (!c.isHdf5()) return;
    requireChunksForHdf5(c, e);
    Hdf5Samples.open(glob, baseDir, String.valueOf(c.source()), nCtx).close();
  }

  /** HDF5 samples are used as they are: the documents modes, which stitch documents, do not apply. */
  private static void requireChunksForHdf5(DatasetConfig c, DatasetEntry e) {
    if (c.isHdf5() && !e.mode().equals(DatasetEntry.CHUNKS)) {
      throw new DataException("datasets: entry " + e.id() + " has mode " + e.mode() + ", but " + c.source()
          + " is \"format\": \"hdf5\", whose samples are fixed-length sequences with their own labels and"
          + " mask, not documents to stitch: use mode chunks ([\"" + e.id() + "\"] or [\"" + e.id() + "\", 1, \""
          + DatasetEntry.CHUNKS + "\", " + e.weight() + "])");
    }
  }

  public int nCtx() {
    return nCtx;
  }

  public int batchSize() {
    return batchSize;
  }

  /** Number of records of dataset {@code d}. */
  public int records(int d) {
    return sources.get(d).index.size();
  }

  /** The batch of {@code step}. */
  public Batch batch(long step) {
    int[] inputs = new int[batchSize * nCtx];
    int[] labels = new int[batchSize * nCtx];
    for (int r = 0; r < batchSize; r++) {
      Row row = row(step, r);
      System.arraycopy(row.inputs(), 0, inputs, r * nCtx, nCtx);
      System.arraycopy(row.labels(), 0, labels, r * nCtx, nCtx);
    }
    return new Batch(step, batchSize, nCtx, inputs, labels);
  }

  /**
   * Row {@code row} of {@code step}. From TFRecords: the {@link #window} shifted by one (inputs
   * {@code tokens[0:n_ctx]}, labels {@code tokens[1:n_ctx+1]}). From HDF5: the sample's input ids,
   * and its labels with {@code padding_id} where its mask is 0.
   */
  public Row row(long step, int row) {
    SplittableRandom rng = random(step, row);
    int d = dataset(rng);
    Source s = sources.get(d);
    if (s.index instanceof Hdf5Samples h) {
      int rec = s.record(step * batchSize + row);
      CerebrasHdf5File.Sample sample = h.read(rec);
      int[] labels = sample.labelsWithPadding(s.config.paddingId());
      checkIds(s, rec, sample.inputIds(), null);
      checkIds(s, rec, sample.labels(), sample.mask()); // padding_id need not be in the vocabulary
      return new Row(d, new int[] {rec}, sample.inputIds(), labels);
    }
    Window w = window(s, d, rng, step, row);
    return new Row(d, w.records(), java.util.Arrays.copyOf(w.tokens(), nCtx),
        java.util.Arrays.copyOfRange(w.tokens(), 1, nCtx + 1));
  }

  /** Row {@code row} of {@code step} of a TFRecord dataset: n_ctx + 1 tokens and where they came from. */
  public Window window(long step, int row) {
    SplittableRandom rng = random(step, row);
    int d = dataset(rng);
    if (sources.get(d).index instanceof Hdf5Samples) {
      throw new IllegalStateException("dataset " + sources.get(d).config.id() + " is HDF5: its rows are samples with"
          + " their own labels, not windows of a token stream; use row(step, row)");
    }
    return window(sources.get(d), d, rng, step, row);
  }

  private SplittableRandom random(long step, int row) {
    return new SplittableRandom(mix(mix(seed, step), row));
  }

  /** The row's dataset, drawn by weight (the generator's first draw, when there are several). */
  private int dataset(SplittableRandom rng) {
    int d = 0;
    if (sources.size() > 1) {
      double u = rng.nextDouble();
      while (d < cumulative.length - 1 && u >= cumulative[d]) d++;
    }
    return d;
  }

  private Window window(Source s, int d, SplittableRandom rng, long step, int row) {
    long g = step * batchSize + row;
    int need = nCtx + 1;
    int[] out = new int[need];
    if (s.entry.mode().equals(DatasetEntry.CHUNKS)) {
      int rec = s.record(g);
      int[] ids = checked(s, rec);
      int n = Math.min(need, ids.length);
      System.arraycopy(ids, 0, out, 0, n);
      java.util.Arrays.fill(out, n, need, s.config.paddingId());
      return new Window(d, new int[] {rec}, 0, out);
    }
    int stitch = s.entry.stitch();
    int[] recs = new int[stitch];
    int[][] docs = new int[stitch][];
    int length = stitch - 1;
    for (int j = 0; j < stitch; j++) {
      recs[j] = s.record(g * stitch + j);
      docs[j] = checked(s, recs[j]);
      length += docs[j].length;
    }
    int offset = 0;
    if (s.entry.mode().equals(DatasetEntry.DOCUMENTS_RANDOM) && length > need) {
      offset = rng.nextInt(length - need + 1);
    }
    // Copy [offset, offset + need) of d1 EOS d2 EOS ... dn, padding past the end.
    int pos = 0;
    int w = 0;
    for (int j = 0; j < stitch && w < need; j++) {
      int[] doc = docs[j];
      int from = Math.max(0, offset - pos);
      if (from < doc.length) {
        int n = Math.min(doc.length - from, need - w);
        System.arraycopy(doc, from, out, w, n);
        w += n;
      }
      pos += doc.length;
      if (j + 1 < stitch) {
        if (pos >= offset && w < need) out[w++] = s.config.eosId();
        pos++;
      }
    }
    java.util.Arrays.fill(out, w, need, s.config.paddingId());
    return new Window(d, recs, offset, out);
  }

  private static int[] checked(Source s, int rec) {
    int[] ids = ((RecordIndex) s.index).read(rec);
    checkIds(s, rec, ids, null);
    return ids;
  }

  /** Every id (where {@code mask}, when given, is 1) is in [0, n_vocab). */
  private static void checkIds(Source s, int rec, int[] ids, int[] mask) {
    int nVocab = s.config.nVocab();
    for (int t = 0; t < ids.length; t++) {
      int id = ids[t];
      if ((id >= nVocab || id < 0) && (mask == null || mask[t] != 0)) {
        throw new DataException(s.index.file(rec) + ": " + s.index.where(rec) + " holds token id " + id
            + ", not below n_vocab " + nVocab + " of " + s.config.source()
            + "; the records were made with another tokenizer: re-create them or fix n_vocab");
      }
    }
  }

  static long mix(long a, long b) {
    return splitmix(a ^ splitmix(b + 0x632BE59BD9B4E019L));
  }

  private static long splitmix(long z) {
    z += 0x9E3779B97F4A7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  @Override
  public void close() {
    for (Source s : sources) s.index.close();
  }
}
