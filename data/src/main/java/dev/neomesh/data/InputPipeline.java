package dev.neomesh.data;

import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The training (or eval) input: batches of {@code [batch, n_ctx]} inputs and labels from a weighted
 * mixture of datasets, computed by a {@link Sampler} and kept a few steps ahead by background threads
 * (a bounded window of {@code prefetch} batches, in step order). {@link #seek(long)} jumps to any step
 * in constant time, so a resumed run sees exactly the batches it would have seen. {@link #close()}
 * stops the threads and closes the files.
 */
public final class InputPipeline implements Iterator<Batch>, AutoCloseable {
  /** GPT-Neo's {@code create_tfrecords --minimum_size} default, used by the stitch rule. */
  public static final int GPTNEO_MINIMUM_SIZE = 100;

  /** A dataset of the mixture: its config and its model-config entry. */
  public record Source(DatasetConfig config, DatasetEntry entry) {}

  /**
   * @param baseDir folder that relative dataset paths are resolved against
   * @param minimumSize for the rule {@code stitch * minimum_size >= n_ctx}
   * @param prefetch batches kept ready
   * @param threads background threads computing batches
   */
  public record Options(int nCtx, int batchSize, long seed, Path baseDir, int minimumSize, int prefetch, int threads) {
    public static Options of(int nCtx, int batchSize, long seed, Path baseDir) {
      return new Options(nCtx, batchSize, seed, baseDir, GPTNEO_MINIMUM_SIZE, 4, 2);
    }
  }

  private final Sampler sampler;
  private final ExecutorService pool;
  private final ArrayDeque<Future<Batch>> ready = new ArrayDeque<>();
  private final int prefetch;
  private long nextToSubmit;
  private long step;

  private InputPipeline(Sampler sampler, Options o) {
    this.sampler = sampler;
    this.prefetch = Math.max(1, o.prefetch());
    this.pool = Executors.newFixedThreadPool(Math.max(1, o.threads()), CreateTfRecords.daemon("input-pipeline"));
  }

  /** The training stream (each config's {@code path}). */
  public static InputPipeline train(List<Source> sources, Options o) {
    return open(sources, o, false);
  }

  /** The eval stream (each config's {@code eval_path}), with its own random stream. */
  public static InputPipeline eval(List<Source> sources, Options o) {
    return open(sources, o, true);
  }

  private static InputPipeline open(List<Source> sources, Options o, boolean eval) {
    List<DatasetConfig> configs = new ArrayList<>();
    List<DatasetEntry> entries = new ArrayList<>();
    for (Source s : sources) {
      configs.add(s.config());
      entries.add(s.entry());
    }
    Sampler sampler = new Sampler(configs, entries, o.nCtx(), o.batchSize(), o.seed(), o.baseDir(), eval, o.minimumSize());
    return new InputPipeline(sampler, o);
  }

  /** Loads each entry's config from {@code configFolder} (e.g. {@code configs/dataset_configs}). */
  public static List<Source> sources(Path configFolder, List<DatasetEntry> entries) {
    List<Source> out = new ArrayList<>();
    for (DatasetEntry e : entries) out.add(new Source(DatasetConfigs.load(configFolder, e.id()), e));
    return out;
  }

  public Sampler sampler() {
    return sampler;
  }

  /** The step the next call to {@link #next()} returns. */
  public long step() {
    return step;
  }

  /** Makes {@link #next()} return the batch of {@code step} next. */
  public synchronized void seek(long step) {
    if (step < 0) throw new IllegalArgumentException("step " + step);
    // cancel(false): interrupting a thread inside a FileChannel read would close the shared channel
    for (Future<Batch> f : ready) f.cancel(false);
    ready.clear();
    this.step = step;
    this.nextToSubmit = step;
  }

  @Override
  public boolean hasNext() {
    return true;
  }

  @Override
  public synchronized Batch next() {
    while (ready.size() < prefetch) {
      long s = nextToSubmit++;
      ready.add(pool.submit(() -> sampler.batch(s)));
    }
    Future<Batch> f = ready.poll();
    long s = nextToSubmit++;
    ready.add(pool.submit(() -> sampler.batch(s)));
    try {
      Batch b = f.get();
      step = b.step() + 1;
      return b;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for a batch", e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) throw r;
      throw new IllegalStateException(e.getCause());
    }
  }

  @Override
  public synchronized void close() {
    for (Future<Batch> f : ready) f.cancel(false);
    ready.clear();
    pool.shutdownNow();
    sampler.close();
  }
}
