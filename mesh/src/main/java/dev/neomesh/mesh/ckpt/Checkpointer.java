package dev.neomesh.mesh.ckpt;

import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.ckpt.Checkpoints.Checkpoint;
import dev.neomesh.mesh.ir.VariableOp;
import dev.neomesh.mesh.lower.Lowering;
import dev.neomesh.mesh.lower.Lowering.LoweredVariable;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.mesh.lower.Tf;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.tensorflow.DeviceSpec;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TensorFlowException;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.train.MergeV2Checkpoints;
import org.tensorflow.op.train.Restore;
import org.tensorflow.types.TString;
import org.tensorflow.types.family.TType;

/**
 * Saves and restores the variables of one {@link MeshRuntime}, layout-independently and without
 * gathering to one host: every device's slice goes through TensorFlow's {@code SaveV2} with a
 * slice spec (the partitioned-variable format, e.g. {@code "8 12 0,8:-"}), keyed by the mesh
 * variable's name and full shape, never by layout. Replicated slices are written once (by their
 * first replica). Restoring runs {@code RestoreV2} per device with the slice the <em>current</em>
 * layout needs (TensorFlow merges and re-cuts the stored slices) and assigns it to that device's
 * variable, so a checkpoint written on {@code x:4} restores on {@code x:2,y:2} or {@code x:1}.
 * TensorFlow's Python tools read the files ({@code tf.train.load_checkpoint(dir + "/ckpt-100")}).
 *
 * <p>A variable is stored as its {@link VariableOp#checkpointName} in its {@link VariableOp#checkpointDtype}
 * (its own name and dtype unless it says otherwise). Where several variables share one tensor (a
 * bfloat16 parameter and its float32 master), the one of the tensor's dtype writes it and every one
 * restores from it, cast to its own dtype.
 *
 * <p>Create one per runtime and keep it as long as the runtime: the constructor adds the save and
 * restore ops to the runtime's graph once, the prefix fed through a string placeholder, so saving
 * every N steps does not grow the graph. Which files make a checkpoint, and how a save is
 * committed atomically, is {@link Checkpoints}'s part.
 */
public final class Checkpointer {
  private final MeshRuntime runtime;
  private final Runnable beforeCommit;
  private final List<Manifest.Entry> entries;
  /** The save ops, built on the first save (a restore-only user, like generation, never needs them). */
  private SaveOps saveOps;
  /** The full restore's ops, built on the first {@link #restore(Checkpoint)}. */
  private Placeholder<TString> restorePrefix;
  private List<Op> restoreTargets;
  private final String[] host;
  private final Ops root;

  /** A checkpointer of every variable of {@code runtime}; its save and restore ops are built when first used. */
  public Checkpointer(MeshRuntime runtime) {
    this(runtime, () -> {});
  }

  /**
   * As {@link #Checkpointer(MeshRuntime)}, with {@code beforeCommit} run by every save after
   * TensorFlow has written the temporary files and before anything is renamed: the seam where a
   * test simulates a crash mid-save by throwing.
   */
  Checkpointer(MeshRuntime runtime, Runnable beforeCommit) {
    this.runtime = runtime;
    this.beforeCommit = beforeCommit;
    Lowering l = runtime.lowering();
    List<LoweredVariable> vars = l.variables();
    if (vars.isEmpty()) {
      throw new IllegalStateException("the program has no variables: there is nothing to checkpoint");
    }
    entries = writers(vars).stream().map(v -> new Manifest.Entry(v.variable().checkpointName(),
        v.variable().checkpointDtype().name(), dimNames(vars, v), v.layout().shape().sizes())).toList();
    int devices = l.mesh().size();
    String[] host = new String[devices];
    for (int p = 0; p < devices; p++) {
      host[p] = hostOf(((GraphOperation) vars.get(0).handles().get(p).op()).device());
    }
    this.host = host;
    this.root = l.tf(0).withSubScope("neomesh_ckpt");
  }

  /**
   * Per checkpoint tensor, in order of first appearance, the variable that writes it: the one of the
   * tensor's own dtype (a master rather than its bfloat16 parameter), else the first.
   */
  private static List<LoweredVariable> writers(List<LoweredVariable> vars) {
    Map<String, LoweredVariable> byName = new LinkedHashMap<>();
    for (LoweredVariable v : vars) {
      VariableOp op = v.variable();
      LoweredVariable had = byName.get(op.checkpointName());
      if (had == null || (had.variable().output().dtype() != had.variable().checkpointDtype()
          && op.output().dtype() == op.checkpointDtype())) {
        byName.put(op.checkpointName(), v);
      }
    }
    return new ArrayList<>(byName.values());
  }

  /** The dim names of a tensor: those of the variable of its name when there is one (not a sharded view's). */
  private static List<String> dimNames(List<LoweredVariable> vars, LoweredVariable writer) {
    String name = writer.variable().checkpointName();
    return vars.stream().filter(v -> v.variable().name().equals(name)).findFirst().orElse(writer)
        .layout().shape().names();
  }

  private record SaveOps(Placeholder<TString> prefix, Op target, int dataShards) {}

  /** Per host, one SaveV2 of the distinct slices its devices hold, then one merge. */
  private SaveOps saveOps() {
    if (saveOps != null) {
      return saveOps;
    }
    Lowering l = runtime.lowering();
    Ops firstHost = root.withDevice(hostCpu(host[0]));
    Map<String, HostSave> byHost = new LinkedHashMap<>();
    // one sub-scope per device, made before the loop: TensorFlow Java's withSubScope walks every op
    // of the graph (NameScope.importIdsFrom), so one per read took seconds on a 4-device graph
    Ops[] read = new Ops[l.mesh().size()];
    for (int p = 0; p < read.length; p++) {
      read[p] = l.tf(p).withSubScope("neomesh_ckpt_read");
    }
    for (LoweredVariable v : writers(l.variables())) {
      VariableOp op = v.variable();
      for (int p = 0; p < l.mesh().size(); p++) {
        if (v.layout().isFirstReplica(p)) {
          HostSave hs = byHost.computeIfAbsent(host[p], h -> new HostSave());
          hs.names.add(op.checkpointName());
          hs.specs.add(sliceSpec(v.layout(), p));
          Operand<?> value = read[p].readVariableOp(v.handles().get(p), op.output().dtype().tfType());
          hs.tensors.add(op.checkpointDtype() == op.output().dtype() ? value
              : Tf.cast(read[p], value, op.checkpointDtype()));
        }
      }
    }
    Placeholder<TString> savePrefix = firstHost.withName("save_prefix").placeholder(TString.class);
    Operand<TString> shardBase = firstHost.strings.join(List.of(savePrefix, firstHost.constant("_temp/part")));
    int n = byHost.size();
    List<Operand<TString>> files = new ArrayList<>();
    List<Op> saves = new ArrayList<>();
    int shard = 0;
    for (Map.Entry<String, HostSave> e : byHost.entrySet()) {
      Ops h = root.withDevice(hostCpu(e.getKey()));
      Operand<TString> file = h.io.shardedFilename(shardBase, h.constant(shard++), h.constant(n));
      HostSave hs = e.getValue();
      saves.add(h.train.save(file, h.array(hs.names.toArray(String[]::new)),
          h.array(hs.specs.toArray(String[]::new)), hs.tensors));
      files.add(file);
    }
    Op target = firstHost.withControlDependencies(saves).train.mergeV2Checkpoints(firstHost.stack(files),
        savePrefix, MergeV2Checkpoints.deleteOldDirs(true));
    saveOps = new SaveOps(savePrefix, target, n);
    return saveOps;
  }

  /**
   * Restores {@code vars} from the checkpoint fed to {@code prefix}: per device, one RestoreV2 (on
   * its host) of the slices the current layout needs, assigned to that device's variables.
   */
  private List<Op> restoreOps(List<LoweredVariable> vars, Placeholder<TString> prefix) {
    Lowering l = runtime.lowering();
    String[] names = vars.stream().map(v -> v.variable().checkpointName()).toArray(String[]::new);
    List<Class<? extends TType>> dtypes = vars.stream()
        .<Class<? extends TType>>map(v -> v.variable().checkpointDtype().tfType()).toList();
    List<Op> targets = new ArrayList<>();
    for (int p = 0; p < l.mesh().size(); p++) {
      Ops h = root.withDevice(hostCpu(host[p]));
      String[] specs = new String[vars.size()];
      for (int i = 0; i < specs.length; i++) {
        specs[i] = sliceSpec(vars.get(i).layout(), p);
      }
      Restore r = h.train.restore(prefix, h.array(names), h.array(specs), dtypes);
      Ops dev = l.tf(p).withSubScope("neomesh_ckpt_assign");
      for (int i = 0; i < specs.length; i++) {
        VariableOp op = vars.get(i).variable();
        Operand<?> value = r.tensors().get(i);
        targets.add(dev.assignVariableOp(vars.get(i).handles().get(p),
            op.checkpointDtype() == op.output().dtype() ? value : Tf.cast(dev, value, op.output().dtype())));
      }
    }
    return targets;
  }

  private static final class HostSave {
    final List<String> names = new ArrayList<>();
    final List<String> specs = new ArrayList<>();
    final List<Operand<?>> tensors = new ArrayList<>();
  }

  /** What a checkpoint of this runtime holds: every variable's name, dtype and full shape. */
  public List<Manifest.Entry> entries() {
    return entries;
  }

  // ------------------------------------------------------------------------------------- saving

  /** Saves every variable as checkpoint {@code step} in {@code dir}, keeping the last {@value Checkpoints#DEFAULT_KEEP}. */
  public Checkpoint save(Path dir, long step) {
    return save(dir, step, Checkpoints.DEFAULT_KEEP);
  }

  /**
   * Saves every variable as checkpoint {@code step} in {@code dir} (created if missing), then
   * deletes all but the newest {@code keepLast} complete checkpoints ({@code keepLast <= 0}: keep
   * all). Saving a step that already exists replaces it.
   */
  public Checkpoint save(Path dir, long step, int keepLast) {
    Checkpoints.Pending pending = Checkpoints.begin(dir, step);
    SaveOps ops = saveOps();
    try (TString prefix = TString.scalarOf(pending.tmp().toString())) {
      Session.Runner r = runtime.session().runner().feed(ops.prefix(), prefix).addTarget(ops.target());
      runtime.run(r, false).close();
    } catch (dev.neomesh.mesh.cluster.ClusterFault e) {
      pending.abandon(); // the previous checkpoint stays the latest
      throw e;
    } catch (TensorFlowException e) {
      pending.abandon();
      throw new NeomeshException("cannot write checkpoint " + step + " to " + dir + ": " + Tf.errorReason(e.getMessage())
          + ". Check that the directory is writable and the disk has space", e);
    }
    beforeCommit.run();
    Lowering l = runtime.lowering();
    return pending.commit(new Manifest(step, ops.dataShards(), l.mesh().toString(), l.rules().toString(), entries),
        keepLast);
  }

  // ---------------------------------------------------------------------------------- restoring

  /** Restores checkpoint {@code step} from {@code dir} into every variable. */
  public Checkpoint restore(Path dir, long step) {
    Checkpoint c = Checkpoints.find(dir, step);
    restore(c);
    return c;
  }

  /** Restores the newest complete checkpoint in {@code dir}, if any; empty (nothing done) when there is none. */
  public Optional<Checkpoint> restoreLatest(Path dir) {
    Optional<Checkpoint> c = Checkpoints.latest(dir);
    c.ifPresent(this::restore);
    return c;
  }

  /**
   * Restores {@code checkpoint} into every variable, whatever the mesh and layout it was written
   * from. Every variable of the program must be in it with the same full shape and dtype; extra
   * checkpoint entries are ignored.
   */
  public void restore(Checkpoint checkpoint) {
    check(checkpoint, entries);
    if (restoreTargets == null) {
      restorePrefix = root.withDevice(hostCpu(host[0])).withName("restore_prefix").placeholder(TString.class);
      restoreTargets = restoreOps(runtime.lowering().variables(), restorePrefix);
    }
    run(checkpoint, restorePrefix, restoreTargets);
  }

  /**
   * Restores only the variables named {@code names} from {@code checkpoint}; every other variable
   * keeps its value. For starting from imported weights: the model's parameters come from the
   * checkpoint, the optimizer's state starts as initialised. Adds restore ops to the graph, so call
   * it once per runtime, not every step. {@code names} are checkpoint tensors: a bfloat16 parameter's
   * restores its float32 master too.
   */
  public void restoreOnly(Checkpoint checkpoint, java.util.Collection<String> names) {
    List<LoweredVariable> vars = runtime.lowering().variables().stream()
        .filter(v -> names.contains(v.variable().checkpointName())).toList();
    List<String> known = vars.stream().map(v -> v.variable().checkpointName()).toList();
    if (!known.containsAll(names)) {
      throw new IllegalArgumentException("not variables of the program: "
          + names.stream().filter(n -> !known.contains(n)).toList());
    }
    check(checkpoint, entries.stream().filter(e -> names.contains(e.name())).toList());
    Placeholder<TString> prefix = root.withDevice(hostCpu(host[0])).placeholder(TString.class);
    run(checkpoint, prefix, restoreOps(vars, prefix));
  }

  private void run(Checkpoint checkpoint, Placeholder<TString> prefixInput, List<Op> targets) {
    checkpoint.requireReadable();
    try (TString prefix = TString.scalarOf(checkpoint.prefixString())) {
      Session.Runner r = runtime.session().runner().feed(prefixInput, prefix);
      targets.forEach(r::addTarget);
      runtime.run(r, false).close();
    } catch (TensorFlowException e) {
      throw new NeomeshException("cannot restore checkpoint " + checkpoint.prefix() + " (step " + checkpoint.step()
          + "): " + Tf.errorReason(e.getMessage()) + ". The files " + checkpoint.indexFile().getFileName() + " / "
          + checkpoint.dataFiles().get(0).getFileName() + "... are corrupt or truncated, or do not match the "
          + "program: delete this checkpoint's files (" + checkpoint.prefix().getFileName() + ".*) to fall back "
          + "to the previous one, or start from scratch", e);
    }
  }

  private static void check(Checkpoint c, List<Manifest.Entry> wanted) {
    Manifest m = c.manifest();
    for (Manifest.Entry want : wanted) {
      Manifest.Entry have = m.entry(want.name());
      if (have == null) {
        throw new NeomeshException("variable \"" + want.name() + "\" " + want.shapeText() + " is not in checkpoint "
            + c.manifestFile() + " (it has " + m.variables().stream().map(Manifest.Entry::name).toList()
            + "). The checkpoint is from a different model: use the model config it was trained with, "
            + "or a fresh model_path to start from scratch");
      }
      if (!Arrays.equals(have.sizes(), want.sizes())) {
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

  // ------------------------------------------------------------------------------------ devices

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
}
