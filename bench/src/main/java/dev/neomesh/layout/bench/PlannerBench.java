package dev.neomesh.layout.bench;

import dev.neomesh.bench.BenchFlags;
import dev.neomesh.layout.Calibration;
import dev.neomesh.layout.Cost;
import dev.neomesh.layout.CostModel;
import dev.neomesh.layout.MachineConstants;
import dev.neomesh.layout.PlanReport;
import dev.neomesh.layout.Planner;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import org.kohsuke.args4j.Option;
import org.tensorflow.Tensor;

/**
 * Checks the step-time estimate against measurement: every valid layout of a small transformer
 * (forward, backward, Adam) on a mesh of virtual CPU devices is lowered and timed; prints the
 * table, the Spearman rank correlation between estimated and measured times, and how far the
 * planner's choice is from the fastest measured layout.
 *
 * <p>Timing: the layouts are lowered first (at most {@code --open} of them at a time, default 64:
 * each open 8-device runtime holds about 80 MB), then measured in {@code --rounds} interleaved
 * rounds (each round: {@code --warmup} steps, then {@code --steps} timed steps of every open
 * layout in turn); a layout's time is the median over rounds of its median step ({@code --min}:
 * fastest step). A burst of load from other processes then lands on one round of many layouts,
 * not on all the steps of one layout; batches after the first re-measure anchor layouts to correct
 * for the host's drift between batches ({@link #measureInBatches}). {@code --csv FILE} writes each layout's estimate, measurement and
 * {@link Cost.Work} (the quantities the estimate is linear in).
 *
 * <p>{@code --confirm K} (default 8) settles the choice: layouts whose times lie within a few
 * percent of each other swap places from one sweep to the next on a noisy host (two sweeps of all
 * 247 layouts of x:2,y:4 ranked each other only 0.69), so the planner's choice, the {@code K}
 * fastest measured and the {@code K} best estimated layouts are measured once more, together in one
 * batch for {@code --confirm_rounds} (default 9) interleaved rounds, and the choice is compared
 * with the fastest of that batch. The sweep's times still give the rank correlation.
 *
 * <pre>
 * PlannerBench [--mesh x:2,y:4] [--sizes batch,sequence,embd,heads,kv,intermediate,vocab,layers]
 *              [--warmup 1] [--steps 5] [--rounds 3] [--open 64] [--limit N] [--calibrate] [--min] [--csv FILE]
 *              [--confirm 8] [--confirm_rounds 9]
 * </pre>
 */
public final class PlannerBench {
  private PlannerBench() {}

  /** One measured layout. */
  public record Row(LayoutRules rules, double estimated, double measured, Cost.Work work) {}

  /** The planner's choice and the fastest layout among some measured rows. */
  public record Verdict(Row chosen, Row fastest) {
    static Verdict of(List<Row> rows, LayoutRules choice) {
      return new Verdict(rows.stream().filter(r -> r.rules().equals(choice)).findFirst().orElseThrow(),
          rows.stream().min(Comparator.comparingDouble(Row::measured)).orElseThrow());
    }

    public double chosenOverFastest() {
      return chosen.measured() / fastest.measured() - 1;
    }

    void print(String label) {
      System.out.printf("%s: planner's choice %s: measured %s, fastest measured %s (%s): %+.1f%%%n", label,
          chosen.rules(), PlanReport.seconds(chosen.measured()), PlanReport.seconds(fastest.measured()),
          fastest.rules(), 100 * chosenOverFastest());
    }
  }

  /**
   * Everything a run reports: every layout's row (sweep times), the verdict of the sweep and the
   * one to judge by: the confirmation batch's, or the sweep's when there was none.
   */
  public record Result(List<Row> rows, double spearman, Verdict sweep, Verdict verdict) {}

  /** Time a layout by its fastest step rather than the median (robust to other processes on a shared host). */
  static boolean minimum;
  /** The most runtimes open (lowered and measured together) at a time. */
  static int open = 64;

  /** The flags, with their defaults. */
  static final class Flags extends BenchFlags {
    @Option(name = "--mesh", metaVar = "S", usage = "the mesh whose valid layouts are timed")
    String mesh = "x:2,y:4";

    @Option(name = "--sizes", metaVar = "B,S,E,H,K,I,V,L",
        usage = "the transformer: batch,sequence,embd,heads,kv,intermediate,vocab,layers")
    String sizes = "16,32,64,4,16,256,256,1";

    @Option(name = "--warmup", metaVar = "N", usage = "untimed steps of a layout in each round")
    int warmup = 1;

    @Option(name = "--steps", metaVar = "N", usage = "timed steps of a layout in each round")
    int steps = 5;

    @Option(name = "--rounds", metaVar = "N", usage = "interleaved rounds of the sweep")
    int rounds = 3;

    @Option(name = "--open", metaVar = "N", usage = "the most layouts lowered and timed together")
    int open = PlannerBench.open;

    @Option(name = "--limit", metaVar = "N", usage = "time a stride sample of N layouts and the planner's choice"
        + " (default: all)")
    Integer limit;

    @Option(name = "--calibrate", usage = "measure the machine constants first instead of loading them")
    boolean calibrate;

    @Option(name = "--min", usage = "time a layout by its fastest step, not the median")
    boolean min;

    @Option(name = "--csv", metaVar = "FILE", usage = "write each layout's estimate, measurement and work")
    String csv;

    @Option(name = "--confirm", metaVar = "K", usage = "measure the choice and the K fastest and K best estimated"
        + " layouts again in one batch (0: no confirmation)")
    int confirm = 8;

    @Option(name = "--confirm_rounds", metaVar = "N", usage = "interleaved rounds of the confirmation")
    int confirmRounds = 9;

    SmallTransformer.Sizes sizes() {
      try {
        int[] v = Arrays.stream(sizes.split(",")).mapToInt(k -> Integer.parseInt(k.trim())).toArray();
        if (v.length == 8) {
          return new SmallTransformer.Sizes(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
        }
      } catch (NumberFormatException e) {
        // the message below
      }
      throw new FlagException("--sizes is \"" + sizes + "\": expected 8 integers"
          + " batch,sequence,embd,heads,kv,intermediate,vocab,layers");
    }

    @Override
    protected void check() {
      sizes();
    }
  }

  public static void main(String[] args) {
    Flags flags = BenchFlags.parseOrExit("bench planner", new Flags(), args);
    String mesh = flags.mesh;
    SmallTransformer.Sizes sizes = flags.sizes();
    int warmup = flags.warmup;
    int steps = flags.steps;
    int rounds = flags.rounds;
    int limit = flags.limit == null ? Integer.MAX_VALUE : flags.limit;
    int confirm = flags.confirm;
    int confirmRounds = flags.confirmRounds;
    boolean calibrate = flags.calibrate;
    String csv = flags.csv;
    minimum = flags.min;
    open = flags.open;
    MachineConstants machine = calibrate ? Calibration.measure() : Calibration.load(dev.neomesh.models.cli.AutoLayout.calibrationFile());
    System.out.println("machine constants: " + machine);
    Result r = run(MeshShape.parse(mesh), sizes, machine, new Timing(warmup, steps, rounds, confirm, confirmRounds),
        limit, true);
    if (csv != null) {
      writeCsv(r, java.nio.file.Path.of(csv));
    }
    System.out.printf("%nlayouts: %d  Spearman(estimated, measured) = %.3f%n", r.rows().size(), r.spearman());
    r.sweep().print("sweep");
    if (confirm > 0) {
      r.verdict().print("confirmed");
    }
  }

  /** How the layouts are timed: steps per round, rounds of the sweep, size and rounds of the confirmation. */
  public record Timing(int warmup, int steps, int rounds, int confirm, int confirmRounds) {}

  public static Result run(MeshShape mesh, SmallTransformer.Sizes sizes, MachineConstants machine, Timing timing,
                           int limit, boolean print) {
    SmallTransformer.Program p = SmallTransformer.transformer(sizes, DType.FLOAT32, true);
    CostModel model = new CostModel(p.graph(), CostModel.Options.adam(machine).withOptimizerSlots(0)
        .withFetches(List.of(p.loss())));
    List<LayoutRules> all = Planner.candidates(model, mesh);
    if (print) {
      System.out.printf("%d valid layouts on %s%s%n", all.size(), mesh,
          all.size() > limit ? ", timing a stride sample of " + limit + " and the planner's choice" : "");
    }
    if (all.size() > limit) {
      List<LayoutRules> sample = new ArrayList<>();
      for (int i = 0; i < limit; i++) {
        sample.add(all.get((int) ((long) i * all.size() / limit)));
      }
      all = sample;
    }
    Planner.Plan plan = Planner.autoLayout(model, mesh, Long.MAX_VALUE);
    if (!all.contains(plan.layout())) {
      all.add(plan.layout());
    }
    Random random = new Random(1);
    double[] tokens = new double[sizes.batch() * sizes.sequence()];
    double[] labels = new double[tokens.length];
    for (int i = 0; i < tokens.length; i++) {
      tokens[i] = random.nextInt(sizes.vocab());
      labels[i] = random.nextInt(sizes.vocab());
    }
    double[] measured = measureInBatches(p, mesh, all, tokens, labels, timing, print);
    List<Row> rows = new ArrayList<>();
    if (print) {
      System.out.printf("%-70s %12s %12s   (estimate: compute / overhead / communication)%n", "layout on " + mesh,
          "estimated", "measured");
    }
    for (int i = 0; i < all.size(); i++) {
      LayoutRules rules = all.get(i);
      Cost c = model.estimate(mesh, rules);
      rows.add(new Row(rules, c.seconds(), measured[i], c.work()));
      if (print) {
        System.out.printf("%-70s %12s %12s   (%s / %s / %s)%n", PlanReport.layout(rules),
            PlanReport.seconds(c.seconds()), PlanReport.seconds(measured[i]), PlanReport.seconds(c.time().compute()),
            PlanReport.seconds(c.time().overhead()), PlanReport.seconds(c.time().communication()));
      }
    }
    double rho = spearman(rows.stream().mapToDouble(Row::estimated).toArray(),
        rows.stream().mapToDouble(Row::measured).toArray());
    Verdict sweep = Verdict.of(rows, plan.layout());
    Verdict verdict = timing.confirm() > 0
        ? Verdict.of(confirm(p, mesh, rows, plan.layout(), tokens, labels, timing, print), plan.layout()) : sweep;
    return new Result(rows, rho, sweep, verdict);
  }

  /**
   * Measures the contenders for fastest once more, in one batch: the planner's choice, the
   * {@code confirm} fastest rows of the sweep and the {@code confirm} best estimated ones; returns
   * their rows with the new times.
   */
  static List<Row> confirm(SmallTransformer.Program p, MeshShape mesh, List<Row> rows, LayoutRules choice,
                           double[] tokens, double[] labels, Timing timing, boolean print) {
    java.util.Map<LayoutRules, Row> contenders = new java.util.LinkedHashMap<>();
    rows.stream().filter(r -> r.rules().equals(choice)).forEach(r -> contenders.put(r.rules(), r));
    for (Comparator<Row> order : List.of(Comparator.comparingDouble(Row::measured),
        Comparator.comparingDouble(Row::estimated))) {
      rows.stream().sorted(order).limit(timing.confirm()).forEach(r -> contenders.putIfAbsent(r.rules(), r));
    }
    List<Row> before = new ArrayList<>(contenders.values());
    double[] again = measure(p, mesh, before.stream().map(Row::rules).toList(), tokens, labels,
        new Timing(timing.warmup(), timing.steps(), timing.confirmRounds(), 0, 0));
    List<Row> after = new ArrayList<>();
    if (print) {
      System.out.printf("%nconfirmation: %d contenders in one batch, %d rounds%n%-70s %12s %12s %12s%n",
          before.size(), timing.confirmRounds(), "layout on " + mesh, "estimated", "sweep", "confirmed");
    }
    for (int i = 0; i < before.size(); i++) {
      Row r = before.get(i);
      after.add(new Row(r.rules(), r.estimated(), again[i], r.work()));
      if (print) {
        System.out.printf("%-70s %12s %12s %12s%s%n", PlanReport.layout(r.rules()),
            PlanReport.seconds(r.estimated()), PlanReport.seconds(r.measured()), PlanReport.seconds(again[i]),
            r.rules().equals(choice) ? "   <- planner's choice" : "");
      }
    }
    return after;
  }

  /** Anchor layouts measured again in every batch after the first. */
  static final int ANCHORS = 6;

  /**
   * Measures the layouts {@link #open} at a time. The host's speed drifts over the minutes a
   * large run takes (2x was seen on this 2-core machine), so every batch after the first also
   * measures {@value #ANCHORS} anchors (a stride sample of the first batch) and its times are
   * scaled by the geometric mean of (first batch's anchor time / this batch's anchor time).
   */
  static double[] measureInBatches(SmallTransformer.Program p, MeshShape mesh, List<LayoutRules> all,
                                   double[] tokens, double[] labels, Timing timing, boolean print) {
    double[] measured = new double[all.size()];
    List<LayoutRules> anchors = new ArrayList<>();
    double[] anchorTimes = new double[ANCHORS];
    for (int from = 0; from < all.size(); from += open) {
      int to = Math.min(all.size(), from + open);
      List<LayoutRules> batch = new ArrayList<>(all.subList(from, to));
      if (from > 0) {
        batch.addAll(anchors);
      }
      double[] part = measure(p, mesh, batch, tokens, labels, timing);
      double scale = 1;
      if (from == 0) {
        for (int k = 0; k < ANCHORS && to > 0; k++) {
          int i = k * to / ANCHORS;
          anchors.add(all.get(i));
          anchorTimes[k] = part[i];
        }
      } else {
        double logSum = 0;
        for (int k = 0; k < anchors.size(); k++) {
          logSum += Math.log(anchorTimes[k] / part[to - from + k]);
        }
        scale = Math.exp(logSum / anchors.size());
      }
      for (int i = 0; i < to - from; i++) {
        measured[from + i] = part[i] * scale;
      }
      if (print && all.size() > open) {
        System.out.printf("measured layouts %d-%d of %d (drift correction x%.3f from %d anchors)%n", from + 1, to,
            all.size(), scale, from == 0 ? 0 : anchors.size());
      }
    }
    return measured;
  }

  /**
   * Seconds of one training step (fetch the loss, run the updates) of every layout: all lowered
   * first, then timed in interleaved rounds; the median over rounds of each round's median (or
   * fastest, under {@code --min}) step.
   */
  static double[] measure(SmallTransformer.Program p, MeshShape mesh, List<LayoutRules> layouts, double[] tokens,
                          double[] labels, Timing timing) {
    int warmup = timing.warmup();
    int steps = timing.steps();
    int rounds = timing.rounds();
    MeshTensor tok = p.inputs().get(0);
    MeshTensor lab = p.inputs().get(1);
    List<MeshRuntime> runtimes = new ArrayList<>();
    try (Tensor t = HostTensors.of(tok.shape(), DType.INT32, tokens);
         Tensor l = HostTensors.of(lab.shape(), DType.INT32, labels)) {
      for (LayoutRules rules : layouts) {
        MeshRuntime rt = MeshRuntime.onVirtualCpus(p.graph(), mesh, rules);
        runtimes.add(rt);
        rt.initialize();
      }
      double[][] perRound = new double[layouts.size()][rounds];
      for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < runtimes.size(); i++) {
          MeshRuntime rt = runtimes.get(i);
          double[] times = new double[steps];
          for (int s = 0; s < warmup + steps; s++) {
            long t0 = System.nanoTime();
            rt.step().feed(tok, t).feed(lab, l).fetch(p.loss()).withUpdates().run();
            if (s >= warmup) {
              times[s - warmup] = (System.nanoTime() - t0) / 1e9;
            }
          }
          Arrays.sort(times);
          perRound[i][r] = minimum ? times[0] : times[steps / 2];
        }
      }
      double[] out = new double[layouts.size()];
      for (int i = 0; i < out.length; i++) {
        Arrays.sort(perRound[i]);
        out[i] = perRound[i][rounds / 2];
      }
      return out;
    } finally {
      runtimes.forEach(MeshRuntime::close);
    }
  }

  /** One line per layout: rules, estimated and measured seconds, and the estimate's work. */
  static void writeCsv(Result r, java.nio.file.Path path) {
    StringBuilder sb = new StringBuilder("layout,estimated_s,measured_s,flops,elements,ops,transfers,bytes\n");
    for (Row row : r.rows()) {
      Cost.Work w = row.work();
      sb.append(String.format("\"%s\",%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g%n", row.rules(), row.estimated(),
          row.measured(), w.flops(), w.elements(), w.ops(), w.transfers(), w.bytes()));
    }
    try {
      java.nio.file.Files.writeString(path, sb.toString());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** Spearman's rank correlation (average ranks for ties). */
  public static double spearman(double[] a, double[] b) {
    double[] ra = ranks(a);
    double[] rb = ranks(b);
    double ma = Arrays.stream(ra).average().orElse(0);
    double mb = Arrays.stream(rb).average().orElse(0);
    double num = 0;
    double da = 0;
    double db = 0;
    for (int i = 0; i < ra.length; i++) {
      num += (ra[i] - ma) * (rb[i] - mb);
      da += (ra[i] - ma) * (ra[i] - ma);
      db += (rb[i] - mb) * (rb[i] - mb);
    }
    return da == 0 || db == 0 ? 0 : num / Math.sqrt(da * db);
  }

  static double[] ranks(double[] v) {
    Integer[] idx = new Integer[v.length];
    for (int i = 0; i < idx.length; i++) {
      idx[i] = i;
    }
    Arrays.sort(idx, Comparator.comparingDouble(i -> v[i]));
    double[] r = new double[v.length];
    for (int i = 0; i < idx.length; ) {
      int j = i;
      while (j + 1 < idx.length && v[idx[j + 1]] == v[idx[i]]) {
        j++;
      }
      for (int k = i; k <= j; k++) {
        r[idx[k]] = (i + j) / 2.0 + 1;
      }
      i = j + 1;
    }
    return r;
  }
}
