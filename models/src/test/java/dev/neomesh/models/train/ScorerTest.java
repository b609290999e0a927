package dev.neomesh.models.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.ckpt.Checkpointer;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.models.cli.GptLanguageModel;
import dev.neomesh.models.config.GptConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Tensor;

/**
 * {@link Scorer} on a tiny GPT (2 layers, n_embd 16, n_ctx 16, byte vocabulary) with the trainer's
 * random initialisation, saved as checkpoint 0: layout equivalence, the mesh log-softmax against
 * the host's, the sliding window, and causality of each causal attention type.
 */
class ScorerTest {
  static final int N_CTX = 16;
  static final String TINY = "\"n_head\": 2, \"n_embd\": 16, \"n_layer\": 2, \"n_ctx\": 16, \"n_vocab\": 256";

  @TempDir
  static Path runs;

  static GptConfig config(String extra) {
    return GptConfig.fromJson("{" + TINY + (extra.isEmpty() ? "" : ", " + extra) + "}");
  }

  /** eval_batch_size 3: 3 rows on x:1, rounded up to 4 on a mesh that splits batch in two. */
  static TrainSettings settings(Path modelPath, String mesh, String layout) {
    return new TrainSettings(modelPath, runs, runs, List.of(), MeshShape.parse(mesh), LayoutRules.parse(layout),
        null, N_CTX, 256, 4, 3, 1, 1, 0, 5, 1, 1,
        new LearningRateSchedule(0.01, LearningRateSchedule.Decay.CONSTANT, 1, 0),
        OptimizerSettings.adam(0.9, 0.95, 1e-8, 0), null, null, false);
  }

  /**
   * A trainer of {@code cfg} on {@code mesh}; the first call for a run saves checkpoint 0 with the initial
   * weights, which are keyed by variable name and so the same on every layout.
   */
  static Trainer trainer(GptConfig cfg, String run, String mesh, String layout) {
    Path modelPath = runs.resolve(run);
    Trainer t = new Trainer(settings(modelPath, mesh, layout), new GptLanguageModel(cfg),
        new PrintStream(new ByteArrayOutputStream()));
    if (!Files.exists(modelPath)) {
      Trainer.Forward f = t.forward(t.batchFor(1));
      try (MeshRuntime rt = t.lower(f.graph())) {
        rt.initialize();
        new Checkpointer(rt).save(modelPath, 0);
      }
    }
    return t;
  }

  static int[] randomIds(long seed, int length) {
    Random r = new Random(seed);
    int[] ids = new int[length];
    for (int i = 0; i < length; i++) {
      ids[i] = r.nextInt(256);
    }
    return ids;
  }

  static void assertClose(double[] want, double[] got, double tol, String what) {
    assertEquals(want.length, got.length, what + ": length");
    for (int i = 0; i < want.length; i++) {
      assertEquals(want[i], got[i], tol, what + ": logprobs[" + i + "]");
    }
  }

  /** One token, a short, a full and a 2.5-window sequence, packed as 6 windows into 3-row or 4-row batches. */
  static final List<int[]> SEQUENCES = List.of(randomIds(1, 1), randomIds(2, 5), randomIds(3, N_CTX),
      randomIds(4, 40));

  /** (a) The same checkpoint scores the same on one device and on x:2,y:2 with batch, heads and vocab split. */
  @Test
  void everyLayoutScoresTheSame() {
    GptConfig cfg = config("");
    Scorer.Scores one = new Scorer(trainer(cfg, "layouts", "x:1", "")).score(SEQUENCES, null);
    Scorer.Scores four = new Scorer(trainer(cfg, "layouts", "x:2,y:2", "batch:x,heads:y,vocab:y"))
        .score(SEQUENCES, 0L);
    assertEquals(0, one.step());
    for (int q = 0; q < SEQUENCES.size(); q++) {
      assertEquals(SEQUENCES.get(q).length - 1, one.logProbs().get(q).length);
      assertClose(one.logProbs().get(q), four.logProbs().get(q), 1e-5, "sequence " + q);
    }
    assertEquals(0, one.logProbs().get(0).length, "one token: nothing to predict");
  }

  /** (b) The mesh's log-probs equal a host log-softmax (in double) of the same checkpoint's fetched logits. */
  @Test
  void logProbsAreTheLogSoftmaxOfTheLogits() {
    Trainer t = trainer(config(""), "host", "x:2", "vocab:x"); // the log-sum-exp reduces over devices
    int[] ids = SEQUENCES.get(2);
    double[] scored = new Scorer(t).score(List.of(ids), null).logProbs().get(0);
    Trainer.Forward f = t.forward(1);
    double[] logits;
    try (MeshRuntime rt = t.lower(f.graph());
        Tensor x = HostTensors.ofInts(f.tokens().shape(), ids);
        Tensor y = HostTensors.ofInts(f.labels().shape(), new int[N_CTX])) {
      rt.initialize();
      new Checkpointer(rt).restore(t.checkpoint(null, "score"));
      logits = rt.step().feed(f.tokens(), x).feed(f.labels(), y).fetch(f.model().logits()).run().get(0);
    }
    double[] host = new double[ids.length - 1];
    for (int i = 0; i < host.length; i++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int v = 0; v < 256; v++) {
        max = Math.max(max, logits[i * 256 + v]);
      }
      double sum = 0;
      for (int v = 0; v < 256; v++) {
        sum += Math.exp(logits[i * 256 + v] - max);
      }
      host[i] = logits[i * 256 + ids[i + 1]] - max - Math.log(sum);
    }
    assertClose(host, scored, 1e-5, "host log-softmax");
  }

  /** (c) The windows score every token after the first exactly once, later ones with at least n_ctx/2 of context. */
  @Test
  void slidingWindowsScoreEveryTokenOnce() {
    for (int n : new int[] {2, 15, 16}) {
      for (int length = 1; length <= 5 * n; length++) {
        List<Scorer.Window> windows = Scorer.windows(0, length, n);
        int[] times = new int[length];
        for (Scorer.Window w : windows) {
          assertTrue(w.to() - w.begin() <= n && w.begin() < w.from(), w + " fits in n_ctx " + n);
          for (int t = w.from(); t < w.to(); t++) {
            times[t]++;
            assertTrue(w.begin() == 0 || t - w.begin() >= n / 2, "token " + t + " of " + w + " has n_ctx/2 context");
          }
        }
        int[] once = new int[length];
        Arrays.fill(once, 1);
        once[0] = 0;
        assertArrayEquals(once, times, "length " + length + ", n_ctx " + n);
        assertEquals(length == 1 ? 0 : length <= n ? 1 : 1 + (length - n + n / 2 - 1) / (n / 2), windows.size());
      }
    }
  }

  /**
   * (c) A 2.5·n_ctx sequence gets one log-prob per token after the first, and each window's part equals
   * scoring that window's tokens alone: for the first window, a sequence of n_ctx tokens as one pass.
   */
  @Test
  void aLongSequenceIsScoredWindowByWindow() {
    Scorer scorer = new Scorer(trainer(config(""), "window", "x:1", ""));
    int[] ids = SEQUENCES.get(3);
    List<Scorer.Window> windows = Scorer.windows(0, ids.length, N_CTX);
    assertEquals(4, windows.size()); // tokens 1-15, 16-23, 24-31, 32-39
    List<int[]> parts = windows.stream().map(w -> Arrays.copyOfRange(ids, w.begin(), w.to())).toList();
    List<int[]> all = new java.util.ArrayList<>(List.of(ids));
    all.addAll(parts);
    List<double[]> lp = scorer.score(all, null).logProbs();
    assertEquals(ids.length - 1, lp.get(0).length);
    for (int k = 0; k < windows.size(); k++) {
      Scorer.Window w = windows.get(k);
      double[] alone = lp.get(1 + k);
      for (int t = w.from(); t < w.to(); t++) {
        assertEquals(alone[t - w.begin() - 1], lp.get(0)[t - 1], 1e-6, "token " + t + " in " + w);
      }
    }
    for (double v : lp.get(0)) {
      assertTrue(v < 0 && Double.isFinite(v), "a log-prob: " + v);
    }
  }

  /**
   * (d) Causality: changing every token after position t leaves the log-probs of tokens 1..t
   * (logprobs[0..t-1]) unchanged, and changes some later one. Also a change of token t+1 alone changes
   * the log-prob of some unchanged token after it, so later positions do see the earlier tokens.
   */
  @Test
  void everyCausalAttentionTypeIgnoresLaterTokens() {
    int t = 7;
    int[] ids = SEQUENCES.get(2);
    int[] later = ids.clone();
    for (int i = t + 1; i < later.length; i++) {
      later[i] = (later[i] + 1 + i) % 256;
    }
    int[] next = ids.clone();
    next[t + 1] = (next[t + 1] + 128) % 256;
    String[] configs = {
        "\"attention_types\": [[[\"global\"], 2]]",
        "\"attention_types\": [[[\"local\"], 2]], \"local_attention_radius\": 3",
        "\"attention_types\": [[[\"linear\"], 2]]",
        "\"attention_types\": [[[\"global\"], 2]], \"rotary_emb\": true"};
    for (int c = 0; c < configs.length; c++) {
      String what = configs[c];
      List<double[]> lp = new Scorer(trainer(config(what), "causal" + c, "x:1", "")).score(List.of(ids, later, next),
          null).logProbs();
      assertClose(Arrays.copyOf(lp.get(0), t), Arrays.copyOf(lp.get(1), t), 1e-6, what + ", tokens <= " + t);
      assertTrue(changed(lp.get(0), lp.get(1), t), what + ": changing the tokens after " + t + " changes a log-prob");
      assertTrue(changed(lp.get(0), lp.get(2), t + 1), what + ": token " + (t + 1) + " reaches the tokens after it");
    }
  }

  private static boolean changed(double[] a, double[] b, int from) {
    for (int i = from; i < a.length; i++) {
      if (Math.abs(a[i] - b[i]) > 1e-4) {
        return true;
      }
    }
    return false;
  }
}
