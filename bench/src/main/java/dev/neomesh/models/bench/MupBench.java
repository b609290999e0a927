package dev.neomesh.models.bench;

import dev.neomesh.bench.BenchFlags;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.Devices;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.LoweringOptions;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.data.tokenizer.CharTokenizer;
import dev.neomesh.models.cli.GptLanguageModel;
import dev.neomesh.models.cli.Main;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.gpt.Gpt;
import dev.neomesh.models.train.LanguageModel;
import dev.neomesh.models.train.LearningRateSchedule;
import dev.neomesh.models.train.TrainProgram;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.kohsuke.args4j.Option;
import org.tensorflow.Tensor;

/**
 * The checks μP users run, on Tiny Shakespeare at character level: {@code scripts/bench mup [--part
 * coord|sweep|both] [flags]} (docs/BENCHMARKS.md, "μP"). The GPT has n_layer layers, d_head fixed
 * (n_head = width / d_head), GPT-Neo's init, Adam with bias correction, no clipping or weight decay;
 * μP is {@code mup_base_hidden_size = --base} (with {@code --scale_qk_dot_by_d}, Cerebras' run-time
 * score scale; off by default: with d_head fixed, 1/d_head and GPT-Neo's folded 1/√d_head differ by
 * a constant, and off, μP at the base width is SP to the bit), standard parametrisation (SP) the same
 * model without the μP keys.
 *
 * <ul>
 * <li><b>Coordinate check</b> (microsoft/mup's): at each width, {@code --coord_steps} Adam steps at one
 *     learning rate, then the mean |x| of the embedding output, of each block's output and of the
 *     logits on a held-out batch (fetched from the training program, {@link Gpt#activations}). Under μP
 *     each curve is flat across widths; under SP they grow with the width.
 * <li><b>Learning-rate sweep</b>: at each width and each rate of a grid of powers of two,
 *     {@code --sweep_steps} steps (a short linear warm-up, then constant), then the mean loss on
 *     {@code --eval_batches} held-out batches. One program per width and parametrisation serves every
 *     rate: the rate is fed, and the variables (slots too) are re-initialised between rates. Under μP
 *     the best rate stays put across widths.
 * </ul>
 * Every run at a width sees the same batches (drawn by step from the first 90% of the text; held-out
 * batches from the last 10%) and starts from the same weights. PNG plots go to {@code --out}.
 */
public final class MupBench {
  private MupBench() {}

  static final class Flags extends BenchFlags {
    @Option(name = "--text", metaVar = "FILE", usage = "the training text (character level: one token a byte)")
    String text = "../shared/data/tinyshakespeare.txt";

    @Option(name = "--part", metaVar = "coord|sweep|both", usage = "which check to run")
    String part = "both";

    @Option(name = "--parametrisations", metaVar = "sp,mup", usage = "standard parametrisation and/or muP")
    String parametrisations = "sp,mup";

    @Option(name = "--base", metaVar = "N", usage = "mup_base_hidden_size (the widths' base)")
    int base = 64;

    @Option(name = "--d_head", metaVar = "N", usage = "the head size, the same at every width (n_head = width / d_head)")
    int dHead = 32;

    @Option(name = "--n_layer", metaVar = "N", usage = "layers")
    int nLayer = 2;

    @Option(name = "--n_ctx", metaVar = "N", usage = "sequence length")
    int nCtx = 64;

    @Option(name = "--batch", metaVar = "N", usage = "sequences per step")
    int batch = 8;

    @Option(name = "--widths", metaVar = "64,128,...", usage = "the coordinate check's widths (n_embd)")
    String widths = "64,128,256,512";

    @Option(name = "--coord_steps", metaVar = "N", usage = "the coordinate check's Adam steps")
    int coordSteps = 5;

    @Option(name = "--coord_log2_lr", metaVar = "E", usage = "the coordinate check's learning rate, as log2")
    double coordLog2Lr = -6;

    @Option(name = "--sweep_widths", metaVar = "64,128,256", usage = "the sweep's widths")
    String sweepWidths = "64,128,256";

    @Option(name = "--sweep_log2_lrs", metaVar = "-12,...,-5", usage = "the sweep's learning rates, as log2")
    String sweepLog2Lrs = "-12,-11,-10,-9,-8,-7,-6,-5";

    @Option(name = "--sweep_steps", metaVar = "N", usage = "training steps per sweep run")
    int sweepSteps = 200;

    @Option(name = "--warmup", metaVar = "N", usage = "the sweep's linear warm-up steps")
    int warmup = 20;

    @Option(name = "--eval_batches", metaVar = "N", usage = "held-out batches the sweep's loss is averaged over")
    int evalBatches = 8;

    @Option(name = "--embeddings_scale", metaVar = "S", usage = "muP's embeddings_scale (Cerebras-GPT uses 10)")
    double embeddingsScale = 1;

    @Option(name = "--output_logits_alpha", metaVar = "A", usage = "muP's output_logits_alpha")
    double outputLogitsAlpha = 1;

    @Option(name = "--scale_qk_dot_by_d", usage = "muP's scores by attention_logits_alpha/d_head at run time (off: "
        + "GPT-Neo's 1/sqrt(d_head) folded into q's init, as SP; with d_head fixed the two differ by a constant)")
    boolean scaleQkDotByD;

    @Option(name = "--attention_logits_alpha", metaVar = "A", usage = "muP's attention_logits_alpha")
    double attentionLogitsAlpha = 1;

    @Option(name = "--out", metaVar = "DIR", usage = "where the PNG plots go (empty: none)")
    String out = "docs";

    @Override
    protected void check() {
      if (!List.of("coord", "sweep", "both").contains(part)) {
        throw new FlagException("--part must be coord, sweep or both, got " + part);
      }
      for (String p : parametrisations.split(",")) {
        if (!List.of("sp", "mup").contains(p.trim())) {
          throw new FlagException("--parametrisations takes sp and mup, got " + p);
        }
      }
      for (int w : ints(widths + "," + sweepWidths)) {
        if (w % dHead != 0) {
          throw new FlagException("width " + w + " is not a multiple of --d_head " + dHead);
        }
      }
    }
  }

  /** The coordinate check's mean |x| per parametrisation, layer and width, after the steps (and at init). */
  record CoordCheck(List<Integer> widths, Map<String, Map<String, double[]>> after,
                    Map<String, Map<String, double[]>> init) {}

  /** The sweep's held-out loss per parametrisation, width and rate, and the best log2 rate per width. */
  record Sweep(List<Integer> widths, double[] log2Lrs, Map<String, double[][]> loss, Map<String, double[]> best) {}

  public static void main(String[] args) throws Exception {
    Flags flags = BenchFlags.parseOrExit("bench mup", new Flags(), args);
    Path text = Path.of(flags.text);
    if (!Files.isRegularFile(text)) {
      System.out.println("bench mup: skipped: no text at " + text + " (Tiny Shakespeare; give --text FILE)");
      return;
    }
    run(flags, System.out);
  }

  /** What {@link #run} measured: each part's figures, null for a part not run. */
  record Result(CoordCheck coordCheck, Sweep sweep) {}

  /** Runs the parts {@code flags} asks for, prints their tables to {@code out} and writes the plots. */
  static Result run(Flags flags, PrintStream out) throws IOException {
    int[] ids = new CharTokenizer().encode(Files.readString(Path.of(flags.text), StandardCharsets.UTF_8));
    Data data = new Data(ids, flags.nCtx, flags.batch);
    out.printf(Locale.ROOT, "bench mup: %s (%d tokens, char level); n_layer %d, d_head %d, n_ctx %d, batch %d; muP base"
            + " %d, scale_qk_dot_by_d %s, attention_logits_alpha %s, embeddings_scale %s, output_logits_alpha %s%n",
        flags.text, ids.length, flags.nLayer, flags.dHead, flags.nCtx, flags.batch, flags.base, flags.scaleQkDotByD,
        fmt(flags.attentionLogitsAlpha), fmt(flags.embeddingsScale), fmt(flags.outputLogitsAlpha));
    List<String> params = Arrays.stream(flags.parametrisations.split(",")).map(String::trim).toList();
    CoordCheck c = null;
    Sweep s = null;
    if (!flags.part.equals("sweep")) {
      long t0 = System.nanoTime();
      c = coordCheck(flags, params, data, out);
      out.printf(Locale.ROOT, "coordinate check took %.0f s%n", (System.nanoTime() - t0) / 1e9);
      if (!flags.out.isEmpty()) {
        plotCoordCheck(c, flags, Path.of(flags.out, "mup_coord_check.png"));
      }
    }
    if (!flags.part.equals("coord")) {
      long t0 = System.nanoTime();
      s = sweep(flags, params, data, out);
      out.printf(Locale.ROOT, "learning-rate sweep took %.0f s%n", (System.nanoTime() - t0) / 1e9);
      if (!flags.out.isEmpty()) {
        plotSweep(s, Path.of(flags.out, "mup_lr_sweep.png"));
      }
    }
    return new Result(c, s);
  }

  // ------------------------------------------------------------------------- the model

  /** The bench's GPT at {@code width}, μP or SP. */
  static GptConfig config(Flags f, int width, boolean mup) {
    String json = String.format(Locale.ROOT, "{\"n_head\": %d, \"n_embd\": %d, \"n_layer\": %d, \"n_ctx\": %d,"
        + " \"n_vocab\": 256, \"opt_name\": \"adam\", \"beta1\": 0.9, \"beta2\": 0.95, \"epsilon\": 1e-8,"
        + " \"bias_correction\": true, \"weight_decay\": 0, \"gradient_clipping\": 0", width / f.dHead, width,
        f.nLayer, f.nCtx);
    if (mup) {
      json += String.format(Locale.ROOT, ", \"mup_base_hidden_size\": %d, \"scale_qk_dot_by_d\": %s,"
          + " \"attention_logits_alpha\": %s, \"embeddings_scale\": %s, \"output_logits_alpha\": %s", f.base,
          f.scaleQkDotByD, f.attentionLogitsAlpha, f.embeddingsScale, f.outputLogitsAlpha);
    }
    return GptConfig.fromJson(json + "}");
  }

  /** A training program of one width whose fed rate is {@code lr[0]} times the warm-up's factor, and its GPT. */
  private static final class Run implements AutoCloseable {
    final GptConfig cfg;
    final TrainProgram program;
    final Gpt gpt;
    final MeshRuntime rt;
    final double[] lr = {0};

    Run(GptConfig cfg, int batch, int warmup) {
      this.cfg = cfg;
      Gpt[] built = new Gpt[1];
      LanguageModel lm = (m, tokens, labels, train) -> {
        built[0] = Gpt.build(m, cfg, tokens, labels, train);
        return GptLanguageModel.outputs(m, built[0]);
      };
      this.program = TrainProgram.build(lm, cfg.seed(), batch, cfg.nCtx(), 1,
          t -> new LearningRateSchedule(lr[0], LearningRateSchedule.Decay.CONSTANT, 1, warmup).at(t),
          Main.optimizer(cfg));
      this.gpt = built[0];
      this.rt = MeshRuntime.create(program.graph(), MeshShape.parse("x:1"), LayoutRules.NONE, Devices.virtualCpus(1),
          LoweringOptions.TRAINING);
    }

    /** Fresh weights and slots, then {@code steps} steps at rate {@code rate}; the last step's loss. */
    double train(Data data, double rate, int steps) {
      lr[0] = rate;
      rt.initialize();
      double loss = Double.NaN;
      for (int s = 0; s < steps; s++) {
        int[][] b = data.train(s);
        loss = program.runStep(rt, s, b[0], b[1]).loss();
      }
      return loss;
    }

    /** The fetched values of {@code tensors} on the batch {@code b} (no update). */
    List<double[]> fetch(int[][] b, List<MeshTensor> tensors) {
      try (Tensor x = HostTensors.ofInts(program.tokens().shape(), b[0]);
           Tensor y = HostTensors.ofInts(program.labels().shape(), b[1])) {
        MeshRuntime.Step step = rt.step().feed(program.tokens(), x).feed(program.labels(), y);
        tensors.forEach(step::fetch);
        return step.run();
      }
    }

    @Override
    public void close() {
      rt.close();
    }
  }

  // ------------------------------------------------------------------------- coordinate check

  static CoordCheck coordCheck(Flags f, List<String> params, Data data, PrintStream out) {
    List<Integer> widths = ints(f.widths);
    double lr = Math.pow(2, f.coordLog2Lr);
    Map<String, Map<String, double[]>> after = new LinkedHashMap<>();
    Map<String, Map<String, double[]>> init = new LinkedHashMap<>();
    int[][] probe = data.heldOut(0);
    for (String p : params) {
      Map<String, double[]> a = new LinkedHashMap<>();
      Map<String, double[]> i0 = new LinkedHashMap<>();
      for (int wi = 0; wi < widths.size(); wi++) {
        long t0 = System.nanoTime();
        try (Run run = new Run(config(f, widths.get(wi), p.equals("mup")), f.batch, 0)) {
          List<String> names = new ArrayList<>(run.gpt.activations().keySet());
          List<MeshTensor> acts = new ArrayList<>(run.gpt.activations().values());
          run.lr[0] = lr;
          run.rt.initialize();
          record(i0, names, meanAbs(run.fetch(probe, acts)), wi, widths.size());
          double loss = run.train(data, lr, f.coordSteps);
          record(a, names, meanAbs(run.fetch(probe, acts)), wi, widths.size());
          out.printf(Locale.ROOT, "  coord %-3s width %4d: %d steps at lr 2^%s, last loss %.4f (%.1f s)%n", p,
              widths.get(wi), f.coordSteps, fmt(f.coordLog2Lr), loss, (System.nanoTime() - t0) / 1e9);
        }
      }
      after.put(p, a);
      init.put(p, i0);
    }
    CoordCheck c = new CoordCheck(widths, after, init);
    for (String p : params) {
      out.printf(Locale.ROOT, "%ncoordinate check, %s: mean |x| after %d steps at lr 2^%s (at init in brackets)%n",
          name(p), f.coordSteps, fmt(f.coordLog2Lr));
      StringBuilder h = new StringBuilder(String.format(Locale.ROOT, "%-12s", "width"));
      widths.forEach(w -> h.append(String.format(Locale.ROOT, " %20d", w)));
      out.println(h.append(String.format(Locale.ROOT, " %10s", "last/first")));
      for (String layer : after.get(p).keySet()) {
        double[] v = after.get(p).get(layer);
        double[] v0 = init.get(p).get(layer);
        StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "%-12s", layer));
        for (int k = 0; k < v.length; k++) {
          row.append(String.format(Locale.ROOT, " %20s", String.format(Locale.ROOT, "%.4f (%.4f)", v[k], v0[k])));
        }
        out.println(row.append(String.format(Locale.ROOT, " %10.2f", v[v.length - 1] / v[0])));
      }
    }
    return c;
  }

  private static void record(Map<String, double[]> into, List<String> names, double[] values, int at, int n) {
    for (int k = 0; k < names.size(); k++) {
      into.computeIfAbsent(names.get(k), x -> new double[n])[at] = values[k];
    }
  }

  private static double[] meanAbs(List<double[]> values) {
    double[] out = new double[values.size()];
    for (int k = 0; k < out.length; k++) {
      double s = 0;
      for (double x : values.get(k)) {
        s += Math.abs(x);
      }
      out[k] = s / values.get(k).length;
    }
    return out;
  }

  static void plotCoordCheck(CoordCheck c, Flags f, Path png) throws IOException {
    List<LinePlot.Panel> panels = new ArrayList<>();
    double[] x = c.widths().stream().mapToDouble(w -> Math.log(w) / Math.log(2)).toArray();
    for (String p : c.after().keySet()) {
      List<LinePlot.Series> series = new ArrayList<>();
      c.after().get(p).forEach((layer, v) -> series.add(new LinePlot.Series(layer, x, v)));
      panels.add(new LinePlot.Panel(name(p), "width (n_embd)", "mean |x| after " + f.coordSteps + " steps", true,
          v -> String.valueOf((int) Math.round(Math.pow(2, v))), series));
    }
    LinePlot.write(png, String.format(Locale.ROOT, "Coordinate check: %d Adam steps at lr 2^%s, %d layers, d_head %d",
        f.coordSteps, fmt(f.coordLog2Lr), f.nLayer, f.dHead), panels);
  }

  // ------------------------------------------------------------------------- learning-rate sweep

  static Sweep sweep(Flags f, List<String> params, Data data, PrintStream out) {
    List<Integer> widths = ints(f.sweepWidths);
    double[] exps = Arrays.stream(f.sweepLog2Lrs.split(",")).mapToDouble(s -> Double.parseDouble(s.trim())).toArray();
    Map<String, double[][]> loss = new LinkedHashMap<>();
    Map<String, double[]> best = new LinkedHashMap<>();
    for (String p : params) {
      double[][] l = new double[widths.size()][exps.length];
      double[] b = new double[widths.size()];
      for (int wi = 0; wi < widths.size(); wi++) {
        try (Run run = new Run(config(f, widths.get(wi), p.equals("mup")), f.batch, f.warmup)) {
          for (int e = 0; e < exps.length; e++) {
            long t0 = System.nanoTime();
            double last = run.train(data, Math.pow(2, exps[e]), f.sweepSteps);
            double eval = 0;
            for (int k = 0; k < f.evalBatches; k++) {
              eval += run.fetch(data.heldOut(1 + k), List.of(run.program.loss())).get(0)[0] / f.evalBatches;
            }
            l[wi][e] = Double.isFinite(eval) ? eval : Double.NaN;
            out.printf(Locale.ROOT, "  sweep %-3s width %4d lr 2^%-4s: last train loss %.4f, held-out %.4f (%.1f s)%n",
                p, widths.get(wi), fmt(exps[e]), last, eval, (System.nanoTime() - t0) / 1e9);
          }
        }
        int arg = 0;
        for (int e = 1; e < exps.length; e++) {
          if (!(l[wi][arg] <= l[wi][e]) && !Double.isNaN(l[wi][e])) {
            arg = e;
          }
        }
        b[wi] = exps[arg];
      }
      loss.put(p, l);
      best.put(p, b);
    }
    for (String p : params) {
      out.printf(Locale.ROOT, "%nlearning-rate sweep, %s: held-out loss after %d steps (%d warm-up) by log2 lr%n", name(p),
          f.sweepSteps, f.warmup);
      StringBuilder h = new StringBuilder(String.format(Locale.ROOT, "%-6s", "width"));
      for (double e : exps) {
        h.append(String.format(Locale.ROOT, " %7s", fmt(e)));
      }
      out.println(h.append("   best"));
      for (int wi = 0; wi < widths.size(); wi++) {
        StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "%-6d", widths.get(wi)));
        for (double v : loss.get(p)[wi]) {
          row.append(String.format(Locale.ROOT, " %7.4f", v));
        }
        out.println(row.append(String.format(Locale.ROOT, "   2^%s", fmt(best.get(p)[wi]))));
      }
    }
    return new Sweep(widths, exps, loss, best);
  }

  static void plotSweep(Sweep s, Path png) throws IOException {
    List<LinePlot.Panel> panels = new ArrayList<>();
    for (String p : s.loss().keySet()) {
      List<LinePlot.Series> series = new ArrayList<>();
      for (int wi = 0; wi < s.widths().size(); wi++) {
        series.add(new LinePlot.Series("width " + s.widths().get(wi) + " (best 2^" + fmt(s.best().get(p)[wi]) + ")",
            s.log2Lrs(), s.loss().get(p)[wi]));
      }
      panels.add(new LinePlot.Panel(name(p), "learning rate", "held-out loss", false, v -> "2^" + fmt(v), series));
    }
    LinePlot.write(png, "Learning-rate sweep on Tiny Shakespeare (char level)", panels);
  }

  // ------------------------------------------------------------------------- data

  /**
   * Windows of n_ctx + 1 bytes: training batches from the first 90% of the text, drawn by step (so
   * every run sees the same ones), held-out batches from the last 10%.
   */
  static final class Data {
    private final int[] ids;
    private final int nCtx;
    private final int batch;
    private final int split;

    Data(int[] ids, int nCtx, int batch) {
      if (ids.length < 20 * (nCtx + 1)) {
        throw new IllegalArgumentException("the text has " + ids.length + " tokens, too few for n_ctx " + nCtx);
      }
      this.ids = ids;
      this.nCtx = nCtx;
      this.batch = batch;
      this.split = ids.length * 9 / 10;
    }

    int[][] train(long step) {
      return draw(new Random(1_000_003L * (step + 1)), 0, split);
    }

    int[][] heldOut(int k) {
      return draw(new Random(7_919L * (k + 1)), split, ids.length);
    }

    private int[][] draw(Random r, int from, int to) {
      int[] x = new int[batch * nCtx];
      int[] y = new int[batch * nCtx];
      for (int b = 0; b < batch; b++) {
        int start = from + r.nextInt(to - from - nCtx - 1);
        System.arraycopy(ids, start, x, b * nCtx, nCtx);
        System.arraycopy(ids, start + 1, y, b * nCtx, nCtx);
      }
      return new int[][] {x, y};
    }
  }

  static List<Integer> ints(String csv) {
    return Arrays.stream(csv.split(",")).map(String::trim).filter(s -> !s.isEmpty()).map(Integer::parseInt).toList();
  }

  private static String name(String p) {
    return p.equals("mup") ? "muP" : "SP";
  }

  private static String fmt(double v) {
    return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
  }
}
