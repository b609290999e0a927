package dev.neomesh.data;

import dev.neomesh.data.hdf5.CerebrasHdf5File;
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
 *
 * <p>HDF5 files ({@code "format": "hdf5"}, Cerebras' layout) are read the same way: a record is a
 * sample, its tokens are its positions, the ids checked are its input ids and its labels where the
 * mask is 1, padding counts the positions whose mask is 0 (the labels training turns into
 * {@code padding_id}), and EOS counts input ids equal to {@code eos_id} where the mask is 1; a file
 * that is not HDF5, is cut short, or is not in the layout is a problem naming the file.
 */
public final class CheckDataset {
  private static final String DASHES = "-".repeat(50);
  /** Samples per HDF5 read: big enough to read fast, small enough for any file. */
  private static final int HDF5_BLOCK = 1024;

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
          FileCheck fc = new FileCheck(c, nVocab, p);
          if (c.isHdf5()) {
            fc.readHdf5();
          } else {
            fc.readTfRecords();
          }
          if (first == null && fc.first != null) first = decode(c, baseDir, fc.first, problems);
          if (fc.problem != null) problems.add(fc.problem);
          files.add(new FileReport(p, fc.records, fc.tokens, fc.min, fc.max, fc.problem));
          out.println("  " + p + ": " + fc.records + (!c.isHdf5() ? " records" : " samples"
              + (fc.sequenceLength > 0 ? " of " + fc.sequenceLength + " tokens" : "")) + ", " + fc.tokens + " tokens" + (fc.records > 0 ? ", ids " + fc.min + ".." + fc.max : "")
              + (c.isHdf5() && fc.records > 0 ? ", padding (mask 0) " + fc.padding : "")
              + (fc.problem != null ? "  PROBLEM: " + fc.problem : ""));
          records += fc.records;
          tokens += fc.tokens;
          eos += fc.eos;
          padding += fc.padding;
          min = Math.min(min, fc.min);
          max = Math.max(max, fc.max);
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

  /** One file's counts, read in its dataset's format; a read error ends the file and becomes its problem. */
  private static final class FileCheck {
    final DatasetConfig c;
    final int nVocab;
    final Path p;
    long records;
    long tokens;
    long eos;
    long padding;
    int min = Integer.MAX_VALUE;
    int max = Integer.MIN_VALUE;
    int sequenceLength;
    int[] first;
    String problem;

    FileCheck(DatasetConfig c, int nVocab, Path p) {
      this.c = c;
      this.nVocab = nVocab;
      this.p = p;
    }

    void readTfRecords() {
      try (TfRecordFile f = TfRecordFile.open(p)) {
        for (Iterator<TfRecordFile.Entry> it = f.iterator(); it.hasNext(); ) {
          TfRecordFile.Entry e = it.next();
          int[] ids = TextRecord.decode(e.data(), p, e.offset());
          if (first == null && ids.length > 0) first = ids;
          for (int id : ids) {
            count(id);
            if (id == c.eosId()) eos++;
            if (id == c.paddingId()) padding++;
            if ((id >= nVocab || id < 0) && problem == null) {
              problem = p + ": token id " + id + " in the record at byte offset " + e.offset() + " is not below"
                  + " n_vocab " + nVocab + "; the records were made with a larger vocabulary: re-create them"
                  + " with the right tokenizer, or raise n_vocab";
            }
          }
          records++;
          tokens += ids.length;
        }
      } catch (DataException e) {
        fail(e);
      }
    }

    void readHdf5() {
      try (CerebrasHdf5File f = CerebrasHdf5File.open(p)) {
        sequenceLength = f.sequenceLength();
        for (int from = 0; from < f.size(); from += HDF5_BLOCK) {
          List<CerebrasHdf5File.Sample> block = f.read(from, Math.min(HDF5_BLOCK, f.size() - from));
          for (int s = 0; s < block.size(); s++) {
            CerebrasHdf5File.Sample sample = block.get(s);
            int[] ids = sample.inputIds();
            int[] mask = sample.mask();
            int[] labels = sample.labels();
            if (first == null) first = tokens(ids, mask);
            for (int t = 0; t < ids.length; t++) {
              hdf5Id(ids[t], from + s, t, "input id");
              if (mask[t] == 0) {
                padding++;
              } else {
                hdf5Id(labels[t], from + s, t, "label");
                if (ids[t] == c.eosId()) eos++;
              }
            }
            records++;
            tokens += ids.length;
          }
        }
      } catch (DataException e) {
        fail(e);
      }
    }

    private void hdf5Id(int id, int sample, int position, String what) {
      count(id);
      if ((id >= nVocab || id < 0) && problem == null) {
        problem = p + ": " + what + " " + id + " of sample " + sample + " (position " + position + ") is not below"
            + " n_vocab " + nVocab + "; the file was made with a larger vocabulary: re-create it with the right"
            + " tokenizer, or raise n_vocab";
      }
    }

    private void count(int id) {
      if (id < min) min = id;
      if (id > max) max = id;
    }

    private void fail(DataException e) {
      problem = problem == null ? e.getMessage() : problem + "; " + e.getMessage();
    }

    /** The ids where the mask is 1: the first example shown is the text, not its padding. */
    private static int[] tokens(int[] ids, int[] mask) {
      int n = 0;
      int[] out = new int[ids.length];
      for (int t = 0; t < ids.length; t++) {
        if (mask[t] != 0) out[n++] = ids[t];
      }
      return java.util.Arrays.copyOf(out, n);
    }
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
