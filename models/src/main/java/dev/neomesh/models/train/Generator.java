package dev.neomesh.models.train;

import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.tensorflow.Tensor;

/**
 * Generates continuations with a model's compiled decoding programs ({@link Generative}), kept
 * open so that many prompts ({@code --interactive}) reuse one compilation. A call left-pads the
 * rows to a whole number of prefill chunks, runs the prefill chunk by chunk (each run writes its
 * tokens' keys and values and draws a next id), then one step per new token; only the rows' ids
 * cross between host and devices.
 *
 * <p>A row's context is the cache's {@code n_ctx} slots. When the next token would not fit, the
 * rows are prefilled again from their last {@code n_ctx / 2} tokens (at positions from 0, as a
 * fresh prompt), and generation goes on: each token sees between n_ctx/2 and n_ctx tokens, and the
 * cost of the re-prefill is spread over the next n_ctx/2 tokens. A prompt longer than
 * {@code n_ctx - chunk} is cut to its last n_ctx/2 tokens the same way.
 */
public final class Generator implements AutoCloseable {
  private final MeshRuntime rt;
  private final Generative.Decoder d;
  private final int rows;
  private final int chunk;
  private final int slots;
  private final long step;
  /** Each row's left padding in the cache, set by a prefill and fed to every run after it. */
  private int[] pad;

  /** What one call produced: each row's new ids, and the times to the first token and to the end. */
  public record Output(List<int[]> ids, double firstTokenSeconds, double seconds) {
    /** New tokens of all rows per second of the call. */
    public double tokensPerSecond() {
      long n = ids.stream().mapToLong(a -> a.length).sum();
      return seconds > 0 ? n / seconds : 0;
    }
  }

  /**
   * Sees each new token: row, its id, and its index among the row's new tokens; returns true when
   * the row is finished (a stop text); EOS finishes a row anyway.
   */
  @FunctionalInterface
  public interface Listener {
    boolean token(int row, int id, int index);
  }

  private Generator(MeshRuntime rt, Generative.Decoder d, long step) {
    this.rt = rt;
    this.d = d;
    this.rows = d.pad().shape().get(0).size();
    this.chunk = d.prefill().tokens().shape().get(1).size();
    this.slots = d.slots();
    this.step = step;
  }

  /**
   * The spans of the step programs: doubling from n_ctx/8 to n_ctx, so a token at slot s reads at
   * most about 2s global cache slots (and at least n_ctx/8); only n_ctx when the layout splits
   * {@code memory_length} (a span is a slice of the cache, which needs the dim whole).
   */
  public static List<Integer> spans(int nCtx, dev.neomesh.mesh.LayoutRules rules) {
    if (rules.axisFor("memory_length").isPresent()) {
      return List.of(nCtx);
    }
    List<Integer> spans = new ArrayList<>();
    for (int span = Math.max(1, nCtx / 8); span < nCtx; span *= 2) {
      spans.add(span);
    }
    spans.add(nCtx);
    return spans;
  }

  /** The prefill chunk for a context of {@code nCtx}: 128 tokens, at most half the context. */
  public static int defaultChunk(int nCtx) {
    return Math.max(1, Math.min(128, nCtx / 2));
  }

  /**
   * Compiles the decoding programs of {@code model} for {@code wanted} rows (rounded up to the data
   * parallel replicas), with the {@link #defaultChunk} and {@link #spans} of the trainer's context and
   * layout, drawing with {@code sampling}, and loads the trainer's weights: checkpoint {@code step}
   * (the latest when null) or its initial weights.
   */
  public static Generator open(Trainer trainer, Generative model, int wanted, Sampling sampling, Long step) {
    trainer.devices();
    trainer.requireWeights(step, "sample from");
    int rows = trainer.batchFor(wanted);
    MeshGraph g = new MeshGraph(trainer.settings().seed());
    int nCtx = trainer.settings().nCtx();
    Generative.Decoder d = model.decoder(new MeshOps(g), rows, defaultChunk(nCtx), sampling,
        spans(nCtx, trainer.settings().layout()));
    MeshRuntime rt = trainer.lower(g);
    try {
      long loaded = trainer.loadWeights(rt, d.parameters(), step, "sample from");
      return new Generator(rt, d, loaded);
    } catch (RuntimeException e) {
      rt.close();
      throw e;
    }
  }

  /**
   * A generator on programs {@code d} already lowered into {@code rt}, whose weights are set (they
   * stand for checkpoint {@code step}); it closes {@code rt}.
   */
  public static Generator on(MeshRuntime rt, Generative.Decoder d, long step) {
    return new Generator(rt, d, step);
  }

  /** The checkpoint step of the weights (0 for imported weights). */
  public long step() {
    return step;
  }

  /** Rows of one call. */
  public int rows() {
    return rows;
  }

  /** Bytes of decoding state (key/value caches, linear attention's sums) each row holds. */
  public long cacheBytesPerRow() {
    return d.cacheBytesPerRow();
  }

  /**
   * Up to {@code maxNew} new tokens for each of up to {@link #rows} prompts (non-empty, ids in the
   * vocabulary: the caller checks); a row stops at {@code eosId} (kept as its last id) or when the
   * listener says so. Unused rows repeat the first prompt and are not returned. Samples are drawn
   * by {@code seed}: the draw of a row's k-th token is keyed by (seed, row, k), and the programs
   * need no recompiling for another seed.
   */
  public Output generate(List<int[]> prompts, int maxNew, int eosId, long seed, Listener listener) {
    long draws = mix(seed);
    if (prompts.isEmpty() || prompts.size() > rows) {
      throw new IllegalArgumentException(prompts.size() + " prompts for " + rows + " rows");
    }
    long t0 = System.nanoTime();
    List<List<Integer>> history = new ArrayList<>();
    for (int r = 0; r < rows; r++) {
      List<Integer> h = new ArrayList<>();
      for (int id : prompts.get(Math.min(r, prompts.size() - 1))) {
        h.add(id);
      }
      history.add(h);
    }
    List<List<Integer>> made = new ArrayList<>();
    boolean[] done = new boolean[rows];
    for (int r = 0; r < rows; r++) {
      made.add(new ArrayList<>());
      done[r] = r >= prompts.size();
    }
    double first = 0;
    int slot = -1;
    int[] next = null;
    for (int k = 0; k < maxNew; k++) {
      if (k == 0 || slot >= slots) {
        int keep = k == 0 && longest(history) <= slots - chunk ? Integer.MAX_VALUE : Math.max(1, slots / 2);
        Prefilled p = prefill(history, keep, draws + k);
        slot = p.nextSlot();
        next = p.ids();
      } else {
        next = run(d.step(slot), next, slot, draws + k);
        slot++;
      }
      if (k == 0) {
        first = (System.nanoTime() - t0) / 1e9;
      }
      boolean all = true;
      for (int r = 0; r < rows; r++) {
        history.get(r).add(next[r]);
        if (!done[r]) {
          made.get(r).add(next[r]);
          boolean stop = listener != null && listener.token(r, next[r], k);
          done[r] = stop || next[r] == eosId;
        }
        all &= done[r];
      }
      if (all) {
        break;
      }
    }
    List<int[]> ids = new ArrayList<>();
    for (int r = 0; r < prompts.size(); r++) {
      ids.add(made.get(r).stream().mapToInt(Integer::intValue).toArray());
    }
    return new Output(ids, first, (System.nanoTime() - t0) / 1e9);
  }

  /** What a prefill left: the next free cache slot, and the ids drawn after the rows' last tokens. */
  private record Prefilled(int nextSlot, int[] ids) {}

  /**
   * Prefills every row with its last {@code keep} tokens, right-aligned on a whole number of chunks,
   * drawing the next ids with random step {@code draw}.
   */
  private Prefilled prefill(List<List<Integer>> history, int keep, long draw) {
    int longest = 0;
    for (List<Integer> h : history) {
      longest = Math.max(longest, Math.min(keep, h.size()));
    }
    int length = (longest + chunk - 1) / chunk * chunk;
    if (length >= slots) {
      throw new IllegalStateException("prefill of " + length + " slots in a context of " + slots);
    }
    int[] tokens = new int[rows * length]; // padding: id 0, never attended to
    pad = new int[rows];
    for (int r = 0; r < rows; r++) {
      List<Integer> h = history.get(r);
      int n = Math.min(keep, h.size());
      pad[r] = length - n;
      for (int i = 0; i < n; i++) {
        tokens[r * length + pad[r] + i] = h.get(h.size() - n + i);
      }
    }
    int[] ids = null;
    for (int c = 0; c < length; c += chunk) {
      int[] part = new int[rows * chunk];
      for (int r = 0; r < rows; r++) {
        System.arraycopy(tokens, r * length + c, part, r * chunk, chunk);
      }
      ids = run(d.prefill(), part, c, draw);
    }
    return new Prefilled(length, ids);
  }

  private static int longest(List<List<Integer>> history) {
    return history.stream().mapToInt(List::size).max().orElse(0);
  }

  /**
   * The random step of a seed's first draw: SplitMix64's finaliser, so that the steps of two seeds'
   * draws (mix(seed) + k) do not meet in practice.
   */
  static long mix(long seed) {
    long z = seed + 0x9E3779B97F4A7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** One run of {@code program} on {@code tokens} at slot {@code start}, with random step {@code draw}. */
  private int[] run(Generative.Program program, int[] tokens, int start, long draw) {
    try (Tensor x = HostTensors.ofInts(program.tokens().shape(), tokens);
        Tensor s = HostTensors.ofInts(d.start().shape(), new int[] {start});
        Tensor p = HostTensors.ofInts(d.pad().shape(), pad)) {
      double[] next = rt.step().feed(program.tokens(), x).feed(d.start(), s).feed(d.pad(), p).fetch(program.next())
          .randomStep(draw).run().get(0);
      return Arrays.stream(next).mapToInt(v -> (int) v).toArray();
    } catch (org.tensorflow.exceptions.TensorFlowException e) {
      throw new NeomeshException("generation failed: " + dev.neomesh.mesh.lower.Tf.errorReason(e.getMessage()), e);
    }
  }

  @Override
  public void close() {
    rt.close();
  }
}
