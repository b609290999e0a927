package dev.neomesh.mesh.ckpt;

import dev.neomesh.mesh.NeomeshException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.exceptions.TensorFlowException;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.train.MergeV2Checkpoints;
import org.tensorflow.op.train.Restore;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TString;

/**
 * Whole float32 tensors in and out of TensorFlow checkpoints on the host, one tensor at a time, for
 * moving weights between formats (HuggingFace, GPT-Neo's own checkpoints) without building the
 * model. Reading runs {@code RestoreV2} with the empty slice spec, so TensorFlow joins the slices
 * a mesh wrote; bfloat16 tensors are cast to float32. Writing saves each tensor with its own
 * {@code SaveV2} into a part bundle and joins the parts with {@code MergeV2Checkpoints}, so memory
 * holds one tensor at a time however large the model.
 */
public final class WholeTensors implements AutoCloseable {
  private final Graph graph = new Graph();
  private final Session session;
  private final Placeholder<TString> prefix;
  private final Placeholder<TString> name;
  private final Operand<TFloat32> readFloat;
  private final Operand<TFloat32> readBfloat;
  private final Placeholder<TFloat32> value;
  private final org.tensorflow.op.Op save;

  public WholeTensors() {
    Ops tf = Ops.create(graph);
    prefix = tf.withName("prefix").placeholder(TString.class);
    name = tf.withName("name").placeholder(TString.class);
    Operand<TString> names = tf.reshape(name, tf.constant(new long[] {1}));
    Operand<TString> whole = tf.array("");
    Restore f = tf.train.restore(prefix, names, whole, List.of(TFloat32.class));
    readFloat = f.tensors().get(0).expect(TFloat32.class);
    Restore b = tf.train.restore(prefix, names, whole, List.of(TBfloat16.class));
    readBfloat = tf.dtypes.cast(b.tensors().get(0).expect(TBfloat16.class), TFloat32.class);
    value = tf.withName("value").placeholder(TFloat32.class);
    save = tf.train.save(prefix, names, whole, List.of(value));
    session = new Session(graph);
  }

  /**
   * Tensor {@code tensorName} of the checkpoint at {@code checkpointPrefix} as float32 values in C
   * order; {@code bfloat16} says how it is stored (see {@link BundleIndex} for a listing).
   */
  public float[] read(String checkpointPrefix, String tensorName, boolean bfloat16) {
    try (TString p = TString.scalarOf(checkpointPrefix);
        TString n = TString.scalarOf(tensorName);
        Tensor t = session.runner().feed(prefix, p).feed(name, n).fetch(bfloat16 ? readBfloat : readFloat).run()
            .get(0)) {
      TFloat32 f = (TFloat32) t;
      long size = f.shape().size();
      if (size > Integer.MAX_VALUE - 8) {
        throw new NeomeshException("tensor " + tensorName + " of " + checkpointPrefix + " has " + size
            + " elements, more than a Java array holds");
      }
      float[] out = new float[(int) size];
      f.copyTo(DataBuffers.of(out, false, false));
      return out;
    } catch (TensorFlowException e) {
      throw new NeomeshException("cannot read tensor \"" + tensorName + "\" from checkpoint " + checkpointPrefix
          + ": " + dev.neomesh.mesh.lower.Tf.errorReason(e.getMessage()), e);
    }
  }

  /** Writes whole float32 tensors as one TensorFlow bundle at {@code prefix}; see {@link #beginWrite}. */
  public final class Bundle {
    private final Path target;
    private final Path parts;
    private final List<String> written = new ArrayList<>();

    private Bundle(Path target, Path parts) {
      this.target = target;
      this.parts = parts;
    }

    /** Adds one tensor (its own part bundle until {@link #finish}). */
    public void add(String tensorName, long[] shape, float[] values) {
      String part = parts.resolve("part-" + written.size()).toString();
      try (TString p = TString.scalarOf(part);
          TString n = TString.scalarOf(tensorName);
          TFloat32 v = TFloat32.tensorOf(org.tensorflow.ndarray.Shape.of(shape), DataBuffers.of(values, true, false))) {
        session.runner().feed(prefix, p).feed(name, n).feed(value, v).addTarget(save).run();
      } catch (TensorFlowException e) {
        throw new NeomeshException("cannot write tensor \"" + tensorName + "\" to " + parts + ": "
            + dev.neomesh.mesh.lower.Tf.errorReason(e.getMessage()) + ". Check the folder is writable and the disk has space", e);
      }
      written.add(part);
    }

    /**
     * Joins the parts into the bundle {@code target.index}; MergeV2Checkpoints renames each part's
     * data file into place rather than copying, so the bundle has one data file per tensor
     * ({@code target.data-0000i-of-0000n}, n returned).
     */
    public int finish() {
      try (Graph g = new Graph(); Session s = new Session(g)) {
        Ops tf = Ops.create(g);
        org.tensorflow.op.Op merge = tf.train.mergeV2Checkpoints(tf.array(written.toArray(String[]::new)),
            tf.constant(target.toString()), MergeV2Checkpoints.deleteOldDirs(true));
        s.runner().addTarget(merge).run();
      } catch (TensorFlowException e) {
        throw new NeomeshException("cannot join the tensors written under " + parts + " into " + target + ": "
            + dev.neomesh.mesh.lower.Tf.errorReason(e.getMessage()), e);
      }
      try {
        Files.deleteIfExists(parts);
      } catch (IOException e) {
        // MergeV2Checkpoints removed the parts; an empty folder left behind loses nothing
      }
      return written.size();
    }
  }

  /** Starts a bundle at {@code target} (a TensorFlow prefix), writing parts under {@code target + "_parts"}. */
  public Bundle beginWrite(Path target) {
    Path parts = target.resolveSibling(target.getFileName() + "_parts");
    try {
      Files.createDirectories(parts);
    } catch (IOException e) {
      throw new NeomeshException("cannot create " + parts + ": " + e + "; choose a writable folder", e);
    }
    return new Bundle(target, parts);
  }

  /** Where the values of {@link #writeCheckpoint} come from: one variable's whole value, asked for once. */
  @FunctionalInterface
  public interface Values {
    float[] of(Manifest.Entry variable);
  }

  /**
   * Writes float32 variables {@code variables} as neomesh checkpoint {@code step} in {@code dir}
   * (the {@link Checkpoints} protocol: temporary files, committed by the manifest), asking
   * {@code values} for one variable at a time. {@code source} is recorded as the manifest's mesh
   * (e.g. "imported from hf/model.safetensors"). Restoring it re-cuts every variable for any layout.
   */
  public Checkpoints.Checkpoint writeCheckpoint(Path dir, long step, List<Manifest.Entry> variables, Values values,
      String source) {
    Checkpoints.Pending pending = Checkpoints.begin(dir, step);
    int shards;
    try {
      Bundle bundle = beginWrite(pending.tmp());
      for (Manifest.Entry v : variables) {
        if (!v.dtype().equals("FLOAT32")) {
          throw new IllegalArgumentException(v.name() + " is " + v.dtype() + ": only float32 variables are written");
        }
        bundle.add(v.name(), v.sizes(), values.of(v));
      }
      shards = bundle.finish();
    } catch (RuntimeException e) {
      pending.abandon();
      throw e;
    }
    return pending.commit(new Manifest(step, shards, source, "", variables), 0);
  }

  @Override
  public void close() {
    session.close();
    graph.close();
  }
}
