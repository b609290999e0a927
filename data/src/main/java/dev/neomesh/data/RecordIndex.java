package dev.neomesh.data;

import dev.neomesh.data.tfrecord.TextRecord;
import dev.neomesh.data.tfrecord.TfRecordFile;
import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The records of one dataset split (a glob of TFRecord files) as an in-memory table of (file, byte
 * offset), built by reading only each record's 12-byte header. Any record can then be read by its
 * number in one positional read (CRC-checked), which is what lets the sampler jump to any step.
 * About 12 bytes of memory per record: 100 GB of 2049-token records is ~20 million records, 240 MB.
 */
public final class RecordIndex implements Split {
  private final String name;
  private final List<TfRecordFile> files;
  private final int[] fileOf;
  private final long[] offsets;

  private RecordIndex(String name, List<TfRecordFile> files, int[] fileOf, long[] offsets) {
    this.name = name;
    this.files = files;
    this.fileOf = fileOf;
    this.offsets = offsets;
  }

  /** Indexes the files matched by {@code glob} (relative to {@code baseDir}); {@code what} names it in errors. */
  public static RecordIndex open(String glob, Path baseDir, String what) {
    List<Path> paths = resolve(glob, baseDir, what);
    List<TfRecordFile> files = new ArrayList<>();
    int[] fileOf = new int[1024];
    long[] offsets = new long[1024];
    int n = 0;
    try {
      for (Path p : paths) {
        TfRecordFile f = TfRecordFile.open(p);
        files.add(f);
        for (long off : f.offsets()) {
          if (n == offsets.length) {
            offsets = Arrays.copyOf(offsets, n * 2);
            fileOf = Arrays.copyOf(fileOf, n * 2);
          }
          fileOf[n] = files.size() - 1;
          offsets[n++] = off;
        }
      }
    } catch (RuntimeException e) {
      files.forEach(TfRecordFile::close);
      throw e;
    }
    if (n == 0) {
      files.forEach(TfRecordFile::close);
      throw new DataException(what + ": the files matched by " + glob + " hold no records; re-create them with"
          + " scripts/create_tfrecords (is the corpus smaller than one record of chunk_size + 1 tokens?)");
    }
    return new RecordIndex(what, files, Arrays.copyOf(fileOf, n), Arrays.copyOf(offsets, n));
  }

  /** The TFRecord files a dataset path names: a file or a glob, in natural order. */
  public static List<Path> resolve(String glob, Path baseDir, String what) {
    if (glob.contains("://")) {
      throw new DataException(what + ": path " + glob + " is remote; neomesh reads local files only: copy them"
          + " and point path at the local copy");
    }
    Path abs = baseDir.toAbsolutePath().resolve(glob).normalize();
    List<Path> out = match(abs.toString());
    if (out.isEmpty() && EmbeddedDataset.covers(abs, baseDir)) {
      EmbeddedDataset.ensure(baseDir);
      out = match(abs.toString());
    }
    if (out.isEmpty()) {
      throw new DataException(what + ": path " + glob + " (" + abs + ") matches no files; make them with"
          + " scripts/create_tfrecords or fix the path");
    }
    return out;
  }

  private static List<Path> match(String pattern) {
    if (pattern.indexOf('*') < 0 && pattern.indexOf('?') < 0 && pattern.indexOf('[') < 0 && pattern.indexOf('{') < 0) {
      Path p = Path.of(pattern);
      return Files.isRegularFile(p) ? List.of(p) : List.of();
    }
    Path base = Documents.globBase(pattern);
    if (!Files.isDirectory(base)) return List.of();
    PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + pattern);
    try (Stream<Path> s = Files.walk(base)) {
      return s.filter(Files::isRegularFile).filter(m::matches).sorted(NATURAL).toList();
    } catch (IOException e) {
      throw new DataException(base + ": cannot list (" + e.getMessage() + ")", e);
    }
  }

  private static final Pattern DIGITS = Pattern.compile("\\d+|\\D+");

  /** Natural order: {@code x_2} before {@code x_10}, as GPT-Neo's natural_sort. */
  static final Comparator<Path> NATURAL = (a, b) -> {
    Matcher ma = DIGITS.matcher(a.toString());
    Matcher mb = DIGITS.matcher(b.toString());
    while (ma.find() && mb.find()) {
      String x = ma.group();
      String y = mb.group();
      int c;
      if (Character.isDigit(x.charAt(0)) && Character.isDigit(y.charAt(0))) {
        c = new java.math.BigInteger(x).compareTo(new java.math.BigInteger(y));
      } else {
        c = x.compareTo(y);
      }
      if (c != 0) return c;
    }
    return a.toString().compareTo(b.toString());
  };

  @Override
  public int size() {
    return offsets.length;
  }

  public String name() {
    return name;
  }

  /** The ids of record {@code i}, CRC-checked. */
  public int[] read(int i) {
    TfRecordFile f = files.get(fileOf[i]);
    return TextRecord.decode(f.readAt(offsets[i]), f.path(), offsets[i]);
  }

  @Override
  public Path file(int i) {
    return files.get(fileOf[i]).path();
  }

  @Override
  public String where(int i) {
    return "the record at byte offset " + offsets[i];
  }

  public long offset(int i) {
    return offsets[i];
  }

  @Override
  public void close() {
    files.forEach(TfRecordFile::close);
  }
}
