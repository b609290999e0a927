package dev.neomesh.data.cli;

import dev.neomesh.data.CreateTfRecords;
import dev.neomesh.data.tokenizer.Tokenizer;
import dev.neomesh.data.tokenizer.Tokenizers;
import java.nio.file.Path;
import org.kohsuke.args4j.Option;

/** {@code scripts/create_tfrecords}: GPT-Neo's flags; see docs/DATA.md. */
public final class CreateTfRecordsMain {
  @Option(name = "--input_dir", required = true, usage = "folder (recursive), file or glob of .txt/.jsonl/.jsonl.zst/.zst")
  String inputDir;

  @Option(name = "--name", usage = "output file name prefix")
  String name = "openwebtext";

  @Option(name = "--output_dir", usage = "output folder")
  String outputDir = "./tfrecords";

  @Option(name = "--files_per", usage = "records per output file")
  int filesPer = 100_000;

  @Option(name = "--encoder_path", usage = "gpt2 (default), char, or a tokenizer.json")
  String encoderPath;

  @Option(name = "--minimum_size", usage = "documents with fewer tokens (separator included) are discarded")
  int minimumSize = 100;

  @Option(name = "--separator", usage = "the id appended after every document, e.g. [50256] (default: the tokenizer's EOS)")
  String separator;

  @Option(name = "--chunk_size", usage = "context length: records hold chunk_size + 1 ids")
  int chunkSize = 2048;

  @Option(name = "--processes", usage = "tokenizer threads (0 = all cores)")
  int processes = 0;

  @Option(name = "--no_progress", usage = "no progress bar")
  boolean noProgress;

  @Option(name = "--verbose", usage = "print stack traces")
  boolean verbose;

  public static void main(String[] args) {
    CreateTfRecordsMain m = new CreateTfRecordsMain();
    Cli.main("create_tfrecords", args, m, () -> {
      Tokenizer tok = Tokenizers.forEncoderPath(m.encoderPath);
      int sep = m.separator == null ? tok.eosId() : CreateTfRecords.parseSeparator(m.separator);
      long t0 = System.nanoTime();
      CreateTfRecords.Summary s = CreateTfRecords.run(new CreateTfRecords.Options(m.inputDir, m.name,
          Path.of(m.outputDir), m.filesPer, tok, m.minimumSize, sep, m.chunkSize, m.processes, !m.noProgress),
          System.err);
      double secs = (System.nanoTime() - t0) / 1e9;
      System.out.println(s.describe());
      System.out.printf("output: %s (%.1f s)%n", m.outputDir, secs);
    });
  }
}
