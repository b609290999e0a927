package dev.neomesh.data.cli;

import dev.neomesh.data.Document;
import dev.neomesh.data.Documents;
import dev.neomesh.data.tokenizer.ByteLevelBpeTokenizer;
import dev.neomesh.data.tokenizer.ByteLevelBpeTrainer;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.kohsuke.args4j.Option;

/** {@code scripts/train_tokenizer}: trains a byte-level BPE and writes byte-level-bpe.tokenizer.json. */
public final class TrainTokenizerMain {
  @Option(name = "--input_dir", aliases = "--base_dir", required = true, usage = "folder, file or glob of the corpus")
  String inputDir;

  @Option(name = "--output_dir", usage = "folder for byte-level-bpe.tokenizer.json (not emptied first)")
  String outputDir = "tokenizers";

  @Option(name = "--vocab_size", required = true, usage = "vocabulary size, specials and 256 bytes included")
  int vocabSize;

  @Option(name = "--min_frequency", usage = "merge only pairs seen at least this often")
  int minFrequency = 2;

  @Option(name = "--verbose", usage = "print stack traces")
  boolean verbose;

  public static void main(String[] args) {
    TrainTokenizerMain m = new TrainTokenizerMain();
    Cli.main("train_tokenizer", args, m, () -> {
      long t0 = System.nanoTime();
      ByteLevelBpeTrainer trainer = new ByteLevelBpeTrainer(m.vocabSize, m.minFrequency);
      List<Path> files = Documents.inputFiles(m.inputDir);
      long docs = 0;
      try (Stream<Document> s = Documents.stream(files)) {
        for (Document d : (Iterable<Document>) s::iterator) {
          trainer.add(d.text());
          docs++;
        }
      }
      ByteLevelBpeTrainer.Model model = trainer.train();
      Path out = Path.of(m.outputDir).resolve(ByteLevelBpeTrainer.FILE_NAME);
      ByteLevelBpeTrainer.save(model, out);
      ByteLevelBpeTokenizer.load(out); // proves the file loads
      System.out.printf("trained on %d documents from %d files: vocabulary %d (%d merges) in %.1f s%n", docs,
          files.size(), model.vocab().size(), model.merges().size(), (System.nanoTime() - t0) / 1e9);
      System.out.println("wrote " + out + " (<|endoftext|> = 0, <|padding|> = 1)");
    });
  }
}
