package dev.neomesh.data.bench;

import dev.neomesh.bench.BenchFlags;
import dev.neomesh.data.Batch;
import dev.neomesh.data.CreateTfRecords;
import dev.neomesh.data.DatasetConfig;
import dev.neomesh.data.DatasetEntry;
import dev.neomesh.data.InputPipeline;
import dev.neomesh.data.tokenizer.Gpt2Tokenizer;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.kohsuke.args4j.Argument;

/**
 * Data benchmarks for docs/BENCHMARKS.md: create_tfrecords tokens/s with GPT-2's tokenizer on
 * tinyshakespeare (1 and 2 threads), and input-pipeline batches/s at 12 x 64 and 8 x 2048, with the
 * ratio to what training consumes. Run: {@code scripts/bench data [text file] [training tokens/s]}.
 */
public final class DataBench {
  private DataBench() {}

  /** The two optional arguments, with their defaults. */
  static final class Flags extends BenchFlags {
    @Argument(index = 0, metaVar = "TEXT", usage = "the text file to tokenize and sample")
    String text = "../shared/data/tinyshakespeare.txt";

    @Argument(index = 1, metaVar = "TOKENS_PER_S", usage = "the training tokens/s the pipeline is compared with")
    String trainTokensPerSec = "50000";

    double trainTokensPerSec() {
      try {
        return Double.parseDouble(trainTokensPerSec);
      } catch (NumberFormatException e) {
        throw new FlagException("TOKENS_PER_S is \"" + trainTokensPerSec + "\": expected a number");
      }
    }

    @Override
    protected void check() {
      trainTokensPerSec();
    }
  }

  public static void main(String[] args) throws Exception {
    Flags flags = BenchFlags.parseOrExit("bench data", new Flags(), args);
    Path text = Path.of(flags.text);
    double trainTokensPerSec = flags.trainTokensPerSec();
    if (!Files.exists(text)) {
      System.err.println("DataBench: " + text + " not found; pass a text file as the first argument");
      System.exit(1);
    }
    Path work = Files.createTempDirectory("neomesh-databench");
    PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
    Gpt2Tokenizer gpt2 = new Gpt2Tokenizer();
    System.out.println("| measurement | value |");
    System.out.println("|---|---|");
    Path records = null;
    for (int threads : new int[] {1, 2}) {
      double[] rates = new double[4];
      long tokens = 0;
      for (int rep = 0; rep < rates.length; rep++) { // the first is JIT warm-up, reported runs are 1..3
        Path out = work.resolve("t" + threads + "_" + rep);
        long t0 = System.nanoTime();
        CreateTfRecords.Summary s = CreateTfRecords.run(new CreateTfRecords.Options(text.toString(), "bench", out,
            100_000, gpt2, 100, gpt2.eosId(), 2048, threads, false), quiet);
        rates[rep] = s.tokens() / ((System.nanoTime() - t0) / 1e9);
        tokens = s.tokens();
        if (records == null) records = out;
      }
      double median = median(Arrays.copyOfRange(rates, 1, rates.length));
      System.out.printf("| create_tfrecords, GPT-2, %s (%d tokens), --processes %d | %,.0f tokens/s (median of 3) |%n",
          text.getFileName(), tokens, threads, median);
    }
    DatasetConfig c = new DatasetConfig("bench", work.resolve("bench.json"), 50257,
        records.getFileName() + "/bench_*.tfrecords", "", "gpt2", true, 50256, 50257, null);
    record Case(int batch, int nCtx, DatasetEntry entry) {}
    List<Case> cases = List.of(
        new Case(12, 64, new DatasetEntry("bench", 1, DatasetEntry.CHUNKS, 1)),
        new Case(12, 64, new DatasetEntry("bench", 1, DatasetEntry.DOCUMENTS_RANDOM, 1)),
        new Case(8, 2048, new DatasetEntry("bench", 1, DatasetEntry.CHUNKS, 1)),
        new Case(8, 2048, new DatasetEntry("bench", 21, DatasetEntry.DOCUMENTS_RANDOM, 1)));
    for (Case k : cases.subList(0, 2)) { // JIT warm-up of the sampler's code paths, not reported
      try (InputPipeline p = InputPipeline.train(List.of(new InputPipeline.Source(c, k.entry())),
          new InputPipeline.Options(k.nCtx(), k.batch(), 2, work, 100, 8, 2))) {
        long t0 = System.nanoTime();
        while (System.nanoTime() - t0 < 2e9) p.next();
      }
    }
    for (Case k : cases) {
      InputPipeline.Options o = new InputPipeline.Options(k.nCtx(), k.batch(), 1, work, 100, 8, 2);
      try (InputPipeline p = InputPipeline.train(List.of(new InputPipeline.Source(c, k.entry())), o)) {
        long sink = 0;
        long warm = System.nanoTime();
        while (System.nanoTime() - warm < 1e9) sink += p.next().inputs()[0];
        long n = 0;
        long t0 = System.nanoTime();
        while (System.nanoTime() - t0 < 3e9) {
          Batch b = p.next();
          sink += b.inputs()[0];
          n++;
        }
        double perSec = n / ((System.nanoTime() - t0) / 1e9);
        double need = trainTokensPerSec / (k.batch() * (double) k.nCtx());
        System.out.printf("| input pipeline %d x %d, %s stitch %d (2 threads) | %,.0f batches/s = %,.0f tokens/s;"
            + " %.0fx the %,.1f batches/s that %,.0f training tokens/s use |%n", k.batch(), k.nCtx(), k.entry().mode(),
            k.entry().stitch(), perSec, perSec * k.batch() * k.nCtx(), perSec / need, need, trainTokensPerSec);
        if (sink == 42) System.out.print("");
      }
    }
  }

  private static double median(double[] xs) {
    double[] s = xs.clone();
    Arrays.sort(s);
    return s[s.length / 2];
  }
}
