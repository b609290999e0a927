package dev.neomesh.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.luben.zstd.ZstdInputStream;
import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.stream.Stream;

/**
 * Corpus readers. An input is a file, a folder (searched recursively) or a glob ({@code data/*.jsonl},
 * {@code corpus/**.txt}); files are taken in sorted path order. Formats: {@code .txt} (the file is one
 * document), {@code .jsonl} and {@code .jsonl.zst} (one JSON object per line, its {@code "text"} is a
 * document), {@code .zst} (a compressed text file, one document). Everything streams: a JSONL corpus is
 * read one line at a time, so its size does not matter (a single .txt document is held in memory).
 */
public final class Documents {
  /** File name endings this reader understands. */
  public static final List<String> EXTENSIONS = List.of(".jsonl.zst", ".jsonl", ".txt", ".zst");

  private static final ObjectMapper JSON = new ObjectMapper();

  private Documents() {}

  /** The input files named by a file, folder or glob, sorted; a DataException when there are none. */
  public static List<Path> inputFiles(String input) {
    if (input == null || input.isBlank()) {
      throw new DataException("no input given; pass --input_dir with a folder, a file or a glob of .txt,"
          + " .jsonl, .jsonl.zst or .zst files");
    }
    if (input.contains("://")) {
      throw new DataException(input + ": remote paths are not supported; copy the files to a local folder");
    }
    List<Path> files = new ArrayList<>();
    int skipped = 0;
    if (isGlob(input)) {
      Path base = globBase(input);
      if (!Files.isDirectory(base)) {
        throw new DataException(input + ": the folder " + base + " does not exist; check the path");
      }
      PathMatcher matcher = FileSystems.getDefault().getPathMatcher("glob:" + input);
      for (Path p : walk(base)) {
        if (matcher.matches(p)) {
          if (isKnown(p)) files.add(p);
          else skipped++;
        }
      }
    } else {
      Path p = Path.of(input);
      if (Files.isDirectory(p)) {
        for (Path f : walk(p)) {
          if (isKnown(f)) files.add(f);
          else skipped++;
        }
      } else if (Files.isRegularFile(p)) {
        if (!isKnown(p)) {
          throw new DataException(p + ": unknown file type; neomesh reads " + String.join(", ", EXTENSIONS)
              + " (rename the file or convert it)");
        }
        files.add(p);
      } else {
        throw new DataException(input + ": no such file or folder; check --input_dir");
      }
    }
    if (files.isEmpty()) {
      throw new DataException(input + ": no input files found (looked for " + String.join(", ", EXTENSIONS)
          + (skipped > 0 ? "; skipped " + skipped + " file(s) of other types" : "")
          + "); put the corpus there or point --input_dir at the right folder");
    }
    files.sort(null);
    return files;
  }

  static boolean isKnown(Path p) {
    String n = p.getFileName().toString();
    for (String e : EXTENSIONS) if (n.endsWith(e)) return true;
    return false;
  }

  private static boolean isGlob(String s) {
    return s.indexOf('*') >= 0 || s.indexOf('?') >= 0 || s.indexOf('[') >= 0 || s.indexOf('{') >= 0;
  }

  /** The longest leading part of a glob that has no glob characters, as a folder. */
  static Path globBase(String glob) {
    int cut = glob.length();
    for (char c : new char[] {'*', '?', '[', '{'}) {
      int i = glob.indexOf(c);
      if (i >= 0) cut = Math.min(cut, i);
    }
    int slash = glob.lastIndexOf('/', cut);
    if (slash < 0) return Path.of(".");
    if (slash == 0) return Path.of("/");
    return Path.of(glob.substring(0, slash));
  }

  private static List<Path> walk(Path dir) {
    Path start = dir.toString().equals(".") ? Path.of("") : dir;
    try (Stream<Path> s = Files.walk(dir.toString().equals(".") ? Path.of(".") : dir)) {
      List<Path> out = new ArrayList<>();
      s.filter(Files::isRegularFile).forEach(p -> out.add(start.toString().isEmpty() ? Path.of(".").relativize(p) : p));
      return out;
    } catch (IOException | UncheckedIOException e) {
      throw new DataException(dir + ": cannot list the folder (" + e.getMessage() + ")", e);
    }
  }

  /** Every document of every file, in order; close the stream to release the open file. */
  public static Stream<Document> stream(List<Path> files) {
    return files.stream().flatMap(f -> {
      DocumentIterator it = open(f);
      Iterable<Document> iterable = () -> it;
      return java.util.stream.StreamSupport.stream(iterable.spliterator(), false).onClose(it::close);
    });
  }

  /** The documents of one file, streaming. */
  public static DocumentIterator open(Path file) {
    String n = file.getFileName().toString();
    InputStream in = openStream(file, n.endsWith(".zst"));
    if (n.endsWith(".jsonl") || n.endsWith(".jsonl.zst")) return new JsonlIterator(file, in);
    return new WholeFileIterator(file, in);
  }

  private static InputStream openStream(Path file, boolean zstd) {
    try {
      InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
      return zstd ? new BufferedInputStream(new ZstdInputStream(raw), 1 << 16) : raw;
    } catch (NoSuchFileException e) {
      throw new DataException(file + ": no such file", e);
    } catch (AccessDeniedException e) {
      throw new DataException(file + ": permission denied; make the file readable (chmod +r)", e);
    } catch (IOException e) {
      throw new DataException(file + ": cannot open (" + e + ")", e);
    }
  }

  /** An iterator over a file's documents that holds the file open until closed. */
  public abstract static sealed class DocumentIterator implements Iterator<Document>, AutoCloseable
      permits JsonlIterator, WholeFileIterator {
    final Path file;
    final InputStream in;

    DocumentIterator(Path file, InputStream in) {
      this.file = file;
      this.in = in;
    }

    DataException readFailed(String where, IOException e) {
      String m = e.getMessage() == null ? e.toString() : e.getMessage();
      return new DataException(file + ": read failed " + where + " (" + m + "); the file is truncated,"
          + " corrupt or unreadable: re-download or re-create it", e);
    }

    @Override
    public void close() {
      try {
        in.close();
      } catch (IOException ignored) {
        // nothing to recover when closing a reader
      }
    }
  }

  static final class WholeFileIterator extends DocumentIterator {
    private boolean done;

    WholeFileIterator(Path file, InputStream in) {
      super(file, in);
    }

    @Override
    public boolean hasNext() {
      return !done;
    }

    @Override
    public Document next() {
      if (done) throw new NoSuchElementException();
      done = true;
      try {
        String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        return new Document(file, 0, text);
      } catch (IOException e) {
        throw readFailed("while reading", e);
      } finally {
        close();
      }
    }
  }

  static final class JsonlIterator extends DocumentIterator {
    private final BufferedReader reader;
    private long line;
    private Document next;

    JsonlIterator(Path file, InputStream in) {
      super(file, in);
      this.reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8), 1 << 16);
    }

    @Override
    public boolean hasNext() {
      while (next == null) {
        String s;
        try {
          s = reader.readLine();
        } catch (IOException e) {
          throw readFailed("after line " + line, e);
        }
        if (s == null) {
          close();
          return false;
        }
        line++;
        if (s.isBlank()) continue;
        next = new Document(file, line, text(s));
      }
      return true;
    }

    private String text(String s) {
      JsonNode node;
      try {
        node = JSON.readTree(s);
      } catch (JsonProcessingException e) {
        throw new DataException(file + ":" + line + ": not valid JSON (" + e.getOriginalMessage() + "); each"
            + " line of a .jsonl file must be one JSON object like {\"text\": \"...\"}: fix or remove the line");
      }
      JsonNode t = node == null ? null : node.get("text");
      if (t == null || !t.isTextual()) {
        throw new DataException(file + ":" + line + ": " + (t == null ? "no \"text\" field" : "\"text\" is not a"
            + " string") + "; each line of a .jsonl file must be a JSON object like {\"text\": \"...\"}");
      }
      return t.asText();
    }

    @Override
    public Document next() {
      if (!hasNext()) throw new NoSuchElementException();
      Document d = next;
      next = null;
      return d;
    }
  }
}
