package dev.neomesh.mesh.ckpt;

import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.lower.Lowering;
import dev.neomesh.mesh.lower.Lowering.LoweredVariable;
import dev.neomesh.mesh.lower.MeshRuntime;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.WeakHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.tensorflow.DeviceSpec;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TensorFlowException;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.train.MergeV2Checkpoints;
import org.tensorflow.op.train.Restore;
import org.tensorflow.types.TString;
import org.tensorflow.types.family.TType;

/**
 * Layout-independent checkpoints of a mesh program's variables, written without gathering to one
 * host: every device's slice goes through TensorFlow's {@code SaveV2} with a slice spec (the
 * partitioned-variable format, e.g. {@code "8 12 0,8:-"}), keyed by the mesh variable's name and
 * full shape, never by layout. Replicated slices are written once (by their first replica).
 * Restoring runs {@code RestoreV2} per device with the slice the <em>current</em> layout needs
 * (TensorFlow merges and re-cuts the stored slices) and assigns it to that device's variable, so
 * a checkpoint written on {@code x:4} restores on {@code x:2,y:2} or {@code x:1}. TensorFlow's
 * Python tools read the files ({@code tf.train.load_checkpoint(dir + "/ckpt-100")}).
 *
 * <p>Files, for step {@code s} in directory {@code dir}:
 * <ul>
 *   <li>{@code dir/ckpt-s.index} and {@code dir/ckpt-s.data-0000i-of-0000n} (TensorFlow bundle;
 *       one data file per host that holds slices, {@code n = 1} on one machine);</li>
 *   <li>{@code dir/ckpt-s.manifest.json}: step, data shard count, mesh and layout written from,
 *       and every variable's name, dtype and full shape (see {@link Manifest}).</li>
 * </ul>
 * A save writes to the temporary prefix {@code dir/ckpt-s.tmp-<unique>}, renames the data files
 * then the index into place, and writes the manifest last (by rename): a checkpoint is complete
 * exactly when its manifest exists, so an interrupted save never looks complete and
 * {@link #latest} keeps answering the previous one. Leftovers of interrupted saves are removed by
 * the next save. The save and restore ops are built once per runtime, the prefix fed through a
 * string placeholder, so saving every N steps does not grow the graph.
 */
public final class Checkpoints {
  /** How many complete checkpoints {@link #save(MeshRuntime, Path, long)} keeps. */
  public static final int DEFAULT_KEEP = 5;

  private static final Pattern FILE = Pattern.compile("ckpt-(\\d+)\\.(.+)");
  private static final String MANIFEST_SUFFIX = ".manifest.json";
  private static final Map<MeshRuntime, Built> BUILT = new WeakHashMap<>();

  /** Test hook: runs after TensorFlow has written the temporary files, before anything is renamed. */
  static volatile Runnable beforeCommit;

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
  }

  // ------------------------------------------------------------------------------------- saving

  /** Saves every variable of {@code runtime} as checkpoint {@code step} in {@code dir}, keeping the last {@value #DEFAULT_KEEP}. */
  public static Checkpoint save(MeshRuntime runtime, Path dir, long step) {
    return save(runtime, dir, step, DEFAULT_KEEP);
  }

  /**
   * Saves every variable of {@code runtime} as checkpoint {@code step} in {@code dir} (created if
   * missing), then deletes all but the newest {@code keepLast} complete checkpoints
   * ({@code keepLast <= 0}: keep all). Saving a step that already exists replaces it.
   */
  public static Checkpoint save(MeshRuntime runtime, Path dir, long step, int keepLast) {
    if (step < 0) {
      throw new IllegalArgumentException("checkpoint step must be >= 0, got " + step);
    }
    Built b = built(runtime);
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new NeomeshException("cannot create checkpoint directory " + dir + ": " + e
          + ". Choose a writable directory (model_path) or fix its permissions", e);
    }
    removeIncomplete(dir);
    Path tmp = dir.resolve("ckpt-" + step + ".tmp-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
    try (TString prefix = TString.scalarOf(tmp.toString())) {
      Session.Runner r = runtime.session().runner().feed(b.savePrefix, prefix).addTarget(b.saveTarget);
      r.run().close();
    } catch (TensorFlowException e) {
      deleteQuietly(dir, tmp.getFileName().toString());
      throw new NeomeshException("cannot write checkpoint " + step + " to " + dir + ": " + tfReason(e.getMessage())
          + ". Check that the directory is writable and the disk has space", e);
    }
    Runnable hook = beforeCommit;
    if (hook != null) {
      hook.run();
    }
    Path prefix = dir.resolve("ckpt-" + step);
    Manifest manifest = new Manifest(step, b.dataShards, runtime.lowering().mesh().toString(),
        runtime.lowering().rules().toString(), b.entries);
    try {
      Files.deleteIfExists(sibling(prefix, MANIFEST_SUFFIX)); // an older save of this step is now incomplete
      for (int i = 0; i < b.dataShards; i++) {
        move(sibling(tmp, dataSuffix(i, b.dataShards)), sibling(prefix, dataSuffix(i, b.dataShards)));
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

  // ---------------------------------------------------------------------------------- restoring

  /** Restores checkpoint {@code step} from {@code dir} into every variable of {@code runtime}. */
  public static Checkpoint restore(MeshRuntime runtime, Path dir, long step) {
    Checkpoint c = find(dir, step);
    restore(runtime, c);
    return c;
  }

  /** Restores the newest complete checkpoint in {@code dir}, if any; empty (nothing done) when there is none. */
  public static Optional<Checkpoint> restoreLatest(MeshRuntime runtime, Path dir) {
    Optional<Checkpoint> c = latest(dir);
    c.ifPresent(x -> restore(runtime, x));
    return c;
  }

  /**
   * Restores {@code checkpoint} into every variable of {@code runtime}, whatever the mesh and
   * layout it was written from. Every variable of the program must be in it with the same full
   * shape and dtype; extra checkpoint entries are ignored.
   */
  public static void restore(MeshRuntime runtime, Checkpoint checkpoint) {
    Built b = built(runtime);
    check(b, checkpoint);
    for (Path f : Stream.concat(Stream.of(checkpoint.indexFile()), checkpoint.dataFiles().stream()).toList()) {
      if (!Files.isReadable(f)) {
        throw new NeomeshException("checkpoint file " + f + " is missing or unreadable. Fix its permissions, or "
            + "delete " + checkpoint.manifestFile() + " to fall back to the previous checkpoint");
      }
    }
    try (TString prefix = TString.scalarOf(checkpoint.prefixString())) {
      Session.Runner r = runtime.session().runner().feed(b.restorePrefix, prefix);
      b.restoreTargets.forEach(r::addTarget);
      r.run().close();
    } catch (TensorFlowException e) {
      throw new NeomeshException("cannot restore checkpoint " + checkpoint.prefix() + " (step " + checkpoint.step()
          + "): " + tfReason(e.getMessage()) + ". The files " + checkpoint.indexFile().getFileName() + " / "
          + checkpoint.dataFiles().get(0).getFileName() + "... are corrupt or truncated, or do not match the "
          + "program: delete this checkpoint's files (" + checkpoint.prefix().getFileName() + ".*) to fall back "
          + "to the previous one, or start from scratch", e);
    }
  }

  private static void check(Built b, Checkpoint c) {
    Manifest m = c.manifest();
    for (Manifest.Entry want : b.entries) {
      Manifest.Entry have = m.entry(want.name());
      if (have == null) {
        throw new NeomeshException("variable \"" + want.name() + "\" " + want.shapeText() + " is not in checkpoint "
            + c.manifestFile() + " (it has " + m.variables().stream().map(Manifest.Entry::name).toList()
            + "). The checkpoint is from a different model: use the model config it was trained with, "
            + "or a fresh model_path to start from scratch");
      }
      if (!java.util.Arrays.equals(have.sizes(), want.sizes())) {
        throw new NeomeshException("variable \"" + want.name() + "\" has shape " + want.shapeText()
            + " in the program but " + have.shapeText() + " in checkpoint " + c.manifestFile()
            + ". The model config changed since the checkpoint was written: restore it with the same "
            + "dimension sizes, or use a fresh model_path to start from scratch");
      }
      if (!have.dtype().equals(want.dtype())) {
        throw new NeomeshException("variable \"" + want.name() + "\" is " + want.dtype() + " in the program but "
            + have.dtype() + " in checkpoint " + c.manifestFile() + ". Use the same precision settings as when "
            + "it was written, or a fresh model_path to start from scratch");
      }
    }
  }

  // ------------------------------------------------------------------------------ slice specs

  /**
   * TensorFlow's slice spec of device {@code pnum}'s slice: the full shape, then per dim
   * {@code begin,length} or {@code -} for the whole dim (e.g. {@code "8 12 0,8:-"}); {@code ""}
   * (the whole tensor) when the layout splits nothing.
   */
  public static String sliceSpec(TensorLayout layout, int pnum) {
    if (layout.isReplicated()) {
      return "";
    }
    Shape full = layout.shape();
    Shape slice = layout.sliceShape();
    long[] begin = layout.sliceBegin(pnum);
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < full.rank(); i++) {
      sb.append(full.get(i).size()).append(' ');
    }
    for (int i = 0; i < full.rank(); i++) {
      sb.append(i > 0 ? ":" : "");
      if (layout.meshAxisOf(i) < 0) {
        sb.append('-');
      } else {
        sb.append(begin[i]).append(',').append(slice.get(i).size());
      }
    }
    return sb.toString();
  }

  // --------------------------------------------------------------------------- graph building

  /** The save and restore ops of one runtime, built on first use. */
  private static final class Built {
    Placeholder<TString> savePrefix;
    org.tensorflow.op.Op saveTarget;
    Placeholder<TString> restorePrefix;
    final List<org.tensorflow.op.Op> restoreTargets = new ArrayList<>();
    int dataShards;
    List<Manifest.Entry> entries;
  }

  private static Built built(MeshRuntime runtime) {
    synchronized (BUILT) {
      return BUILT.computeIfAbsent(runtime, Checkpoints::build);
    }
  }

  private static Built build(MeshRuntime runtime) {
    Lowering l = runtime.lowering();
    List<LoweredVariable> vars = l.variables();
    if (vars.isEmpty()) {
      throw new IllegalStateException("the program has no variables: there is nothing to checkpoint");
    }
    Built b = new Built();
    b.entries = vars.stream().map(v -> new Manifest.Entry(v.variable().name(), v.variable().output().dtype().name(),
        v.layout().shape().names(), v.layout().shape().sizes())).toList();
    int devices = l.mesh().size();
    String[] host = new String[devices];
    for (int p = 0; p < devices; p++) {
      host[p] = hostOf(((GraphOperation) vars.get(0).handles().get(p).op()).device());
    }
    Ops root = l.tf(0).withSubScope("neomesh_ckpt");
    Ops firstHost = root.withDevice(hostCpu(host[0]));

    // Save: per host, one SaveV2 of the distinct slices its devices hold, then one merge.
    Map<String, HostSave> byHost = new LinkedHashMap<>();
    for (LoweredVariable v : vars) {
      for (int p = 0; p < devices; p++) {
        if (v.layout().isFirstReplica(p)) {
          HostSave hs = byHost.computeIfAbsent(host[p], h -> new HostSave());
          hs.names.add(v.variable().name());
          hs.specs.add(sliceSpec(v.layout(), p));
          Ops dev = l.tf(p).withSubScope("neomesh_ckpt_read");
          hs.tensors.add(dev.readVariableOp(v.handles().get(p), v.variable().output().dtype().tfType()));
        }
      }
    }
    b.savePrefix = firstHost.withName("save_prefix").placeholder(TString.class);
    Operand<TString> shardBase = firstHost.strings.join(List.of(b.savePrefix, firstHost.constant("_temp/part")));
    int n = byHost.size();
    List<Operand<TString>> files = new ArrayList<>();
    List<org.tensorflow.op.Op> saves = new ArrayList<>();
    int shard = 0;
    for (Map.Entry<String, HostSave> e : byHost.entrySet()) {
      Ops h = root.withDevice(hostCpu(e.getKey()));
      Operand<TString> file = h.io.shardedFilename(shardBase, h.constant(shard++), h.constant(n));
      HostSave hs = e.getValue();
      saves.add(h.train.save(file, h.array(hs.names.toArray(String[]::new)),
          h.array(hs.specs.toArray(String[]::new)), hs.tensors));
      files.add(file);
    }
    b.saveTarget = firstHost.withControlDependencies(saves).train.mergeV2Checkpoints(firstHost.stack(files),
        b.savePrefix, MergeV2Checkpoints.deleteOldDirs(true));
    b.dataShards = n;

    // Restore: per device, one RestoreV2 (on its host) of the slices the current layout needs.
    b.restorePrefix = firstHost.withName("restore_prefix").placeholder(TString.class);
    String[] names = vars.stream().map(v -> v.variable().name()).toArray(String[]::new);
    List<Class<? extends TType>> dtypes = vars.stream()
        .<Class<? extends TType>>map(v -> v.variable().output().dtype().tfType()).toList();
    for (int p = 0; p < devices; p++) {
      Ops h = root.withDevice(hostCpu(host[p]));
      String[] specs = new String[vars.size()];
      for (int i = 0; i < specs.length; i++) {
        specs[i] = sliceSpec(vars.get(i).layout(), p);
      }
      Restore r = h.train.restore(b.restorePrefix, h.array(names), h.array(specs), dtypes);
      Ops dev = l.tf(p).withSubScope("neomesh_ckpt_assign");
      for (int i = 0; i < specs.length; i++) {
        b.restoreTargets.add(dev.assignVariableOp(vars.get(i).handles().get(p), r.tensors().get(i)));
      }
    }
    return b;
  }

  private static final class HostSave {
    final List<String> names = new ArrayList<>();
    final List<String> specs = new ArrayList<>();
    final List<Operand<?>> tensors = new ArrayList<>();
  }

  /** The {@code /job:../replica:../task:..} part of a device string ("" for a local device). */
  static String hostOf(String device) {
    StringBuilder sb = new StringBuilder();
    for (String part : device.split("/")) {
      if (part.startsWith("job:") || part.startsWith("replica:") || part.startsWith("task:")) {
        sb.append('/').append(part);
      }
    }
    return sb.toString();
  }

  private static DeviceSpec hostCpu(String host) {
    DeviceSpec.Builder b = DeviceSpec.newBuilder().deviceType(DeviceSpec.DeviceType.CPU).deviceIndex(0);
    for (String part : host.split("/")) {
      if (part.startsWith("job:")) {
        b.job(part.substring(4));
      } else if (part.startsWith("replica:")) {
        b.replica(Integer.parseInt(part.substring(8)));
      } else if (part.startsWith("task:")) {
        b.task(Integer.parseInt(part.substring(5)));
      }
    }
    return b.build();
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

  private static void deleteQuietly(Path dir, String prefixName) {
    for (Path f : entries(dir)) {
      if (f.getFileName().toString().startsWith(prefixName)) {
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

  /** The useful line of a TensorFlow error ("DATA_LOSS: file is too short to be an sstable"), not its node trail. */
  static String tfReason(String s) {
    if (s == null) {
      return "";
    }
    String fallback = null;
    for (String line : s.split("\n")) {
      String t = line.trim();
      Matcher m = Pattern.compile("^\\(\\d+\\) (.+)$").matcher(t);
      if (m.matches()) {
        return m.group(1);
      }
      if (fallback == null && !t.isEmpty() && !t.startsWith("[[") && !t.matches("\\d+ root error\\(s\\) found\\.?")) {
        fallback = t;
      }
    }
    return fallback != null ? fallback : s.trim();
  }
}
