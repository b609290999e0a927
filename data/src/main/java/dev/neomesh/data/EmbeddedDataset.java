package dev.neomesh.data;

import dev.neomesh.data.tokenizer.CharTokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * The demo corpus that needs nothing outside the repository: every {@code *.md} and {@code *.java}
 * file under the repository root (skipping {@code target/}, {@code .git/} and {@code runs/}), in sorted
 * order, tokenized by characters into {@code runs/data/repo_text/} ({@value #CHUNK_SIZE}+1-byte records).
 * {@code configs/dataset_configs/repo_text_char.json} points there, and the record index builds it on
 * first use; it is rebuilt when the sources' content hash changes. Takes about a second.
 */
public final class EmbeddedDataset {
  public static final String DIR = "runs/data/repo_text";
  public static final String NAME = "repo_text";
  public static final int CHUNK_SIZE = 1024;
  private static final String STAMP = "sources.sha256";

  private EmbeddedDataset() {}

  /** True when {@code path} (absolute) lies in this dataset's folder under {@code repoRoot}. */
  static boolean covers(Path path, Path repoRoot) {
    return path.startsWith(repoRoot.toAbsolutePath().normalize().resolve(DIR));
  }

  /** Builds {@code runs/data/repo_text} under {@code repoRoot} unless it is up to date; returns the folder. */
  public static synchronized Path ensure(Path repoRoot) {
    Path root = repoRoot.toAbsolutePath().normalize();
    Path out = root.resolve(DIR);
    List<Path> sources = sources(root);
    if (sources.isEmpty()) {
      throw new DataException(root + ": no *.md or *.java files to build the embedded dataset from; run from the"
          + " repository root");
    }
    Path stamp = out.resolve(STAMP);
    try {
      String hash = hash(root, sources);
      if (Files.exists(stamp) && Files.readString(stamp).trim().equals(hash)) return out;
      if (Files.isDirectory(out)) {
        try (Stream<Path> s = Files.list(out)) {
          for (Path p : s.toList()) Files.delete(p);
        }
      }
      Path in = Files.createTempDirectory("neomesh-repo-text");
      try {
        Path list = in.resolve("sources.jsonl");
        try (OutputStream w = Files.newOutputStream(list)) {
          com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
          for (Path p : sources) {
            String text = Files.readString(p, StandardCharsets.UTF_8);
            w.write(json.writeValueAsBytes(java.util.Map.of("text", text)));
            w.write('\n');
          }
        }
        CharTokenizer chars = new CharTokenizer();
        CreateTfRecords.run(new CreateTfRecords.Options(list.toString(), NAME, out, 100_000, chars, 1,
            chars.eosId(), CHUNK_SIZE, 1, false), new PrintStream(OutputStream.nullOutputStream()));
      } finally {
        try (Stream<Path> s = Files.list(in)) {
          for (Path p : s.toList()) Files.delete(p);
        }
        Files.delete(in);
      }
      Files.writeString(stamp, hash + "\n");
      return out;
    } catch (IOException e) {
      throw new DataException(out + ": cannot build the embedded dataset (" + e.getMessage() + ")", e);
    }
  }

  static List<Path> sources(Path root) {
    try (Stream<Path> s = Files.walk(root)) {
      return s.filter(Files::isRegularFile)
          .filter(p -> {
            Path rel = root.relativize(p);
            for (Path part : rel) {
              String n = part.toString();
              if (n.equals("target") || n.equals(".git") || n.equals("runs") || n.equals("node_modules")) return false;
            }
            String n = p.getFileName().toString();
            return n.endsWith(".md") || n.endsWith(".java");
          })
          .sorted(java.util.Comparator.comparing(p -> root.relativize(p).toString()))
          .toList();
    } catch (IOException e) {
      throw new DataException(root + ": cannot list the repository (" + e.getMessage() + ")", e);
    }
  }

  private static String hash(Path root, List<Path> sources) throws IOException {
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      md.update(("v1 chunk " + CHUNK_SIZE + "\n").getBytes(StandardCharsets.UTF_8));
      for (Path p : sources) {
        md.update(root.relativize(p).toString().getBytes(StandardCharsets.UTF_8));
        md.update((byte) 0);
        md.update(Files.readAllBytes(p));
        md.update((byte) 0);
      }
      return HexFormat.of().formatHex(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
