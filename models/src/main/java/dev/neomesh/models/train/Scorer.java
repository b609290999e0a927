package dev.neomesh.models.train;

import dev.neomesh.mesh.ckpt.Checkpointer;
import dev.neomesh.mesh.ckpt.Checkpoints;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.tensorflow.Tensor;

/**
 * Scores token sequences with a checkpoint: for every token after the first, its log-probability
 * given the tokens before it, the model's float32 log-softmax computed on the mesh
 * ({@link TokenLogProbs}); only {@code [batch, sequence]} log-probs reach the host.
 *
 * <p>Sequences longer than n_ctx are scored by a sliding window ({@link #windows}), the HuggingFace
 * perplexity guide's rule: windows of n_ctx tokens starting at 0, s, 2s, ... with stride
 * {@code s = n_ctx/2}, until a window reaches the sequence's end. The first window scores every
 * token it holds; each later one only the tokens after the previous window's end, so every token
 * is scored exactly once, and each with at least {@code n_ctx - s} (≥ n_ctx/2) tokens of context.
 * A sequence of at most n_ctx tokens is one window: one plain forward pass.
 *
 * <p>Windows of all sequences are packed into rows of a fixed batch ({@code eval_batch_size}
 * rounded up to a multiple of the batch dim's replicas); unused rows and positions are padded with
 * id 0 and never read. The padding does not change a scored position because the model is causal;
 * MoE layers route over the whole row and are the exception (docs/MODEL.md).
 */
public final class Scorer {
  private final Trainer trainer;

  public Scorer(Trainer trainer) {
    this.trainer = trainer;
  }

  /**
   * One window: tokens {@code [begin, begin + n_ctx)} of sequence {@code sequence} (cut at its
   * end); it scores the tokens at positions {@code [from, to)}, each given the window's tokens
   * before it.
   */
  public record Window(int sequence, int begin, int from, int to) {}

  /** The windows that score a sequence of {@code length} tokens (none for one token: nothing to predict). */
  public static List<Window> windows(int sequence, int length, int nCtx) {
    if (nCtx < 2) {
      throw new IllegalArgumentException("a window of n_ctx " + nCtx + " tokens gives no context; n_ctx must be >= 2");
    }
    int stride = nCtx / 2;
    List<Window> out = new ArrayList<>();
    int scored = 1; // the first token has no prefix to predict it from
    for (int begin = 0; scored < length; begin += stride) {
      int end = Math.min(begin + nCtx, length);
      out.add(new Window(sequence, begin, scored, end));
      scored = end;
    }
    return out;
  }

  /** Why {@code ids} cannot be scored by a model of {@code nVocab} tokens; empty when it can. */
  public static Optional<String> problem(int[] ids, int nVocab) {
    if (ids.length == 0) {
      return Optional.of("empty sequence: give at least one token");
    }
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= nVocab) {
        return Optional.of("id " + ids[i] + " at index " + i + " is outside [0, " + nVocab + "), the model's n_vocab: "
            + "give ids the model's tokenizer produces, or \"text\" to encode");
      }
    }
    return Optional.empty();
  }

  /** The log-probs of each sequence (ids.length - 1 of them) and the checkpoint step that gave them. */
  public record Scores(long step, List<double[]> logProbs) {}

  /**
   * Scores {@code sequences} with checkpoint {@code step} of model_path (the latest when null). The
   * devices, the checkpoint and every sequence ({@link #problem}) are checked before a graph is
   * built.
   */
  public Scores score(List<int[]> sequences, Long step) {
    TrainSettings s = trainer.settings();
    int n = s.nCtx();
    List<Window> windows = new ArrayList<>();
    for (int q = 0; q < sequences.size(); q++) {
      int[] ids = sequences.get(q);
      Optional<String> problem = problem(ids, s.nVocab());
      if (problem.isPresent()) {
        throw new IllegalArgumentException("sequence " + q + ": " + problem.get());
      }
      windows.addAll(windows(q, ids.length, n));
    }
    trainer.devices();
    trainer.requireWeights(step, "score");
    List<double[]> out = new ArrayList<>();
    for (int[] ids : sequences) {
      out.add(new double[ids.length - 1]); // logProbs[t - 1] is the log-prob of token t
    }
    int batch = trainer.batchFor(s.evalBatchSize());
    Trainer.Forward f = trainer.forward(batch);
    long scoredStep;
    try (MeshRuntime rt = trainer.lower(f.graph())) {
      scoredStep = trainer.loadWeights(rt, f.model().parameters(), step, "score");
      for (int first = 0; first < windows.size(); first += batch) {
        List<Window> rows = windows.subList(first, Math.min(first + batch, windows.size()));
        int[] tokens = new int[batch * n]; // padding: id 0, never read
        int[] labels = new int[batch * n];
        for (int r = 0; r < rows.size(); r++) {
          Window w = rows.get(r);
          int[] ids = sequences.get(w.sequence());
          for (int i = 0; i < n && w.begin() + i < w.to(); i++) {
            tokens[r * n + i] = ids[w.begin() + i];
            if (w.begin() + i + 1 < w.to()) {
              labels[r * n + i] = ids[w.begin() + i + 1]; // position i predicts the token after it
            }
          }
        }
        double[] logProbs;
        try (Tensor x = HostTensors.ofInts(f.tokens().shape(), tokens);
            Tensor y = HostTensors.ofInts(f.labels().shape(), labels)) {
          logProbs = rt.step().feed(f.tokens(), x).feed(f.labels(), y).fetch(f.logProbs()).run().get(0);
        }
        for (int r = 0; r < rows.size(); r++) {
          Window w = rows.get(r);
          for (int t = w.from(); t < w.to(); t++) {
            out.get(w.sequence())[t - 1] = logProbs[r * n + t - w.begin() - 1];
          }
        }
      }
    }
    return new Scores(scoredStep, out);
  }
}
