package dev.neomesh.data;

import dev.neomesh.data.tfrecord.TextRecord;
import dev.neomesh.data.tfrecord.TfRecordFile;
import dev.neomesh.data.tokenizer.Tokenizer;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * Reads every record of the datasets' train and eval files and reports per file the records and
 * tokens, the token-id minimum and maximum, EOS and padding counts, the first example decoded (its
 * first and last 500 characters between lines of 50 dashes, as GPT-Neo's {@code --check_dataset}
 * prints), and every problem: a token id not below {@code n_vocab} (file, byte offset, id), a corrupt
 * or truncated record (file, byte offset), files missing, a dataset vocabulary larger than the model's.
 */
public final class CheckDataset {
  private static final String DASHES = "-".repeat(50);

  /** One file's counts; {@code problem} is null when the whole file read cleanly. */
  public record FileReport(Path file, long records, long tokens, int minId, int maxId, String problem) {}

  /** The result; {@link #ok()} is false when there are problems. */
  public record Report(List<FileReport> files, long records, long tokens, int minId, int maxId, long eosCount,
      long paddingCount, String firstExample, List<String> problems) {
    public boolean ok() {
      return problems.isEmpty();
    }

    /** Throws a DataException listing the problems, if any. */
    public Report throwIfFailed() {
      if (!ok()) throw new DataException("check_dataset found problems:\n  " + String.join("\n  ", problems));
      return this;
    }
  }

  private CheckDataset() {}

  /**
   * Checks {@code configs} against a model vocabulary of {@code nVocab}, printing as it goes;
   * relative paths resolve against {@code baseDir}.
   */
  public static Report run(List<DatasetConfig> configs, int nVocab, Path baseDir, PrintStream out) {
    List<FileReport> files = new ArrayList<>();
    List<String> problems = new ArrayList<>();
    long records = 0;
    long tokens = 0;
    long eos = 0;
    long padding = 0;
    int min = Integer.MAX_VALUE;
    int max = Integer.MIN_VALUE;
    String first = null;
    for (DatasetConfig c : configs) {
      if (c.nVocab() > nVocab) {
        problems.add(c.source() + ": the dataset's n_vocab " + c.nVocab() + " is larger than the model's n_vocab "
            + nVocab + "; raise the model's n_vocab");
      }
      out.println("dataset " + c.id() + " (" + c.source() + "), n_vocab " + c.nVocab() + ", eos_id " + c.eosId()
          + ", padding_id " + c.paddingId());
      List<String> globs = new ArrayList<>(List.of(c.path()));
      if (c.hasEval()) globs.add(c.evalPath());
      for (String glob : globs) {
        List<Path> paths;
        try {
          paths = RecordIndex.resolve(glob, baseDir, String.valueOf(c.source()));
        } catch (DataException e) {
          problems.add(e.getMessage());
          out.println("  " + e.getMessage());
          continue;
        }
        for (Path p : paths) {
          long fr = 0;
          long ft = 0;
          int fmin = Integer.MAX_VALUE;
          int fmax = Integer.MIN_VALUE;
          String problem = null;
          try (TfRecordFile f = TfRecordFile.open(p)) {
            for (Iterator<TfRecordFile.Entry> it = f.iterator(); it.hasNext(); ) {
              TfRecordFile.Entry e = it.next();
              int[] ids = TextRecord.decode(e.data(), p, e.offset());
              if (first == null && ids.length > 0) first = decode(c, baseDir, ids, problems);
              for (int id : ids) {
                if (id < fmin) fmin = id;
                if (id > fmax) fmax = id;
                if (id == c.eosId()) eos++;
                if (id == c.paddingId()) padding++;
                if ((id >= nVocab || id < 0) && problem == null) {
                  problem = p + ": token id " + id + " in the record at byte offset " + e.offset() + " is not below"
                      + " n_vocab " + nVocab + "; the records were made with a larger vocabulary: re-create them"
                      + " with the right tokenizer, or raise n_vocab";
                }
              }
              fr++;
              ft += ids.length;
            }
          } catch (DataException e) {
            problem = problem == null ? e.getMessage() : problem + "; " + e.getMessage();
          }
          if (problem != null) problems.add(problem);
          files.add(new FileReport(p, fr, ft, fmin, fmax, problem));
          out.println("  " + p + ": " + fr + " records, " + ft + " tokens"
              + (fr > 0 ? ", ids " + fmin + ".." + fmax : "") + (problem != null ? "  PROBLEM: " + problem : ""));
          records += fr;
          tokens += ft;
          min = Math.min(min, fmin);
          max = Math.max(max, fmax);
        }
      }
    }
    if (records == 0) {
      min = 0;
      max = -1;
    }
    out.println("total: " + records + " records, " + tokens + " tokens; token ids " + min + ".." + max
        + " (n_vocab " + nVocab + "); eos " + eos + ", padding " + padding);
    if (first != null) {
      out.println("first example:");
      out.println(DASHES);
      out.println(first.length() <= 1000 ? first : first.substring(0, 500) + "\n\n...\n\n" + first.substring(first.length() - 500));
      out.println(DASHES);
    }
    if (problems.isEmpty()) {
      out.println("check_dataset: OK");
    } else {
      out.println("check_dataset: " + problems.size() + " problem(s):");
      problems.forEach(p -> out.println("  " + p));
    }
    return new Report(List.copyOf(files), records, tokens, min, max, eos, padding, first, List.copyOf(problems));
  }

  private static String decode(DatasetConfig c, Path baseDir, int[] ids, List<String> problems) {
    try {
      Tokenizer t = c.tokenizer(baseDir);
      return t.decode(ids);
    } catch (DataException e) {
      problems.add(e.getMessage());
      return "(cannot decode: " + e.getMessage() + ")";
    }
  }
}
