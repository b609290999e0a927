package dev.neomesh.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.neomesh.data.tfrecord.TextRecord;
import dev.neomesh.data.tfrecord.TfRecordWriter;
import dev.neomesh.data.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

/**
 * Tokenizes a corpus into GPT-Neo's TFRecords: every document becomes {@code encode(doc) + [separator]},
 * the documents form one continuous token stream, and the stream is cut into records of
 * {@code chunk_size + 1} ids ({@code tf.train.Example}, feature {@code "text"}), {@code files_per}
 * records per file named {@code {name}_{fileNo}_{count}.tfrecords}.
 *
 * <p>Differences from GPT-Neo's script, on purpose: a document's tail is carried into the next
 * document (GPT-Neo drops it unless it is the last of an input file), so only documents shorter than
 * {@code minimum_size} and the stream's final partial record are discarded; a custom tokenizer works;
 * and a stopped run resumes. Each output file is written under a {@code .tmp} name and renamed when it
 * is complete, and after each rename the position (input file, document, carried tokens) is saved to
 * {@value #STATE_FILE} in the output folder, so an interrupted run leaves no partial {@code .tfrecords}
 * and its rerun continues where the last complete file ended, with identical output. Tokenization runs
 * on {@code processes} threads; records are written in document order, so output does not depend on
 * the thread count.
 */
public final class CreateTfRecords {
  public static final String STATE_FILE = "create_tfrecords.state.json";
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** The run's settings (GPT-Neo's flags). {@code separator} is one token id. */
  public record Options(String inputDir, String name, Path outputDir, int filesPer, Tokenizer tokenizer,
      int minimumSize, int separator, int chunkSize, int processes, boolean progress) {
    public Options {
      if (filesPer < 1) throw new DataException("--files_per " + filesPer + " must be at least 1");
      if (chunkSize < 1) throw new DataException("--chunk_size " + chunkSize + " must be at least 1");
      if (minimumSize < 0) throw new DataException("--minimum_size " + minimumSize + " must not be negative");
      if (separator < 0 || separator >= Math.max(tokenizer.vocabSize(), tokenizer.paddingId() + 1)) {
        throw new DataException("--separator " + separator + " is not an id of the tokenizer " + tokenizer.name()
            + " (vocabulary " + tokenizer.vocabSize() + "); use its EOS id " + tokenizer.eosId());
      }
      if (processes < 1) processes = Runtime.getRuntime().availableProcessors();
    }
  }

  /**
   * What a run did, over all its resumed parts. {@code tokens} counts every id produced (separators
   * included), so {@code tokens = records * (chunk_size + 1) + discarded}.
   */
  public record Summary(long documents, long tokens, long records, long discarded, int files, boolean resumed) {
    public String describe() {
      return "documents: " + documents + ", tokens: " + tokens + ", records written: " + records + " (in " + files
          + " file" + (files == 1 ? "" : "s") + "), tokens discarded: " + discarded;
    }
  }

  private CreateTfRecords() {}

  public static Summary run(Options o, PrintStream log) {
    List<Path> inputs = Documents.inputFiles(o.inputDir());
    try {
      Files.createDirectories(o.outputDir());
    } catch (IOException e) {
      throw new DataException(o.outputDir() + ": cannot create the output folder (" + e.getMessage() + ")", e);
    }
    ObjectNode settings = settings(o, inputs);
    State st = State.load(o, settings);
    if (st.done) {
      log.println("create_tfrecords: " + o.outputDir() + " is already complete (" + STATE_FILE + ")");
      return st.summary(true);
    }
    boolean resumed = st.nextFile > 0 || st.nextDoc > 0 || st.fileNo > 0;
    if (resumed) {
      log.println("create_tfrecords: resuming at input file " + (st.nextFile + 1) + "/" + inputs.size()
          + ", document " + st.nextDoc + ", output file " + st.fileNo);
    }
    new Run(o, inputs, st, settings, log).go();
    return st.summary(resumed);
  }

  private static ObjectNode settings(Options o, List<Path> inputs) {
    ObjectNode s = JSON.createObjectNode();
    s.put("name", o.name());
    s.put("encoder", o.tokenizer().name());
    s.put("chunk_size", o.chunkSize());
    s.put("files_per", o.filesPer());
    s.put("minimum_size", o.minimumSize());
    s.put("separator", o.separator());
    ArrayNode in = s.putArray("inputs");
    for (Path p : inputs) {
      ObjectNode f = in.addObject();
      f.put("path", p.toAbsolutePath().normalize().toString());
      try {
        f.put("bytes", Files.size(p));
      } catch (IOException e) {
        throw new DataException(p + ": cannot read (" + e.getMessage() + ")", e);
      }
    }
    return s;
  }

  /** Where a run stands; saved after every completed output file. */
  private static final class State {
    int nextFile;
    long nextDoc;
    int[] carry = new int[0];
    int fileNo;
    long documents;
    long tokens;
    long records;
    long discarded;
    boolean done;
    Path file;

    static State load(Options o, ObjectNode settings) {
      State st = new State();
      st.file = o.outputDir().resolve(STATE_FILE);
      if (!Files.exists(st.file)) {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(o.outputDir(), o.name() + "_*.tfrecords")) {
          for (Path p : ds) {
            throw new DataException(o.outputDir() + " already holds " + p.getFileName() + " but no " + STATE_FILE
                + " to resume from; use another --output_dir or --name, or delete the old files");
          }
        } catch (IOException e) {
          throw new DataException(o.outputDir() + ": cannot list (" + e.getMessage() + ")", e);
        }
        return st;
      }
      JsonNode j;
      try {
        j = JSON.readTree(st.file.toFile());
      } catch (IOException e) {
        throw new DataException(st.file + ": unreadable resume state (" + e.getMessage() + "); delete it and"
            + " the " + o.name() + "_*.tfrecords files to start afresh", e);
      }
      if (!String.valueOf(settings).equals(String.valueOf(j.get("settings")))) {
        throw new DataException(st.file + ": this output folder holds a run with different settings or inputs ("
            + j.get("settings") + "); use a new --output_dir, or delete " + STATE_FILE + " and the old files");
      }
      st.nextFile = j.path("next_file").asInt();
      st.nextDoc = j.path("next_doc").asLong();
      JsonNode c = j.path("carry");
      st.carry = new int[c.size()];
      for (int i = 0; i < st.carry.length; i++) st.carry[i] = c.get(i).asInt();
      st.fileNo = j.path("file_no").asInt();
      st.documents = j.path("documents").asLong();
      st.tokens = j.path("tokens").asLong();
      st.records = j.path("records").asLong();
      st.discarded = j.path("discarded").asLong();
      st.done = j.path("done").asBoolean();
      return st;
    }

    void save(ObjectNode settings) {
      ObjectNode j = JSON.createObjectNode();
      j.set("settings", settings);
      j.put("next_file", nextFile);
      j.put("next_doc", nextDoc);
      ArrayNode c = j.putArray("carry");
      for (int id : carry) c.add(id);
      j.put("file_no", fileNo);
      j.put("documents", documents);
      j.put("tokens", tokens);
      j.put("records", records);
      j.put("discarded", discarded);
      j.put("done", done);
      Path tmp = file.resolveSibling(STATE_FILE + ".tmp");
      try {
        JSON.writeValue(tmp.toFile(), j);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      } catch (IOException e) {
        throw new DataException(file + ": cannot save the resume state (" + e.getMessage() + ")", e);
      }
    }

    Summary summary(boolean resumed) {
      return new Summary(documents, tokens, records, discarded, fileNo, resumed);
    }
  }

  /** One document's ids, or the end of an input file, or a reader failure, in document order. */
  private record Item(int file, long doc, Future<int[]> ids, RuntimeException error) {}

  private static final class Run {
    final Options o;
    final List<Path> inputs;
    final State st;
    final ObjectNode settings;
    final PrintStream log;
    int[] buf;
    int start;
    int end;
    TfRecordWriter writer;
    Path tmpPath;

    Run(Options o, List<Path> inputs, State st, ObjectNode settings, PrintStream log) {
      this.o = o;
      this.inputs = inputs;
      this.st = st;
      this.settings = settings;
      this.log = log;
      buf = new int[Math.max(st.carry.length, o.chunkSize() + 1) * 2];
      System.arraycopy(st.carry, 0, buf, 0, st.carry.length);
      end = st.carry.length;
    }

    void go() {
      deleteTemporaries();
      ExecutorService pool = Executors.newFixedThreadPool(o.processes(), daemon("tokenize"));
      BlockingQueue<Item> queue = new ArrayBlockingQueue<>(8 * o.processes());
      Thread reader = new Thread(() -> read(pool, queue), "create_tfrecords-reader");
      reader.setDaemon(true);
      ProgressBar bar = o.progress() ? progressBar() : null;
      if (bar != null) bar.stepTo(st.nextFile);
      reader.start();
      try {
        int file = st.nextFile;
        long doc = st.nextDoc;
        while (true) {
          Item item = queue.take();
          if (item.error() != null) throw item.error();
          if (item.file() == inputs.size()) break;
          if (item.ids() == null) { // end of an input file
            file = item.file() + 1;
            doc = 0;
            if (bar != null) bar.stepTo(file);
            continue;
          }
          int[] ids = get(item.ids());
          doc = item.doc() + 1;
          st.documents++;
          st.tokens += ids.length;
          if (ids.length < o.minimumSize()) {
            st.discarded += ids.length;
            continue;
          }
          append(ids);
          while (end - start >= o.chunkSize() + 1) {
            writeRecord();
            if (writer.records() == o.filesPer()) finishFile(file, doc);
          }
          if (bar != null) bar.setExtraMessage(" " + st.tokens + " tokens");
        }
        st.discarded += end - start;
        start = end;
        if (writer != null) finishFile(inputs.size(), 0);
        st.done = true;
        st.carry = new int[0];
        st.nextFile = inputs.size();
        st.nextDoc = 0;
        st.save(settings);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new DataException("create_tfrecords interrupted; rerun the same command to resume", e);
      } finally {
        reader.interrupt();
        pool.shutdownNow();
        if (bar != null) bar.close();
        if (writer != null) { // unfinished file of a failed run: leave no partial output
          try {
            writer.close();
          } catch (RuntimeException ignored) {
            // the temporary is deleted below either way
          }
          try {
            Files.deleteIfExists(tmpPath);
          } catch (IOException ignored) {
            // a stale .tmp is deleted by the next run
          }
        }
      }
    }

    private void read(ExecutorService pool, BlockingQueue<Item> queue) {
      Tokenizer tok = o.tokenizer();
      int sep = o.separator();
      try {
        for (int f = st.nextFile; f < inputs.size(); f++) {
          long skip = f == st.nextFile ? st.nextDoc : 0;
          try (Documents.DocumentIterator it = Documents.open(inputs.get(f))) {
            long d = 0;
            while (it.hasNext()) {
              Document doc = it.next();
              if (d >= skip) {
                long docNo = d;
                Future<int[]> ids = pool.submit(() -> {
                  int[] t = tok.encode(doc.text());
                  int[] withSep = java.util.Arrays.copyOf(t, t.length + 1);
                  withSep[t.length] = sep;
                  return withSep;
                });
                queue.put(new Item(f, docNo, ids, null));
              }
              d++;
            }
          }
          queue.put(new Item(f, -1, null, null));
        }
        queue.put(new Item(inputs.size(), -1, null, null));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (RuntimeException e) {
        try {
          queue.put(new Item(-1, -1, null, e));
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
        }
      }
    }

    private static int[] get(Future<int[]> f) throws InterruptedException {
      try {
        return f.get();
      } catch (ExecutionException e) {
        if (e.getCause() instanceof RuntimeException r) throw r;
        throw new IllegalStateException(e.getCause());
      }
    }

    private void append(int[] ids) {
      if (end + ids.length > buf.length) {
        int live = end - start;
        int[] nb = live + ids.length > buf.length / 2 ? new int[Math.max(buf.length, live + ids.length) * 2] : buf;
        System.arraycopy(buf, start, nb, 0, live);
        buf = nb;
        start = 0;
        end = live;
      }
      System.arraycopy(ids, 0, buf, end, ids.length);
      end += ids.length;
    }

    private void writeRecord() {
      if (writer == null) {
        tmpPath = o.outputDir().resolve(o.name() + "_" + st.fileNo + ".tfrecords.tmp");
        writer = new TfRecordWriter(tmpPath);
      }
      writer.write(TextRecord.encode(buf, start, start + o.chunkSize() + 1));
      start += o.chunkSize() + 1;
      st.records++;
    }

    /** Closes the current file, renames it to its final name and saves the resume state. */
    private void finishFile(int nextFile, long nextDoc) {
      long count = writer.records();
      writer.close();
      writer = null;
      Path fin = o.outputDir().resolve(o.name() + "_" + st.fileNo + "_" + count + ".tfrecords");
      try {
        Files.move(tmpPath, fin, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      } catch (IOException e) {
        throw new DataException(fin + ": cannot rename the finished file (" + e.getMessage() + ")", e);
      }
      st.fileNo++;
      st.nextFile = nextFile;
      st.nextDoc = nextDoc;
      st.carry = java.util.Arrays.copyOfRange(buf, start, end);
      st.save(settings);
    }

    private void deleteTemporaries() {
      try (DirectoryStream<Path> ds = Files.newDirectoryStream(o.outputDir(), o.name() + "_*.tfrecords.tmp")) {
        for (Path p : ds) Files.delete(p);
      } catch (IOException e) {
        throw new DataException(o.outputDir() + ": cannot remove an unfinished file (" + e.getMessage() + ")", e);
      }
    }

    private ProgressBar progressBar() {
      ProgressBarBuilder b = new ProgressBarBuilder().setTaskName("create_tfrecords").setInitialMax(inputs.size())
          .setUnit(" files", 1).showSpeed();
      if (System.console() == null) {
        b.setConsumer(new DelegatingProgressBarConsumer(log::println)).setUpdateIntervalMillis(10_000);
      }
      return b.build();
    }
  }

  static java.util.concurrent.ThreadFactory daemon(String name) {
    return r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    };
  }

  /** Parses GPT-Neo's {@code --separator} ("[50256]" or "50256"): exactly one id. */
  public static int parseSeparator(String s) {
    String t = s.trim();
    if (t.startsWith("[") && t.endsWith("]")) t = t.substring(1, t.length() - 1).trim();
    try {
      return Integer.parseInt(t);
    } catch (NumberFormatException e) {
      throw new DataException("--separator " + s + ": expected one token id such as [50256]");
    }
  }

  static List<Path> list(Path dir, String glob) {
    List<Path> out = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, glob)) {
      ds.forEach(out::add);
    } catch (IOException e) {
      throw new DataException(dir + ": cannot list (" + e.getMessage() + ")", e);
    }
    out.sort(null);
    return out;
  }
}
