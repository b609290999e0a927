package dev.neomesh.mesh.ckpt;

import dev.neomesh.mesh.NeomeshException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The checkpoints of one directory as files: which are complete, how a save is committed
 * atomically, and which old ones are deleted. No TensorFlow here: {@link Checkpointer} writes and
 * reads the TensorFlow bundle, this class names and moves its files.
 *
 * <p>Files, for step {@code s} in directory {@code dir}:
 * <ul>
 *   <li>{@code dir/ckpt-s.index} and {@code dir/ckpt-s.data-0000i-of-0000n} (TensorFlow bundle;
 *       one data file per host that holds slices, {@code n = 1} on one machine);</li>
 *   <li>{@code dir/ckpt-s.manifest.json}: step, data shard count, mesh and layout written from,
 *       and every variable's name, dtype and full shape (see {@link Manifest}).</li>
 * </ul>
 * A save ({@link #begin}) gets the temporary prefix {@code dir/ckpt-s.tmp-<unique>} for
 * TensorFlow to write to; {@link Pending#commit} renames the data files then the index into place,
 * and writes the manifest last (by rename): a checkpoint is complete exactly when its manifest
 * exists, so an interrupted save never looks complete and {@link #latest} keeps answering the
 * previous one. Leftovers of interrupted saves are removed by the next {@link #begin}.
 */
public final class Checkpoints {
  /** How many complete checkpoints {@link Checkpointer#save(Path, long)} keeps. */
  public static final int DEFAULT_KEEP = 5;

  private static final Pattern FILE = Pattern.compile("ckpt-(\\d+)\\.(.+)");
  private static final String MANIFEST_SUFFIX = ".manifest.json";

  private Checkpoints() {}

  /** One complete checkpoint on disk. */
  public record Checkpoint(long step, Path prefix, Manifest manifest) {
    /** The TensorFlow prefix as a string, e.g. {@code /runs/a/ckpt-100} (what {@code RestoreV2} takes). */
    public String prefixString() {
      return prefix.toString();
    }

    public Path indexFile() {
      return sibling(prefix, ".index");
    }

    public List<Path> dataFiles() {
      List<Path> out = new ArrayList<>();
      for (int i = 0; i < manifest.dataShards(); i++) {
        out.add(sibling(prefix, dataSuffix(i, manifest.dataShards())));
      }
      return out;
    }

    public Path manifestFile() {
      return sibling(prefix, MANIFEST_SUFFIX);
    }

    /** A clear error when the index or a data file is missing or unreadable. */
    void requireReadable() {
      for (Path f : Stream.concat(Stream.of(indexFile()), dataFiles().stream()).toList()) {
        if (!Files.isReadable(f)) {
          throw new NeomeshException("checkpoint file " + f + " is missing or unreadable. Fix its permissions, or "
              + "delete " + manifestFile() + " to fall back to the previous checkpoint");
        }
      }
    }
  }

  // ------------------------------------------------------------------------------------ listing

  /** The complete checkpoints in {@code dir}, oldest first; empty when {@code dir} does not exist. */
  public static List<Checkpoint> list(Path dir) {
    if (!Files.exists(dir)) {
      return List.of();
    }
    if (!Files.isDirectory(dir)) {
      throw new NeomeshException("checkpoint path " + dir + " is not a directory: pass the directory the "
          + "checkpoints are saved in (model_path), not a file");
    }
    List<Checkpoint> out = new ArrayList<>();
    for (Path f : entries(dir)) {
      String name = f.getFileName().toString();
      Matcher m = FILE.matcher(name);
      if (!m.matches() || !m.group(2).equals(MANIFEST_SUFFIX.substring(1))) {
        continue;
      }
      Manifest manifest = Manifest.read(f);
      Checkpoint c = new Checkpoint(Long.parseLong(m.group(1)), dir.resolve("ckpt-" + m.group(1)), manifest);
      if (c.step() != manifest.step()) {
        throw new NeomeshException("checkpoint manifest " + f + " says step " + manifest.step()
            + " but its name says " + c.step() + ": the file was renamed or copied by hand. Delete it or "
            + "restore its original name");
      }
      if (Files.exists(c.indexFile()) && c.dataFiles().stream().allMatch(Files::exists)) {
        out.add(c);
      }
    }
    out.sort(Comparator.comparingLong(Checkpoint::step));
    return out;
  }

  /** The newest complete checkpoint in {@code dir}, or empty (none yet, or no such directory). */
  public static Optional<Checkpoint> latest(Path dir) {
    List<Checkpoint> all = list(dir);
    return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
  }

  /** The complete checkpoint of {@code step} in {@code dir}; a clear error when there is none. */
  public static Checkpoint find(Path dir, long step) {
    if (!Files.isDirectory(dir)) {
      throw new NeomeshException("checkpoint directory " + dir + " does not exist: pass the directory the "
          + "checkpoints were saved in (model_path), or start from scratch without restoring");
    }
    List<Checkpoint> all = list(dir);
    for (Checkpoint c : all) {
      if (c.step() == step) {
        return c;
      }
    }
    throw new NeomeshException("no complete checkpoint for step " + step + " in " + dir + " (expected "
        + dir.resolve("ckpt-" + step + MANIFEST_SUFFIX) + " with its .index and .data files); available steps: "
        + (all.isEmpty() ? "none" : all.stream().map(c -> Long.toString(c.step())).toList())
        + ". Pick one of those, or restore the latest");
  }

  // ------------------------------------------------------------------------------------- saving

  /**
   * A save in progress: TensorFlow writes the bundle to {@link #tmp}, then {@link #commit} moves it
   * into place, or {@link #abandon} deletes what was written.
   */
  record Pending(Path dir, long step, Path tmp) {
    /**
     * Renames the bundle of {@code dataShards} data files into place, writes {@code manifest} last,
     * then deletes all but the newest {@code keepLast} complete checkpoints ({@code keepLast <= 0}:
     * keep all). A step that already exists is replaced.
     */
    Checkpoint commit(Manifest manifest, int keepLast) {
      int shards = manifest.dataShards();
      Path prefix = dir.resolve("ckpt-" + step);
      try {
        Files.deleteIfExists(sibling(prefix, MANIFEST_SUFFIX)); // an older save of this step is now incomplete
        for (int i = 0; i < shards; i++) {
          move(sibling(tmp, dataSuffix(i, shards)), sibling(prefix, dataSuffix(i, shards)));
        }
        move(sibling(tmp, ".index"), sibling(prefix, ".index"));
        Path manifestTmp = sibling(tmp, MANIFEST_SUFFIX);
        Files.writeString(manifestTmp, manifest.toJson(), StandardCharsets.UTF_8);
        move(manifestTmp, sibling(prefix, MANIFEST_SUFFIX));
      } catch (IOException e) {
        throw new NeomeshException("cannot finish checkpoint " + prefix + ": " + e
            + ". Check that " + dir + " is writable and the disk has space", e);
      }
      if (keepLast > 0) {
        List<Checkpoint> all = list(dir);
        for (int i = 0; i < all.size() - keepLast; i++) {
          delete(all.get(i));
        }
      }
      return new Checkpoint(step, prefix, manifest);
    }

    /** Deletes whatever was written under the temporary prefix (a failed write). */
    void abandon() {
      String name = tmp.getFileName().toString();
      for (Path f : entries(dir)) {
        if (f.getFileName().toString().startsWith(name)) {
          deleteRecursively(f);
        }
      }
    }
  }

  /**
   * Starts saving checkpoint {@code step} in {@code dir}: creates the directory if missing, removes
   * the leftovers of interrupted saves, and picks a fresh temporary prefix.
   */
  static Pending begin(Path dir, long step) {
    if (step < 0) {
      throw new IllegalArgumentException("checkpoint step must be >= 0, got " + step);
    }
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new NeomeshException("cannot create checkpoint directory " + dir + ": " + e
          + ". Choose a writable directory (model_path) or fix its permissions", e);
    }
    removeIncomplete(dir);
    Path tmp = dir.resolve("ckpt-" + step + ".tmp-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
    return new Pending(dir, step, tmp);
  }

  // ------------------------------------------------------------------------------------- files

  private static String dataSuffix(int shard, int shards) {
    return String.format(".data-%05d-of-%05d", shard, shards);
  }

  private static Path sibling(Path prefix, String suffix) {
    return prefix.resolveSibling(prefix.getFileName() + suffix);
  }

  private static void move(Path from, Path to) throws IOException {
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  private static List<Path> entries(Path dir) {
    List<Path> out = new ArrayList<>();
    try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
      s.forEach(out::add);
    } catch (IOException e) {
      throw new NeomeshException("cannot list checkpoint directory " + dir + ": " + e
          + ". Fix its permissions or pass a readable directory", e);
    }
    return out;
  }

  /** Deletes every {@code ckpt-<step>.*} file or folder whose step has no manifest (interrupted saves). */
  private static void removeIncomplete(Path dir) {
    Set<String> complete = new TreeSet<>();
    for (Path f : entries(dir)) {
      Matcher m = FILE.matcher(f.getFileName().toString());
      if (m.matches() && m.group(2).equals(MANIFEST_SUFFIX.substring(1))) {
        complete.add(m.group(1));
      }
    }
    for (Path f : entries(dir)) {
      Matcher m = FILE.matcher(f.getFileName().toString());
      if (m.matches() && (!complete.contains(m.group(1)) || m.group(2).startsWith("tmp-"))) {
        deleteRecursively(f);
      }
    }
  }

  private static void delete(Checkpoint c) {
    try {
      Files.deleteIfExists(c.manifestFile()); // first: the checkpoint stops looking complete
      Files.deleteIfExists(c.indexFile());
      for (Path f : c.dataFiles()) {
        Files.deleteIfExists(f);
      }
    } catch (IOException e) {
      throw new NeomeshException("cannot delete old checkpoint " + c.prefix() + ": " + e
          + ". Fix the directory's permissions", e);
    }
  }

  private static void deleteRecursively(Path p) {
    try (Stream<Path> walk = Files.walk(p)) {
      for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(q);
      }
    } catch (NoSuchFileException e) {
      // already gone
    } catch (IOException e) {
      throw new NeomeshException("cannot delete leftover checkpoint file " + p + ": " + e
          + ". Delete it by hand or fix the directory's permissions", e);
    }
  }
}
